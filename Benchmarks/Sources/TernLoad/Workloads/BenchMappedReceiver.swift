import Histogram
import TernClient
import TernWire

/// Tern subscribers that read the stream's ring in shared memory (protocol.md §4.19), all on one
/// thread as `BenchReceiver` reads all sockets on one: each pass drains every reader in turn
/// (at most `maxRunsPerVisit` runs, so one busy reader cannot starve the others), counting
/// messages and lapping losses. Frames are read in place, as a zero-copy reader would, and
/// counted only once validated (`SharedRingReader.validate`). With nothing new anywhere it spins `idleSpins` passes, then
/// sleeps on the first ring's futex until ternd's next wake-up; `spin` never sleeps.
final class BenchMappedReceiver: BenchSubscribers {
    private struct Subscriber {
        /// Kept open for the run: the subscription lives as long as its connection.
        let connection: DataConnection
        let reader: SharedRingReader
        let samples: Bool
        var lastSequence: UInt64 = 0
        var received: UInt64 = 0
        var hasEnded = false
    }

    static let maxRunsPerVisit = 16
    static let idleSpins = 64

    private var subscribers: [Subscriber] = []
    private let spin: Bool
    private var spinsLeft = idleSpins

    private(set) var delivered: UInt64 = 0
    private(set) var deliveredPayloadBytes: UInt64 = 0
    private(set) var droppedReported: UInt64 = 0
    private(set) var sampledGaps: UInt64 = 0
    private(set) var lastDeliveryNanoseconds: UInt64 = 0
    private(set) var bytesRead: UInt64 = 0
    private(set) var notices: [String] = []
    private(set) var latency = Histogram<UInt64>(
        lowestDiscernibleValue: 1,
        highestTrackableValue: 3_600_000_000_000,
        numberOfSignificantValueDigits: .three
    )
    private var endedSubscribers = 0
    private var streams: Set<UInt32> = []
    private var samplesOfRun: [(sentNanoseconds: UInt64, sequence: UInt64)] = []

    init(spin: Bool) { self.spin = spin }

    func add(connection: DataConnection, reader: SharedRingReader, samples: Bool) {
        subscribers.append(Subscriber(connection: connection, reader: reader, samples: samples))
        streams.insert(reader.streamID)
    }

    var allFinished: Bool { !subscribers.isEmpty && endedSubscribers >= subscribers.count }

    var slowestReceived: UInt64 {
        var slowest = UInt64.max
        for subscriber in subscribers where !subscriber.hasEnded { slowest = min(slowest, subscriber.received) }
        return slowest == .max ? 0 : slowest
    }

    func pollOnce(timeoutMilliseconds: Int32) {
        guard let first = subscribers.first?.reader else { return }
        let notify = first.notifyValue
        var found = false
        for index in subscribers.indices where !subscribers[index].hasEnded {
            found = visit(index) || found
        }
        if found || spin {
            spinsLeft = Self.idleSpins
            return
        }
        if spinsLeft > 0 {
            spinsLeft -= 1
            return
        }
        spinsLeft = Self.idleSpins
        // One futex for all: exact for one stream; with several, a ring other than the first
        // is looked at again within a millisecond.
        let longest = streams.count == 1 ? Int64(timeoutMilliseconds) : 1
        first.wait(whileNotify: notify, timeout: .milliseconds(min(Int64(timeoutMilliseconds), longest)))
    }

    /// Drains one reader (up to `maxRunsPerVisit` runs); true if it had anything. Runs are read
    /// in place (no copy), counted from their first and last sequence (a run's frames are
    /// consecutive), and kept only once the reader has validated them.
    private func visit(_ index: Int) -> Bool {
        let reader = subscribers[index].reader
        let samples = subscribers[index].samples
        let now = samples ? BenchClock.now() : 0
        var runs = 0
        var lastSequence = subscribers[index].lastSequence
        while runs < Self.maxRunsPerVisit, let run = reader.nextRunInPlace() {
            runs += 1
            if samples { sampleLatencies(run.frames, now: now) }
            guard case .intact(let lost) = reader.validate(run) else {
                samplesOfRun.removeAll(keepingCapacity: true)
                continue
            }
            let count = run.lastSequence &- run.firstSequence &+ 1
            delivered &+= count
            deliveredPayloadBytes &+= UInt64(run.frames.count) &- count &* UInt64(MessageFrame.prefixSize)
            bytesRead &+= UInt64(run.frames.count)
            droppedReported &+= lost
            subscribers[index].received &+= count &+ lost
            for (sent, sequence) in samplesOfRun {
                if now > sent { _ = latency.record(now - sent) }
                if sequence > lastSequence &+ 1 && lastSequence != 0 { sampledGaps &+= sequence - lastSequence - 1 }
                if sequence > lastSequence { lastSequence = sequence }
            }
            samplesOfRun.removeAll(keepingCapacity: true)
        }
        subscribers[index].lastSequence = lastSequence
        if runs > 0 {
            lastDeliveryNanoseconds = samples ? now : BenchClock.now()
        } else if reader.endReason != nil {
            subscribers[index].hasEnded = true
            endedSubscribers += 1
            if endedSubscribers == 1 { notices.append("stream ended") }
        }
        return runs > 0
    }

    /// The send time and publisher's sequence of every frame of a run (kept only if it was intact).
    private func sampleLatencies(_ frames: UnsafeRawBufferPointer, now: UInt64) {
        var offset = 0
        while frames.count - offset >= MessageFrame.prefixSize {
            let size = FrameWalker.firstFrameSize(UnsafeRawBufferPointer(rebasing: frames[offset...]))
            guard size <= frames.count - offset else { return }
            let payload = UnsafeRawBufferPointer(rebasing: frames[(offset + MessageFrame.prefixSize)..<(offset + size)])
            if payload.count >= BenchPayload.headSize, let head = BenchPayload.read(head: payload) {
                samplesOfRun.append(head)
            }
            offset += size
        }
    }

    func closeAll() {
        for subscriber in subscribers { subscriber.connection.close() }
    }
}
