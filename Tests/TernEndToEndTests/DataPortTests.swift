import Foundation
import Glibc
import TernWire
import Testing

/// The data port against a real `ternd`: fan-out, both publish paths, unique names, deletion.
@Suite(.serialized)
struct DataPortTests {
    @Test func everySubscriberReceivesEveryMessageInOrder() throws {
        let daemon = try TernDaemon.start()
        defer { daemon.stop() }
        let sid = try daemon.createStream()
        let subscribers = try (0..<24).map { _ in try RawDataClient(port: daemon.dataPort) }
        var streamID: UInt32 = 0
        var firstSequence: UInt64 = 0
        for subscriber in subscribers {
            try subscriber.handshake()
            let subscribed = try subscriber.subscribe(sid)
            streamID = subscribed.streamID
            firstSequence = subscribed.nextSequence
            #expect(subscribed.streamSid == sid)
        }
        let publisher = try RawDataClient(port: daemon.dataPort)
        try publisher.handshake(name: "publisher")
        let attached = try publisher.subscribe(sid, requestID: 9, attachOnly: true)
        #expect(attached.streamID == streamID)
        #expect(attached.attachOnly)

        let count = 300
        var batch: [UInt8] = []
        for index in 0..<count {
            Frame.publish(.init(requestID: 0, streamID: streamID, payload: Array("{\"n\":\(index)}".utf8))).encode(
                into: &batch
            )
        }
        try publisher.send(batch)

        for subscriber in subscribers {
            for index in 0..<count {
                guard case .message(let message)? = try subscriber.next() else {
                    Issue.record("expected MESSAGE \(index)")
                    return
                }
                #expect(message.streamID == streamID)
                #expect(message.sequence == firstSequence + UInt64(index))
                #expect(message.payload == Array("{\"n\":\(index)}".utf8))
            }
        }
    }

