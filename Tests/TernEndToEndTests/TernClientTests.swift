import Foundation
import TernClient
import TernWire
import Testing

/// The client library (`DataConnection`, `ControlClient`) against a real `ternd`.
@Suite(.serialized)
struct TernClientTests {
    @Test func subscribingToAnUnknownStreamThrowsStreamNotFound() throws {
        let daemon = try TernDaemon.start()
        defer { daemon.stop() }
        let connection = try DataConnection("127.0.0.1:\(daemon.dataPort)")
        #expect(connection.welcome.version == 3)
        #expect(connection.welcome.maxPayload == 4096)
        do {
            _ = try connection.subscribe("no-such-stream")
            Issue.record("subscribe to an unknown stream succeeded")
        } catch let error as TernClientError {
            #expect(error.errorCode == .streamNotFound)
            guard case .server(let frame) = error else { return }
            #expect(!frame.fatal)
        }
        // A request-level error leaves the connection usable.
        let sid = try daemon.createStream(uniqueName: "after-error")
        #expect(try connection.subscribe("after-error").streamSid == sid)
    }

    @Test func publishedMessagesReachASubscriberOnTheUnixSocket() throws {
        let daemon = try TernDaemon.start()
        defer { daemon.stop() }
        let sid = try daemon.createStream(uniqueName: "prices")
        let subscriber = try DataConnection(daemon.unixSocketPath)
        let subscribed = try subscriber.subscribe("prices")
        #expect(subscribed.streamSid == sid)
        #expect(subscribed.uniqueName == "prices")

        let publisher = try DataConnection("127.0.0.1:\(daemon.dataPort)")
        let attached = try publisher.subscribe(sid, attachOnly: true)
        #expect(attached.streamID == subscribed.streamID)
        let messageSid = try publisher.publish(streamID: attached.streamID, payload: #"{"px":1}"#, ack: true)
        #expect(messageSid == subscribed.sidPrefix.messageSid(sequence: subscribed.nextSequence))
        try publisher.publish(streamID: attached.streamID, payload: Array(#"{"px":2}"#.utf8))
        try publisher.flush(timeout: .seconds(5))

        for (offset, expected) in [#"{"px":1}"#, #"{"px":2}"#].enumerated() {
            guard case .message(let message)? = try subscriber.nextFrame(timeout: .seconds(5)) else {
                Issue.record("MESSAGE \(offset) did not arrive")
                return
            }
            #expect(message.streamID == subscribed.streamID)
            #expect(message.sequence == subscribed.nextSequence + UInt64(offset))
            #expect(message.payload == Array(expected.utf8))
        }
        #expect(try subscriber.nextFrame(timeout: .milliseconds(100)) == nil)
    }

    @Test func framesArrivingDuringARequestAreQueuedNotLost() throws {
        let daemon = try TernDaemon.start()
        defer { daemon.stop() }
        let first = try daemon.createStream()
        let second = try daemon.createStream()
        let connection = try DataConnection("127.0.0.1:\(daemon.dataPort)")
        let subscribed = try connection.subscribe(first)
        // Acknowledged publishes from this very connection: each waits for PUBLISHED while the
        // MESSAGE copies of earlier ones arrive, and those must be queued for nextFrame.
        var sids: [String] = []
        for index in 0..<20 {
            sids.append(
                try connection.publish(streamID: subscribed.streamID, payload: "{\"i\":\(index)}", ack: true) ?? ""
            )
        }
        _ = try connection.subscribe(second)
        var sequences: [UInt64] = []
        while sequences.count < 20, let frame = try connection.nextFrame(timeout: .seconds(5)) {
            if case .message(let message) = frame { sequences.append(message.sequence) }
        }
        #expect(sequences == (0..<20).map { subscribed.nextSequence + UInt64($0) })
        #expect(sids == sequences.map { subscribed.sidPrefix.messageSid(sequence: $0) })
    }

    @Test func refusedPublishesSurfaceAsErrors() throws {
        let daemon = try TernDaemon.start()
        defer { daemon.stop() }
        let sid = try daemon.createStream()
        let connection = try DataConnection("127.0.0.1:\(daemon.dataPort)")
        let attached = try connection.subscribe(sid, attachOnly: true)
        #expect(throws: TernClientError.self) {
            try connection.publish(streamID: attached.streamID, payload: "[1,2]", ack: true)
        }
        // Unacknowledged: the refusal comes back later, carrying the publish's request id.
        try connection.publish(streamID: attached.streamID, payload: "not json")
        let requestID = connection.lastRequestID
        guard case .error(let error)? = try connection.nextFrame(timeout: .seconds(5)) else {
            Issue.record("no ERROR for an invalid unacknowledged publish")
            return
        }
        #expect(error.code == .invalidPayload)
        #expect(error.requestID == requestID)
        #expect(!error.fatal)
        do {
            try connection.publish(streamID: 999_999, payload: "{}", ack: true)
            Issue.record("publish to a stream never attached succeeded")
        } catch let error as TernClientError {
            #expect(error.errorCode == .notSubscribed)
        }
    }

    @Test func batchedPublishesAreAllAccepted() throws {
        let daemon = try TernDaemon.start()
        defer { daemon.stop() }
        let sid = try daemon.createStream()
        let connection = try DataConnection("127.0.0.1:\(daemon.dataPort)")
        let attached = try connection.subscribe(sid, attachOnly: true)
        let count = 1_000_000
        let payload = Array(#"{"k":1}"#.utf8)
        let clock = ContinuousClock()
        let elapsed = try clock.measure {
            try payload.withUnsafeBytes { bytes in
                for _ in 0..<count { try connection.publish(streamID: attached.streamID, payload: bytes) }
            }
            try connection.flush(timeout: .seconds(30))
        }
        // The acknowledged publish after them gets the sequence right after all of theirs.
        let lastSid = try connection.publish(streamID: attached.streamID, payload: "{}", ack: true)
        #expect(lastSid == attached.sidPrefix.messageSid(sequence: attached.nextSequence + UInt64(count)))
        #expect(try connection.nextFrame(timeout: .zero) == nil, "no publish was refused")
        print("DataConnection: \(count) unacknowledged publishes flushed in \(elapsed)")
    }

    @Test func pingsAreAnsweredWhileWaiting() throws {
        let daemon = try TernDaemon.start(extraArguments: ["--ping-interval", "0.2"])
        defer { daemon.stop() }
        let sid = try daemon.createStream()
        let connection = try DataConnection("127.0.0.1:\(daemon.dataPort)")
        // Idle for several ping intervals: without PONGs the server would close with IDLE_TIMEOUT.
        #expect(try connection.nextFrame(timeout: .seconds(1.5)) == nil)
        #expect(try connection.subscribe(sid).streamSid == sid)
    }

    @Test func controlClientManagesStreams() throws {
        let daemon = try TernDaemon.start()
        defer { daemon.stop() }
        let control = try ControlClient(baseURL: daemon.controlBase)
        #expect(try control.serviceSid() == daemon.serviceSid)
        #expect(try control.services().map(\.sid).contains(daemon.serviceSid))

        let created = try control.createStream(uniqueName: "orders", ttl: 600)
        #expect(created.sid.hasPrefix("TO") && created.sid.count == 34)
        #expect(created.uniqueName == "orders")
        #expect(created.dateExpires != nil)
        #expect(try control.fetchStream("orders").sid == created.sid)
        let plain = try control.createStream()
        #expect(plain.dateExpires == nil)

        let page = try control.listStreams(pageSize: 1)
        #expect(page.streams.count == 1)
        #expect(page.nextPageURL != nil)
        let nextPage = try control.nextPage(after: page)
        #expect(Set([page.streams[0].sid, nextPage?.streams.first?.sid]) == Set([created.sid, plain.sid]))

        let message = try control.publish(stream: "orders", data: #"{"qty":3}"#)
        #expect(message.sid.hasPrefix("TZ") && message.sid.count == 34)

        try control.deleteStream(created.sid)
        do {
            _ = try control.fetchStream(created.sid)
            Issue.record("a deleted stream was still fetched")
        } catch TernClientError.http(let status, let code, _) {
            #expect(status == 404)
            #expect(code == 20404)
        }
    }
}
