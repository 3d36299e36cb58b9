import TernClient
import TernWire

/// Tern subscribers that read the stream's ring in shared memory (protocol.md §4.19), all on one
/// thread as `BenchReceiver` reads all sockets on one: each pass visits every reader in turn,
/// counting messages and lapping losses. A visit reads up to `visitBytes` of a ring (and at most
/// one frame more), so one busy reader cannot starve the others. Frames are read in place, as a
/// zero-copy reader would, and counted only once validated (`SharedRingReader.validate`). With
/// nothing new anywhere it spins `idleSpins` passes, then sleeps on the first ring's futex until
/// ternd's next wake-up; `spin` never sleeps. A pass modifies the subscribers and counts in
/// place through `inout` (`readAll`), so the class's properties are checked for exclusive access
/// once a pass, not once a run of messages.
final class BenchMappedReceiver: BenchCountingSubscribers {
    private struct Subscriber {
        /// Kept open for the run: the subscription lives as long as its connection.
        let connection: DataConnection
        let reader: SharedRingReader
        let samples: Bool
        var lastSequence: UInt64 = 0
        var received: UInt64 = 0
        var hasEnded = false
    }

    /// What every pass adds to.
    private struct Tally {
        var counts = BenchDeliveryCounts()
        var bytesRead: UInt64 = 0
        var endedSubscribers = 0
        /// Scratch: the samples of the run being read, kept only if it proves intact.
        var samplesOfRun: [(sentNanoseconds: UInt64, sequence: UInt64)] = []
    }

    /// As the copying reader's batch. Visits of 16 KiB cost 1 KiB and 4 KiB readers half their
    /// throughput or more: a visit's fixed costs were spread over only 4 to 16 frames.
    static let visitBytes = 256 * 1024
    static let idleSpins = 64

    private var subscribers: [Subscriber] = []
    private var tally = Tally()
    private let spin: Bool
    private var spinsLeft = idleSpins
    private var streams: Set<UInt32> = []

    var counts: BenchDeliveryCounts { tally.counts }
    var bytesRead: UInt64 { tally.bytesRead }
    var notices: [String] { tally.endedSubscribers > 0 ? ["stream ended"] : [] }

    init(spin: Bool) { self.spin = spin }

    func add(connection: DataConnection, reader: SharedRingReader, samples: Bool) {
        subscribers.append(Subscriber(connection: connection, reader: reader, samples: samples))
        streams.insert(reader.streamID)
    }

    var allFinished: Bool { !subscribers.isEmpty && tally.endedSubscribers >= subscribers.count }

    var slowestReceived: UInt64 {
        var slowest = UInt64.max
        for subscriber in subscribers where !subscriber.hasEnded { slowest = min(slowest, subscriber.received) }
        return slowest == .max ? 0 : slowest
    }

    func pollOnce(timeoutMilliseconds: Int32) {
        guard let first = subscribers.first?.reader else { return }
        let notify = first.notifyValue
        let found = Self.readAll(&subscribers, into: &tally)
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

    /// One pass over every live reader; true if any had anything.
    private static func readAll(_ subscribers: inout [Subscriber], into tally: inout Tally) -> Bool {
        var found = false
        for index in subscribers.indices where !subscribers[index].hasEnded {
            found = visit(&subscribers[index], into: &tally) || found
        }
        return found
    }

    /// Reads up to `visitBytes` of one reader's ring; true if it had anything. Runs are read in
    /// place (no copy), counted from their first and last sequence (a run's frames are
    /// consecutive), and kept only once the reader has validated them.
    private static func visit(_ subscriber: inout Subscriber, into tally: inout Tally) -> Bool {
        let reader = subscriber.reader
        var now: UInt64 = 0
        var runs = 0
        var bytes = 0
        while bytes < visitBytes, let run = reader.nextRunInPlace(maxBytes: visitBytes - bytes) {
            runs += 1
            bytes += run.frames.count
            if subscriber.samples {
                // The time the run was found: a message stamped after the visit began still has
                // a latency to record.
                now = BenchClock.now()
                sampleLatencies(run.frames, into: &tally.samplesOfRun)
            }
            guard case .intact(let lost) = reader.validate(run) else {
                tally.samplesOfRun.removeAll(keepingCapacity: true)
                continue
            }
            let count = run.lastSequence &- run.firstSequence &+ 1
            tally.counts.delivered &+= count
            tally.counts.payloadBytes &+= UInt64(run.frames.count) &- count &* UInt64(MessageFrame.prefixSize)
            tally.bytesRead &+= UInt64(run.frames.count)
            tally.counts.dropped &+= lost
            subscriber.received &+= count &+ lost
            if subscriber.samples { keepSamples(now: now, of: &subscriber, into: &tally) }
        }
        if runs > 0 {
            tally.counts.lastDelivery = subscriber.samples ? now : BenchClock.now()
        } else if reader.endReason != nil {
            subscriber.hasEnded = true
            tally.endedSubscribers += 1
        }
        return runs > 0
    }

    /// Records the latencies and sequence gaps of an intact run's samples.
    private static func keepSamples(now: UInt64, of subscriber: inout Subscriber, into tally: inout Tally) {
        for (sent, sequence) in tally.samplesOfRun {
            tally.counts.sample(sent: sent, sequence: sequence, now: now, lastSequence: &subscriber.lastSequence)
        }
        tally.samplesOfRun.removeAll(keepingCapacity: true)
    }

    /// The send time and publisher's sequence of every frame of a run (kept only if it was intact).
    private static func sampleLatencies(
        _ frames: UnsafeRawBufferPointer,
        into samples: inout [(sentNanoseconds: UInt64, sequence: UInt64)]
    ) {
        var offset = 0
        while frames.count - offset >= MessageFrame.prefixSize {
            let size = FrameWalker.firstFrameSize(UnsafeRawBufferPointer(rebasing: frames[offset...]))
            guard size <= frames.count - offset else { return }
            let payload = UnsafeRawBufferPointer(rebasing: frames[(offset + MessageFrame.prefixSize)..<(offset + size)])
            if payload.count >= BenchPayload.headSize, let head = BenchPayload.read(head: payload) {
                samples.append(head)
            }
            offset += size
        }
    }

    func closeAll() {
        for subscriber in subscribers { subscriber.connection.close() }
    }
}
