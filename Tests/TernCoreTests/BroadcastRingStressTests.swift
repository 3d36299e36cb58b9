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
    static let ringCapacity = 16 * 1024
    static let maxPayload = 1000
    static var maxFrame: Int { MessageFrame.size(payloadCount: maxPayload) }
    /// The writers stop at this many messages or after this long, whichever comes first.
    static let messageCount: UInt64 = 200_000
    static let writerMilliseconds: Int64 = 20_000
    /// Readers give up (and fail) this long after the writers stop.
    static let drainMilliseconds: Int64 = 20_000

    struct ReaderPlan: Sendable {
        var name: String
        var destinationSize: Int
        /// Sleeps after every read while the writers run, so it falls a ring behind.
        var slow: Bool
    }

    static let readerPlans: [ReaderPlan] = [
        .init(name: "large destination", destinationSize: 64 * 1024, slow: false),
        .init(name: "medium destination", destinationSize: 4096, slow: false),
        .init(name: "one-frame destination", destinationSize: maxFrame, slow: false),
        .init(name: "slow", destinationSize: 2048, slow: true),
    ]

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

    /// State the writer and readers share.
    final class Shared: Sendable {
        let ring = BroadcastRing(capacity: BroadcastRingStressTests.ringCapacity)
        let readersReady = Atomic<Int>(0)
        let writersDone = Atomic<Int>(0)
        /// Next sequence to append; writers take it and append under this lock, as `BrokerStream` does.
        let nextSequence = Mutex<UInt64>(1)
        let writerDeadline: Int64
        let readerDeadline: Int64

        init() {
            writerDeadline = monotonicMilliseconds() + BroadcastRingStressTests.writerMilliseconds
            readerDeadline = writerDeadline + BroadcastRingStressTests.drainMilliseconds
        }
    }

    /// A reader thread's loop: read, check every frame, repeat until the writers are done and
    /// the ring is drained.
    static func runReader(_ shared: Shared, writers: Int, report: ReaderReport) {
        let ring = shared.ring
        let destination = UnsafeMutableRawBufferPointer.allocate(byteCount: report.plan.destinationSize, alignment: 8)
        defer { destination.deallocate() }
        var cursor: UInt64 = 0
        var lappedSinceLastFrame = false
        _ = shared.readersReady.add(1, ordering: .releasing)
        while true {
            if monotonicMilliseconds() > shared.readerDeadline {
                report.fail("timed out at sequence \(report.lastSequence)")
                return
            }
            let done = shared.writersDone.load(ordering: .acquiring) == writers
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
                    check(frame, report: report, lappedSinceLastFrame: &lappedSinceLastFrame)
                }
            } catch {
                report.fail("bytes of read \(report.reads) are not whole frames: \(error)")
                return
            }
            if report.plan.slow && !done { usleep(5_000) }
        }
    }

    static func check(_ frame: RingFrame, report: ReaderReport, lappedSinceLastFrame: inout Bool) {
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
    static func runWriter(_ shared: Shared, readers: Int) {
        let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: maxPayload, alignment: 8)
        defer { scratch.deallocate() }
        while shared.readersReady.load(ordering: .acquiring) < readers { sched_yield() }
        var appended = 0
        while true {
            if appended & 255 == 0 && monotonicMilliseconds() > shared.writerDeadline { break }
            let more = shared.nextSequence.withLock { next -> Bool in
                guard next <= messageCount else { return false }
                appendDeterministic(shared.ring, streamID: streamID, sequence: next, maxPayload: maxPayload, scratch: scratch)
                next += 1
                return true
            }
            guard more else { break }
            appended += 1
        }
        _ = shared.writersDone.add(1, ordering: .releasing)
    }

    /// Runs `writers` writer threads and the reader plans to completion; returns the reports and
    /// how many messages were appended.
    static func run(writers: Int) -> (reports: [ReaderReport], written: UInt64) {
        let shared = Shared()
        let reports = readerPlans.map(ReaderReport.init)
        var threads: [JoinableThread] = []
        for report in reports {
            threads.append(JoinableThread { runReader(shared, writers: writers, report: report) })
        }
        for _ in 0..<writers {
            threads.append(JoinableThread { runWriter(shared, readers: reports.count) })
        }
        for thread in threads { thread.join() }
        let written = shared.nextSequence.withLock { $0 } - 1
        return (reports, written)
    }

    static func expectSound(_ reports: [ReaderReport], written: UInt64) {
        // Enough traffic to lap a 16 KiB ring many times over.
        #expect(written >= 20_000, "only \(written) messages were written")
        for report in reports {
            let name = report.plan.name
            #expect(report.failures.isEmpty, "\(name): \(report.failures)")
            // Every reader drains to the very last message, whatever it lost on the way.
            #expect(report.lastSequence == written, "\(name) ended at \(report.lastSequence) of \(written)")
            #expect(report.frames > 0)
            // Frames seen plus frames lost account for every message.
            #expect(UInt64(report.frames) + report.lost == written, "\(name): \(report.frames) + \(report.lost)")
            if report.plan.slow {
                #expect(report.lappedReads > 0, "the slow reader was never lapped")
                #expect(report.lost > 0)
            }
        }
    }

    @Test("one writer, four readers: never torn, never reordered, gaps only when lapped", .timeLimit(.minutes(2)))
    func oneWriter() {
        let (reports, written) = Self.run(writers: 1)
        Self.expectSound(reports, written: written)
    }

    @Test("three writers serialised by a lock, four readers", .timeLimit(.minutes(2)))
    func serialisedWriters() {
        let (reports, written) = Self.run(writers: 3)
        Self.expectSound(reports, written: written)
    }
}
