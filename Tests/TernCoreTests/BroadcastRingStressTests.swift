import Synchronization
import TernCore
import TernWire
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `BroadcastRing` hammered by real threads: one or several (serialised) writers and readers of
/// different speeds and destination sizes. Every frame a reader gets must be whole and carry the
/// payload of its sequence (never torn), sequences must strictly increase, and a sequence may
/// only jump after `read` reported lapping. A deliberately slow reader must get lapped.
///
/// Bounded by message count and by time; run under the Thread Sanitizer too
/// (`swift test --sanitize=thread --filter TernCoreTests`).
@Suite("BroadcastRing under concurrency", .serialized)
struct BroadcastRingStressTests {
    static let streamID: UInt32 = 0xC0FFEE
    /// The writers stop after this long even if they have not written every message.
    static let writerMilliseconds: Int64 = 20_000
    /// Readers give up (and fail) this long after the writers stop.
    static let drainMilliseconds: Int64 = 20_000

    struct ReaderPlan: Sendable {
        var name: String
        var destinationSize: Int
        /// Sleeps after every read while the writers run, so it falls a ring behind.
        var slow: Bool = false
        /// Before each read, waits until it is this close to a whole ring behind, so that the
        /// writer's next frame overwrites the start of the run it copies: the seqlock check
        /// must catch that every time.
        var huntTearsWithin: Int? = nil
    }

    struct Configuration: Sendable {
        var ringCapacity: Int
        var maxPayload: Int
        var messageCount: UInt64
        var writers: Int
        /// Writers yield the processor after this many appends (0: never).
        var writerYieldEvery: Int
        var readers: [ReaderPlan]
        /// Frames per `appendMessages` call at most (the data port's publish runs); 1: `appendMessage`.
        var maxRun: Int = 1

        var maxFrame: Int { MessageFrame.size(payloadCount: maxPayload) }
    }

    /// What one reader saw. Written only by its own thread; read after `join`.
    final class ReaderReport: @unchecked Sendable {
        let plan: ReaderPlan
        var reads = 0
        var frames = 0
        var lappedReads = 0
        var lost: UInt64 = 0
        var lastSequence: UInt64 = 0
        var failures: [String] = []

        init(plan: ReaderPlan) { self.plan = plan }

        func fail(_ text: String) {
            if failures.count < 10 { failures.append(text) }
        }
    }

    /// State the writers and readers share.
    final class Shared: Sendable {
        let configuration: Configuration
        let ring: BroadcastRing
        let readersReady = Atomic<Int>(0)
        let writersDone = Atomic<Int>(0)
        /// Next sequence to append; writers take it and append under this lock, as `BrokerStream`
        /// does under its own (see `PthreadLocked` for why this is not a `Mutex`).
        let nextSequence = PthreadLocked<UInt64>(1)
        let writerDeadline: Int64
        let readerDeadline: Int64

        init(_ configuration: Configuration) {
            self.configuration = configuration
            ring = BroadcastRing(capacity: configuration.ringCapacity)
            writerDeadline = monotonicMilliseconds() + BroadcastRingStressTests.writerMilliseconds
            readerDeadline = writerDeadline + BroadcastRingStressTests.drainMilliseconds
        }
    }

    /// A reader thread's loop: read, check every frame, repeat until the writers are done and
    /// the ring is drained.
    static func runReader(_ shared: Shared, report: ReaderReport) {
        let ring = shared.ring
        let writers = shared.configuration.writers
        let maxPayload = shared.configuration.maxPayload
        let destination = UnsafeMutableRawBufferPointer.allocate(byteCount: report.plan.destinationSize, alignment: 8)
        defer { destination.deallocate() }
        // Sequences start at 1 at position 0, so every message is either seen or counted lost.
        var cursor: UInt64 = 0
        var lappedSinceLastFrame = false
        shared.readersReady.add(1, ordering: .releasing)
        while true {
            if monotonicMilliseconds() > shared.readerDeadline {
                report.fail("timed out at sequence \(report.lastSequence)")
                return
            }
            var done = shared.writersDone.load(ordering: .acquiring) == writers
            if let within = report.plan.huntTearsWithin {
                let lag = UInt64(ring.capacity - within)
                while !done && ring.tailPosition &- cursor < lag {
                    sched_yield()
                    done = shared.writersDone.load(ordering: .acquiring) == writers
                }
            }
            let result = ring.read(from: cursor, into: destination)
            report.reads += 1
            if result.lapped {
                report.lappedReads += 1
                lappedSinceLastFrame = true
            }
            cursor = result.cursor
            if result.bytes == 0 {
                if done && cursor == ring.tailPosition { return }
                sched_yield()
                continue
            }
            do {
                try parseRingBytes(UnsafeRawBufferPointer(rebasing: destination[..<result.bytes])) { frame in
                    check(frame, maxPayload: maxPayload, report: report, lappedSinceLastFrame: &lappedSinceLastFrame)
                }
            } catch {
                report.fail("bytes of read \(report.reads) are not whole frames: \(error)")
                return
            }
            if report.plan.slow && !done { usleep(5_000) }
        }
    }

