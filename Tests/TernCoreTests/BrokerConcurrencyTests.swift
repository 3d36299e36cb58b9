import Synchronization
import TernCore
import TernWire
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Several threads publish to one stream through `Broker.publish` (so `BrokerStream`'s own lock
/// serialises the ring's writers) while reader threads follow the ring. Each message's payload
/// names its writer and the writer's counter, and each writer records the sequence the broker
/// returned, so readers' frames can be matched to exactly one publish.
@Suite("Broker publishing from many threads", .serialized)
struct BrokerConcurrencyTests {
    static let writerCount = 3
    static let messagesPerWriter = 20_000
    static let timeLimitMilliseconds: Int64 = 20_000

    /// `{"w":W,"n":N,"p":"…"}` with a pad whose length and letters depend on W and N.
    static func payload(writer: Int, counter: Int) -> [UInt8] {
        let padCount = (writer * 7919 + counter * 31) % 300
        let pad = (0..<padCount).map { UInt8(ascii: "a") + UInt8((counter + $0) % 26) }
        return Array(#"{"w":\#(writer),"n":\#(counter),"p":""#.utf8) + pad + Array(#""}"#.utf8)
    }

    /// Reads W and N back from a payload made by `payload(writer:counter:)`.
    static func identify(_ bytes: UnsafeRawBufferPointer) -> (writer: Int, counter: Int)? {
        let text = Array(bytes)
        let head = Array(#"{"w":"#.utf8)
        guard text.count > head.count + 1, Array(text[..<head.count]) == head else { return nil }
        let writer = Int(text[head.count]) - Int(UInt8(ascii: "0"))
        var index = head.count + 1 + #","n":"#.utf8.count
        var counter = 0
        while index < text.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(text[index]) {
            counter = counter * 10 + Int(text[index] - UInt8(ascii: "0"))
            index += 1
        }
        return (writer, counter)
    }

    final class WriterReport: @unchecked Sendable {
        /// The sequence `publish` returned for each counter value.
        var sequences: [UInt64] = []
        var failures: [String] = []
    }

    final class ReaderReport: @unchecked Sendable {
        /// (sequence, writer, counter) of every frame seen, in order.
        var seen: [(UInt64, Int, Int)] = []
        var lappedReads = 0
        var failures: [String] = []

        func fail(_ text: String) {
            if failures.count < 10 { failures.append(text) }
        }
    }

    @Test("frames match publishes one to one; per-writer order holds; nothing torn", .timeLimit(.minutes(2)))
    func manyPublishers() throws {
        let broker = try Broker(
            limits: BrokerLimits(),
            accountSid: Sid.generate(.account),
            defaultServiceSid: Sid.generate(.service)
        )
        let stream = try broker.createStream(serviceSid: broker.defaultServiceSid, uniqueName: "hammered", ttl: nil)
        let starts = [
            stream.addReader(group: 0, ringCapacity: 16 * 1024), stream.addReader(group: 1, ringCapacity: 16 * 1024),
        ]
        #expect(starts[0].ring === starts[1].ring)
        let deadline = monotonicMilliseconds() + Self.timeLimitMilliseconds
        let writersDone = Atomic<Int>(0)
        let writerReports = (0..<Self.writerCount).map { _ in WriterReport() }
        let readerReports = starts.map { _ in ReaderReport() }

        var threads: [JoinableThread] = []
        for (start, report) in zip(starts, readerReports) {
            let ring = start.ring
            let cursor = start.cursor
            threads.append(
                JoinableThread {
                    Self.follow(
                        ring,
                        from: cursor,
                        until: { writersDone.load(ordering: .acquiring) == Self.writerCount },
                        deadline: deadline + 20_000,
                        report: report
                    )
                }
            )
        }
        for (writer, report) in writerReports.enumerated() {
            threads.append(
                JoinableThread {
                    for counter in 0..<Self.messagesPerWriter {
                        if counter & 255 == 0 && monotonicMilliseconds() > deadline { break }
                        do {
                            let sequence = try broker.publish(
                                to: stream,
                                payload: Self.payload(writer: writer, counter: counter).span.bytes
                            )
                            report.sequences.append(sequence)
                        } catch {
                            report.failures.append("publish failed: \(error)")
                            break
                        }
                    }
                    writersDone.add(1, ordering: .releasing)
                }
            )
        }
        for thread in threads { thread.join() }
        stream.removeReader(group: 0)
        stream.removeReader(group: 1)

        // Each sequence was handed out exactly once, with no holes.
        var publishedBy: [UInt64: (writer: Int, counter: Int)] = [:]
        for (writer, report) in writerReports.enumerated() {
            #expect(report.failures.isEmpty, "\(report.failures)")
            #expect(report.sequences == report.sequences.sorted(), "writer \(writer)'s sequences go backwards")
            for (counter, sequence) in report.sequences.enumerated() { publishedBy[sequence] = (writer, counter) }
        }
        let total = writerReports.reduce(0) { $0 + $1.sequences.count }
        #expect(total >= 3_000, "only \(total) messages were published")
        #expect(publishedBy.count == total)
        #expect(Set(publishedBy.keys) == Set(1...UInt64(total)))
        #expect(stream.nextSequence == UInt64(total) + 1)

        for (index, report) in readerReports.enumerated() {
            #expect(report.failures.isEmpty, "reader \(index): \(report.failures)")
            #expect(report.seen.last?.0 == UInt64(total), "reader \(index) did not reach the last message")
            var lastCounter = [Int](repeating: -1, count: Self.writerCount)
            var mismatches = 0
            for (sequence, writer, counter) in report.seen {
                guard let published = publishedBy[sequence], published == (writer, counter) else {
                    mismatches += 1
                    continue
                }
                if counter <= lastCounter[writer] { mismatches += 1 }
                lastCounter[writer] = counter
            }
            #expect(mismatches == 0, "reader \(index): \(mismatches) frames do not match their publish")
        }
    }

    /// Records, when told a stream ended, the sequence its next message would have had.
    final class EndWatcher: StreamReaderGroup, @unchecked Sendable {
        func keyRevoked(_ keySid: String) {}
        let nextSequenceAtEnd = Atomic<UInt64>(0)
        func streamHasNewFrames(_ stream: BrokerStream) {}
        func streamEnded(_ stream: BrokerStream) {
            nextSequenceAtEnd.store(stream.nextSequence, ordering: .releasing)
        }
    }

    /// protocol.md §4.6: a publish racing the end is either accepted before the end is announced
    /// (so readers drain it before STREAM_ENDED) or refused; never given a sequence afterwards.
    @Test("a publish racing the end is sequenced before the end is announced, or refused", .timeLimit(.minutes(2)))
    func publishRacingTheEnd() throws {
        let broker = try Broker(
            limits: BrokerLimits(),
            accountSid: Sid.generate(.account),
            defaultServiceSid: Sid.generate(.service)
        )
        let watcher = EndWatcher()
        broker.installReaderGroups([watcher])
        for round in 0..<300 {
            let stream = try broker.createStream(serviceSid: broker.defaultServiceSid, uniqueName: nil, ttl: nil)
            #expect(stream.addMember(group: 0))
            let lastAccepted = Atomic<UInt64>(0)
            let started = Atomic<Bool>(false)
            let writer = JoinableThread {
                let payload: [UInt8] = Array("{}".utf8)
                while true {
                    started.store(true, ordering: .releasing)
                    do {
                        let sequence = try broker.publish(to: stream, payload: payload.span.bytes, wake: false)
                        lastAccepted.store(sequence, ordering: .releasing)
                    } catch {
                        return
                    }
                }
            }
            while !started.load(ordering: .acquiring) {}
            usleep(UInt32(round % 50))
            try broker.deleteStream(stream)
            writer.join()
            let atEnd = watcher.nextSequenceAtEnd.load(ordering: .acquiring)
            #expect(
                lastAccepted.load(ordering: .acquiring) < atEnd,
                "round \(round): a message was sequenced after the end"
            )
            #expect(stream.nextSequence == atEnd, "round \(round)")
        }
    }

    /// Follows the ring until `finished()` and drained, checking each frame's payload and order.
    static func follow(
        _ ring: BroadcastRing,
        from start: UInt64,
        until finished: () -> Bool,
        deadline: Int64,
        report: ReaderReport
    ) {
        let destination = UnsafeMutableRawBufferPointer.allocate(byteCount: 8192, alignment: 8)
        defer { destination.deallocate() }
        var cursor = start
        var lastSequence: UInt64 = 0
        var lappedSinceLastFrame = false
        while monotonicMilliseconds() < deadline {
            let done = finished()
            let result = ring.read(from: cursor, into: destination)
            cursor = result.cursor
            if result.lapped {
                report.lappedReads += 1
                lappedSinceLastFrame = true
            }
            if result.bytes == 0 {
                if done && cursor == ring.tailPosition { return }
                sched_yield()
                continue
            }
            do {
                try parseRingBytes(UnsafeRawBufferPointer(rebasing: destination[..<result.bytes])) { frame in
                    guard let (writer, counter) = identify(frame.payload),
                        Array(frame.payload) == payload(writer: writer, counter: counter)
                    else {
                        report.fail("torn payload at sequence \(frame.sequence)")
                        return
                    }
                    if frame.sequence <= lastSequence {
                        report.fail("sequence \(frame.sequence) after \(lastSequence)")
                    } else if frame.sequence != lastSequence + 1 && !lappedSinceLastFrame {
                        report.fail("gap \(lastSequence) → \(frame.sequence) without lapping")
                    }
                    lastSequence = frame.sequence
                    lappedSinceLastFrame = false
                    report.seen.append((frame.sequence, writer, counter))
                }
            } catch {
                report.fail("bytes of a read are not whole frames: \(error)")
                return
            }
        }
        report.fail("timed out at sequence \(lastSequence)")
    }
}
