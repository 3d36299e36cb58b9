import Foundation
import Glibc
import TernClient
import TernWire
import Testing

extension DataPlaneSanitizerTests {
    /// Shared-memory readers beside socket subscribers while two publishers (one per reactor
    /// thread, so both threads append and wake the ring's futex) and REST publish, then the
    /// stream is deleted while mapped: the memfd ring, its futex wake-ups, descriptor passing and
    /// the end, under ThreadSanitizer in `make test-tsan`.
    @Test func sharedMemoryReadersBesidePublishersOnBothThreads() throws {
        let daemon = try Self.start(["--ring-bytes", "1M"])
        let sid = try daemon.createStream(uniqueName: "mapped-tsan")
        let readers = try (0..<3).map { _ in try DataConnection(daemon.unixSocketPath) }
        var starts: [UInt64] = []
        var streamID: UInt32 = 0
        for reader in readers {
            let subscribed = try reader.subscribe("mapped-tsan")
            #expect(reader.isMapped(streamID: subscribed.streamID))
            starts.append(subscribed.nextSequence)
            streamID = subscribed.streamID
        }
        let publishers = try Self.spread(daemon, prefix: "mapped-publisher", atLeast: 2, maxVersion: 3) { client in
            _ = try client.subscribe(sid, attachOnly: true)
        }
        // A fixed total, however many connections `spread` needed to reach both threads (under
        // load it took 20 and more): the readers start after the publishing, so the 1 MiB ring
        // must hold it all (4,000 messages of about 30 bytes).
        let perPublisher = max(1, 4_000 / publishers.count)
        let done = DispatchGroup()
        for publisher in publishers {
            var bytes: [UInt8] = []
            for number in 0..<perPublisher {
                Frame.publish(
                    .init(
                        requestID: 9,
                        streamID: streamID,
                        payload: Array("{\"n\":\(number)}".utf8),
                        ack: number == perPublisher - 1
                    )
                ).encode(into: &bytes)
            }
            let (fd, frames) = (publisher.fd, bytes)
            DispatchQueue.global().async(group: done) { try? TestSocket.writeAll(fd, frames) }
        }
        done.wait()
        #expect(try daemon.publishREST(stream: sid, data: #"{"rest":true}"#).status == 201)
        let total = publishers.count * perPublisher + 1
        for publisher in publishers {
            while let frame = try publisher.next(timeout: 30) {
                if case .published = frame { break }
            }
        }
        #expect(try daemon.deleteStream(sid).status == 204)
        for (reader, start) in zip(readers, starts) {
            var expected = start
            var ended = false
            while !ended, let frame = try reader.nextFrame(timeout: .seconds(30)) {
                switch frame {
                case .message(let message):
                    #expect(message.sequence == expected)
                    expected = message.sequence + 1
                case .streamEnded(_, let reason):
                    #expect(reason == .deleted)
                    ended = true
                default: Issue.record("unexpected \(frame)")
                }
            }
            #expect(ended && expected == start + UInt64(total), "read to \(expected), \(total) published")
            reader.close()
        }
        withExtendedLifetime(publishers) {}
        Self.expectClean(daemon)
    }
}
