import Foundation
import Glibc
import Synchronization
import TernWire
import Testing

/// A subscriber that stops reading loses messages, is told exactly how many, and costs neither
/// the publisher nor the other subscribers anything; the daemon's memory stays bounded.
@Suite(.serialized)
struct SlowConsumerTests {
    @Test func stalledSubscriberIsCountedNotWaitedFor() throws {
        let outBuffer = 64 * 1024
        let daemon = try TernDaemon.start(extraArguments: ["--out-buffer", "64K", "--threads", "1"])
        defer { daemon.stop() }
        let sid = try daemon.createStream()

        let stalled = try RawDataClient(port: daemon.dataPort)
        stalled.shrinkReceiveBuffer()
        try stalled.handshake(name: "stalled")
        let subscribed = try stalled.subscribe(sid)
        let healthy = try RawDataClient(port: daemon.dataPort)
        try healthy.handshake(name: "healthy")
        _ = try healthy.subscribe(sid)
        let publisher = try RawDataClient(port: daemon.dataPort)
        try publisher.handshake(name: "publisher")
        let attached = try publisher.subscribe(sid, attachOnly: true)

        // 16 MiB of messages: far more than its out-buffer and the kernel's socket buffers together.
        let payload = Array("{\"pad\":\"\(String(repeating: "x", count: 1000))\"}".utf8)
        let total = 16384
        let rssBefore = daemon.residentBytes
        var healthyReceived = 0
        var nextExpected = subscribed.nextSequence
        for chunk in 0..<(total / 64) {
            var batch: [UInt8] = []
            for index in 0..<64 {
                let ack = index == 63
                Frame.publish(.init(requestID: UInt32(chunk), streamID: attached.streamID, payload: payload, ack: ack))
                    .encode(into: &batch)
            }
            try publisher.send(batch)
            // Pace by acknowledgement so the test measures drops, not ring laps.
            guard case .published? = try publisher.next() else {
                Issue.record("publisher did not get PUBLISHED")
                return
            }
            // The healthy subscriber keeps up and sees every message in order.
            while healthyReceived < (chunk + 1) * 64 {
                guard case .message(let message)? = try healthy.next() else {
                    Issue.record("healthy subscriber got something other than MESSAGE")
                    return
                }
                #expect(message.sequence == nextExpected)
                nextExpected += 1
                healthyReceived += 1
            }
        }
        #expect(healthyReceived == total)
        // The stalled subscriber's backlog is bounded by its out-buffer, not by what was published.
        let growth = daemon.residentBytes - rssBefore
        #expect(growth < 6 * 1024 * 1024, "daemon grew by \(growth) bytes while 8 MiB went to a stalled subscriber")

        // Now read: whole messages up to the out-buffer's worth, then DROPPED with the exact count.
        var received = 0
        var dropped: UInt64 = 0
        var lastSequence: UInt64 = 0
        while UInt64(received) + dropped < UInt64(total) {
            guard let frame = try stalled.next(timeout: 10) else { break }
            switch frame {
            case .message(let message):
                #expect(message.payload == payload)
                #expect(message.sequence > lastSequence)
                lastSequence = message.sequence
                received += 1
            case .dropped(let notice):
                #expect(notice.streamID == subscribed.streamID)
                #expect(notice.reason == .slowConsumer)
                dropped += notice.count
            default:
                Issue.record("unexpected frame \(frame)")
            }
        }
        #expect(
            UInt64(received) + dropped == UInt64(total),
            "received \(received) + dropped \(dropped) must equal \(total)"
        )
        #expect(dropped > 0)
        // What got through is what its out-buffer and the kernel's socket buffers held, far less than all.
        #expect(
            received < total / 2,
            "a stalled subscriber with a \(outBuffer)-byte out-buffer received \(received) of \(total)"
        )

        // Once drained, it receives new messages normally.
        try publisher.send(.publish(.init(requestID: 1, streamID: attached.streamID, payload: Array("{}".utf8))))
        let next = try stalled.next()
        guard case .message(let fresh)? = next else {
            Issue.record(
                "the recovered subscriber gets new messages, got \(String(describing: next)); received \(received) dropped \(dropped)"
            )
            return
        }
        #expect(fresh.payload == Array("{}".utf8))
    }

    /// A publisher far faster than one turn's drain: the reactor delivers a stream's batch before
    /// it reads more for it, so its own reader is never lapped, whatever the socket holds. (Reading
    /// a fixed number of buffers per turn lapped a 256 KiB ring: 4 MiB arrive at once here.)
    @Test func aBurstLargerThanTheRingIsNotLapped() throws {
        let daemon = try TernDaemon.start(extraArguments: ["--ring-bytes", "256K", "--threads", "1"])
        defer { daemon.stop() }
        let sid = try daemon.createStream()
        let subscriber = try RawDataClient(port: daemon.dataPort)
        try subscriber.handshake(name: "subscriber")
        let subscribed = try subscriber.subscribe(sid)
        let publisher = try RawDataClient(port: daemon.dataPort)
        try publisher.handshake(name: "publisher")
        let attached = try publisher.subscribe(sid, attachOnly: true)

        let total = 4096
        // One write of 4 MiB from another thread, while this one reads.
        let (fd, bytes) = (publisher.fd, Self.kilobytePublishes(total, to: attached.streamID))
        Thread { try? TestSocket.writeAll(fd, bytes) }.start()

        var received = 0
        var droppedSlow: UInt64 = 0
        var expected = subscribed.nextSequence
        while UInt64(received) + droppedSlow < UInt64(total) {
            guard let frame = try subscriber.next(timeout: 20) else { break }
            switch frame {
            case .message(let message):
                #expect(message.sequence >= expected)
                expected = message.sequence + 1
                received += 1
            case .dropped(let notice):
                // The test process may be slow to read: slow-consumer drops are allowed, laps are not.
                #expect(notice.reason == .slowConsumer, "dropped \(notice.count) with reason \(notice.reason)")
                droppedSlow += notice.count
            default:
                Issue.record("unexpected frame \(frame)")
            }
        }
        #expect(
            UInt64(received) + droppedSlow == UInt64(total),
            "received \(received), dropped \(droppedSlow) of \(total)"
        )
        #expect(received > 0)
        withExtendedLifetime(publisher) {}  // its socket stays open until the sender is done
    }

    /// A publisher that keeps a stream's per-turn limit filled must not starve the other
    /// connections on its reactor thread: a newcomer still gets WELCOME and SUBSCRIBED.
    @Test func aFloodingPublisherDoesNotStarveNewcomers() throws {
        // A small ring makes the per-turn stream limit small (16 KiB): the flood reaches it in every turn.
        let daemon = try TernDaemon.start(extraArguments: ["--threads", "1", "--ring-bytes", "64K"])
        defer { daemon.stop() }
        let sid = try daemon.createStream()
        let flooder = try RawDataClient(port: daemon.dataPort)
        try flooder.handshake(name: "flooder")
        let attached = try flooder.subscribe(sid, attachOnly: true)
        // About 1 MiB per write for up to 8 s (bounded): the stream's turn limit is always reached.
        let (fd, bytes) = (flooder.fd, Self.kilobytePublishes(1024, to: attached.streamID))
        let sender = FloodSender()
        Thread {
            let deadline = Date().addingTimeInterval(8)
            while !sender.stop.load(ordering: .relaxed) && Date() < deadline {
                guard (try? TestSocket.writeAll(fd, bytes)) != nil else { break }
            }
            sender.done.store(true, ordering: .releasing)
        }.start()
        defer {
            sender.stop.store(true, ordering: .relaxed)
            while !sender.done.load(ordering: .acquiring) { usleep(10_000) }
            withExtendedLifetime(flooder) {}
        }
        Thread.sleep(forTimeInterval: 0.5)

        // Each answer must come while the flood goes on (it lasts up to 8 s; these wait 3 s each).
        let newcomer = try RawDataClient(port: daemon.dataPort)
        try newcomer.send(.hello(.init(clientName: "newcomer")))
        guard case .welcome? = try newcomer.next(timeout: 3) else {
            Issue.record("no WELCOME while another connection floods the thread")
            return
        }
        try newcomer.send(.subscribe(.init(requestID: 5, stream: sid, attachOnly: true)))
        guard case .subscribed(let subscribed)? = try newcomer.next(timeout: 3) else {
            Issue.record("no SUBSCRIBED while another connection floods the thread")
            return
        }
        #expect(subscribed.streamID == attached.streamID)
        try newcomer.send(.ping(42))
        #expect(try newcomer.next(timeout: 3) == .pong(42))
        let floodStillOn = !sender.done.load(ordering: .acquiring)
        #expect(floodStillOn, "the flood ended before the newcomer was served: the test proved nothing")
    }
}

extension SlowConsumerTests {
    /// `count` PUBLISH frames of a 1 KiB payload each, back to back.
    static func kilobytePublishes(_ count: Int, to streamID: UInt32) -> [UInt8] {
        let payload = Array("{\"pad\":\"\(String(repeating: "x", count: 1000))\"}".utf8)
        var bytes: [UInt8] = []
        for index in 0..<count {
            Frame.publish(.init(requestID: UInt32(index), streamID: streamID, payload: payload)).encode(into: &bytes)
        }
        return bytes
    }
}

/// Stop and done flags shared with a flooding sender thread.
private final class FloodSender: Sendable {
    let stop = Atomic<Bool>(false)
    let done = Atomic<Bool>(false)
}