    @Test func restAndDataPortPublishesReachSubscribersWithMatchingSids() throws {
        let daemon = try TernDaemon.start()
        defer { daemon.stop() }
        let sid = try daemon.createStream(uniqueName: "prices")
        let subscriber = try RawDataClient(port: daemon.dataPort)
        try subscriber.handshake()
        let subscribed = try subscriber.subscribe("prices")
        #expect(subscribed.streamSid == sid)
        #expect(subscribed.uniqueName == "prices")

        let rest = try daemon.publishREST(stream: "prices", data: #"{"px": 1.5, "sym": "ABC"}"#)
        #expect(rest.status == 201)
        let restSid = rest.object["sid"] as? String
        guard case .message(let first)? = try subscriber.next() else {
            Issue.record("no MESSAGE for the REST publish")
            return
        }
        #expect(restSid == subscribed.sidPrefix.messageSid(sequence: first.sequence))
        #expect(String(decoding: first.payload, as: UTF8.self) == #"{"px": 1.5, "sym": "ABC"}"#)

        let publisher = try RawDataClient(port: daemon.dataPort)
        try publisher.handshake()
        let attached = try publisher.subscribe(sid, attachOnly: true)
        try publisher.send(
            .publish(.init(requestID: 77, streamID: attached.streamID, payload: Array(#"{"px":2}"#.utf8), ack: true))
        )
        guard case .published(let ack)? = try publisher.next() else {
            Issue.record("no PUBLISHED")
            return
        }
        #expect(ack.requestID == 77)
        #expect(ack.sequence == first.sequence + 1)
        #expect(ack.messageSid.hasPrefix("TZ") && ack.messageSid.count == 34)
        guard case .message(let second)? = try subscriber.next() else {
            Issue.record("no MESSAGE for the data-port publish")
            return
        }
        #expect(second.sequence == ack.sequence)
        #expect(second.payload == Array(#"{"px":2}"#.utf8))
    }

    @Test func unixSocketServesTheSameProtocol() throws {
        let daemon = try TernDaemon.start()
        defer { daemon.stop() }
        let sid = try daemon.createStream(uniqueName: "local")
        let client = try RawDataClient(unixPath: daemon.unixSocketPath)
        let welcome = try client.handshake()
        #expect(welcome.version == 1)
        #expect(welcome.maxPayload == 4096)
        let subscribed = try client.subscribe("local")
        #expect(subscribed.streamSid == sid)
        try client.send(.publish(.init(requestID: 1, streamID: subscribed.streamID, payload: Array("{}".utf8))))
        guard case .message(let message)? = try client.next() else {
            Issue.record("a publisher subscribed to its own stream receives its message")
            return
        }
        #expect(message.payload == Array("{}".utf8))
    }

    @Test func deleteDeliversWhatWasPublishedThenEndsTheStream() throws {
        let daemon = try TernDaemon.start()
        defer { daemon.stop() }
        let sid = try daemon.createStream()
        let subscriber = try RawDataClient(port: daemon.dataPort)
        try subscriber.handshake()
        let subscribed = try subscriber.subscribe(sid)
        for index in 0..<5 {
            #expect(try daemon.publishREST(stream: sid, data: "{\"i\":\(index)}").status == 201)
        }
        #expect(try daemon.deleteStream(sid).status == 204)
        var received = 0
        while let frame = try subscriber.next() {
            if case .message = frame {
                received += 1
                continue
            }
            #expect(frame == .streamEnded(streamID: subscribed.streamID, reason: .deleted))
            break
        }
        #expect(received == 5)
        // The stream id is no longer valid on the connection.
        try subscriber.send(.publish(.init(requestID: 3, streamID: subscribed.streamID, payload: Array("{}".utf8))))
        guard case .error(let error)? = try subscriber.next() else {
            Issue.record("expected ERROR after publishing to an ended stream")
            return
        }
        #expect(error.code == .notSubscribed)
        #expect(!error.fatal)
    }

    @Test func unsubscribeStopsDelivery() throws {
        let daemon = try TernDaemon.start()
        defer { daemon.stop() }
        let sid = try daemon.createStream()
        let client = try RawDataClient(port: daemon.dataPort)
        try client.handshake()
        let subscribed = try client.subscribe(sid)
        try client.send(.unsubscribe(requestID: 4, streamID: subscribed.streamID))
        #expect(try client.next() == .unsubscribed(requestID: 4, streamID: subscribed.streamID))
        #expect(try daemon.publishREST(stream: sid, data: "{}").status == 201)
        try client.send(.ping(99))
        // PONG arrives and no MESSAGE before it.
        #expect(try client.next() == .pong(99))
        try client.send(.unsubscribe(requestID: 5, streamID: subscribed.streamID))
        guard case .error(let error)? = try client.next() else {
            Issue.record("expected NOT_SUBSCRIBED")
            return
        }
        #expect(error.code == .notSubscribed && error.requestID == 5)
    }

    @Test func sigtermDeliversEverythingBufferedBeforeTheNotice() throws {
        let daemon = try TernDaemon.start()
        let sid = try daemon.createStream()
        let subscriber = try RawDataClient(port: daemon.dataPort)
        try subscriber.handshake()
        let subscribed = try subscriber.subscribe(sid)
        let publisher = try RawDataClient(port: daemon.dataPort)
        try publisher.handshake()
        let attached = try publisher.subscribe(sid, attachOnly: true)
        // 2,000 messages queued faster than the subscriber reads them, acknowledged, then SIGTERM.
        let count = 2000
        var batch: [UInt8] = []
        for index in 0..<count {
            Frame.publish(
                .init(
                    requestID: UInt32(index),
                    streamID: attached.streamID,
                    payload: Array("{\"i\":\(index)}".utf8),
                    ack: index == count - 1
                )
            ).encode(into: &batch)
        }
        try publisher.send(batch)
        guard case .published? = try publisher.next() else {
            Issue.record("no PUBLISHED for the last message")
            return
        }
        kill(daemon.pid, SIGTERM)
        var received = 0
        var ended = false
        while let frame = try subscriber.next() {
            switch frame {
            case .message(let message):
                #expect(message.sequence == subscribed.nextSequence + UInt64(received))
                received += 1
            case .streamEnded(let streamID, let reason):
                #expect(streamID == subscribed.streamID && reason == .shutdown)
                ended = true
            default:
                Issue.record("unexpected \(frame)")
            }
        }
        #expect(received == count)
        #expect(ended)
        #expect(daemon.waitForExit(timeout: 10) == 0)
    }

    @Test func sigtermTellsSubscribersAndExitsCleanly() throws {
        let daemon = try TernDaemon.start()
        let sid = try daemon.createStream()
        let subscriber = try RawDataClient(port: daemon.dataPort)
        try subscriber.handshake()
        let subscribed = try subscriber.subscribe(sid)
        #expect(try daemon.publishREST(stream: sid, data: #"{"last":true}"#).status == 201)
        guard case .message? = try subscriber.next() else {
            Issue.record("expected the message published before SIGTERM")
            return
        }
        let status = daemon.stop()
        #expect(status == 0)
        #expect(try subscriber.next() == .streamEnded(streamID: subscribed.streamID, reason: .shutdown))
        #expect(try subscriber.next() == nil)
    }
}