    static func check(_ frame: RingFrame, maxPayload: Int, report: ReaderReport, lappedSinceLastFrame: inout Bool) {
        if frame.streamID != streamID { report.fail("stream id \(frame.streamID) at sequence \(frame.sequence)") }
        if !hasDeterministicPayload(frame, maxPayload: maxPayload) {
            report.fail("torn payload at sequence \(frame.sequence) (\(frame.payload.count) bytes)")
        }
        let last = report.lastSequence
        if frame.sequence <= last {
            report.fail("sequence \(frame.sequence) after \(last)")
        } else if frame.sequence != last + 1 {
            if lappedSinceLastFrame {
                report.lost += frame.sequence - last - 1
            } else {
                report.fail("gap \(last) → \(frame.sequence) without lapping")
            }
        }
        report.lastSequence = frame.sequence
        report.frames += 1
        lappedSinceLastFrame = false
    }

    /// One writer's loop: take the next sequence and append it under the lock until the count or
    /// the time runs out.
    static func runWriter(_ shared: Shared) {
        let configuration = shared.configuration
        let scratch = UnsafeMutableRawBufferPointer.allocate(
            byteCount: configuration.maxPayload * configuration.maxRun,
            alignment: 8
        )
        // Smaller than a long run of large frames, so staged pieces end early too.
        let staging = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 16)
        defer {
            scratch.deallocate()
            staging.deallocate()
        }
        var payloads: [UnsafeRawBufferPointer] = []
        while shared.readersReady.load(ordering: .acquiring) < configuration.readers.count { sched_yield() }
        var appended = 0
        while true {
            if appended & 255 == 0 && monotonicMilliseconds() > shared.writerDeadline { break }
            let more = shared.nextSequence.withLock { next -> Bool in
                guard next <= configuration.messageCount else { return false }
                if configuration.maxRun == 1 {
                    appendDeterministic(
                        shared.ring,
                        streamID: streamID,
                        sequence: next,
                        maxPayload: configuration.maxPayload,
                        scratch: scratch
                    )
                    next += 1
                    return true
                }
                // A run of 1...maxRun frames, its length varying so pieces end everywhere.
                let run = min(Int(next % UInt64(configuration.maxRun)) + 1, Int(configuration.messageCount - next + 1))
                payloads.removeAll(keepingCapacity: true)
                var offset = 0
                for sequence in next..<next + UInt64(run) {
                    let count = payloadLength(sequence: sequence, max: configuration.maxPayload)
                    for index in 0..<count { scratch[offset + index] = payloadByte(sequence: sequence, index: index) }
                    payloads.append(UnsafeRawBufferPointer(rebasing: scratch[offset..<offset + count]))
                    offset += count
                }
                payloads.withUnsafeBufferPointer {
                    shared.ring.appendMessages(
                        streamID: streamID,
                        firstSequence: next,
                        payloads: $0,
                        staging: next % 3 == 0 ? nil : staging
                    )
                }
                next += UInt64(run)
                return true
            }
            guard more else { break }
            appended += 1
            if configuration.writerYieldEvery > 0 && appended % configuration.writerYieldEvery == 0 { sched_yield() }
        }
        shared.writersDone.add(1, ordering: .releasing)
    }

    /// Runs the configuration's writer and reader threads to completion; returns the reports and
    /// how many messages were appended.
    static func run(_ configuration: Configuration) -> (reports: [ReaderReport], written: UInt64) {
        let shared = Shared(configuration)
        let reports = configuration.readers.map(ReaderReport.init)
        var threads: [JoinableThread] = []
        for report in reports {
            threads.append(JoinableThread { runReader(shared, report: report) })
        }
        for _ in 0..<configuration.writers {
            threads.append(JoinableThread { runWriter(shared) })
        }
        for thread in threads { thread.join() }
        let written = shared.nextSequence.withLock { $0 } - 1
        return (reports, written)
    }

    static func expectSound(_ reports: [ReaderReport], written: UInt64, minimumWritten: UInt64) {
        #expect(written >= minimumWritten, "only \(written) messages were written")
        for report in reports {
            let name = report.plan.name
            #expect(report.failures.isEmpty, "\(name): \(report.failures)")
            // Every reader drains to the very last message, whatever it lost on the way.
            #expect(report.lastSequence == written, "\(name) ended at \(report.lastSequence) of \(written)")
            // Frames seen plus frames lost account for every message.
            #expect(UInt64(report.frames) + report.lost == written, "\(name): \(report.frames) + \(report.lost)")
            if report.plan.slow {
                #expect(report.lappedReads > 0, "the slow reader was never lapped")
                #expect(report.lost > 0)
            }
        }
    }

    /// A 16 KiB ring with frames up to 1 KiB; readers of every destination size, one slow.
    static func mixedReaders(writers: Int) -> Configuration {
        Configuration(
            ringCapacity: 16 * 1024,
            maxPayload: 1000,
            messageCount: 200_000,
            writers: writers,
            writerYieldEvery: 32,
            readers: [
                .init(name: "large destination", destinationSize: 64 * 1024),
                .init(name: "medium destination", destinationSize: 4096),
                .init(name: "one-frame destination", destinationSize: MessageFrame.size(payloadCount: 1000)),
                .init(name: "slow", destinationSize: 2048, slow: true),
                .init(name: "tear hunter", destinationSize: 64 * 1024, huntTearsWithin: 256),
            ]
        )
    }

    @Test("one writer, five readers: never torn, never reordered, gaps only when lapped", .timeLimit(.minutes(2)))
    func oneWriter() {
        let (reports, written) = Self.run(Self.mixedReaders(writers: 1))
        Self.expectSound(reports, written: written, minimumWritten: 20_000)
    }

    @Test("three writers serialised by a lock, five readers", .timeLimit(.minutes(2)))
    func serialisedWriters() {
        let (reports, written) = Self.run(Self.mixedReaders(writers: 3))
        Self.expectSound(reports, written: written, minimumWritten: 20_000)
    }

    @Test("runs of up to 40 frames from two writers, five readers", .timeLimit(.minutes(2)))
    func runs() {
        var configuration = Self.mixedReaders(writers: 2)
        configuration.maxRun = 40
        let (reports, written) = Self.run(configuration)
        Self.expectSound(reports, written: written, minimumWritten: 20_000)
    }

    /// A ring only a few frames long, so readers copy while the writer is overwriting the region
    /// they copy from. This is where a missing or wrong lapping check shows up as torn frames.
    /// With runs (`maxRun` 8), pieces of up to half the ring are announced and written at once.
    @Test(
        "a tiny ring: readers copying what the writer overwrites never return torn frames",
        .timeLimit(.minutes(2)),
        arguments: [1, 8]
    )
    func tinyRing(maxRun: Int) {
        var configuration = Configuration(
            ringCapacity: 512,
            maxPayload: 200,
            messageCount: 300_000,
            writers: 1,
            writerYieldEvery: 0,
            readers: [
                .init(name: "tear hunter", destinationSize: 512, huntTearsWithin: 32),
                .init(name: "one-frame destination", destinationSize: MessageFrame.size(payloadCount: 200)),
            ]
        )
        configuration.maxRun = maxRun
        let (reports, written) = Self.run(configuration)
        Self.expectSound(reports, written: written, minimumWritten: 20_000)
        // Readers really were overtaken mid-stream.
        #expect(reports.contains { $0.lappedReads > 0 })
    }
}
