import Foundation
import TernWire
import Testing

/// Every malformed or refused input gets a precise ERROR; violations close only the offending
/// connection and everyone else keeps being served.
@Suite(.serialized)
struct BadInputTests {
    /// Sends `bytes` on a fresh connection (after HELLO unless `handshake` is false) and expects a
    /// fatal ERROR with `code`, then the close.
    private func expectFatal(_ daemon: TernDaemon, _ bytes: [UInt8], handshake: Bool = true, _ code: ErrorCode) throws {
        let client = try RawDataClient(port: daemon.dataPort)
        if handshake { try client.handshake() }
        try client.send(bytes)
        guard case .error(let error)? = try client.next() else {
            Issue.record("expected ERROR \(code.name)")
            return
        }
        #expect(error.code == code, "got \(error.code.name): \(error.message)")
        #expect(error.fatal)
        #expect(error.requestID == 0)
        #expect(client.closedByServer(), "the server closes the connection after a fatal error")
    }

    private func expectRequestError(_ client: RawDataClient, requestID: UInt32, _ code: ErrorCode) throws {
        guard case .error(let error)? = try client.next() else {
            Issue.record("expected ERROR \(code.name)")
            return
        }
        #expect(error.code == code, "got \(error.code.name): \(error.message)")
        #expect(error.requestID == requestID)
        #expect(!error.fatal)
        // Still usable.
        try client.send(.ping(7))
        #expect(try client.next() == .pong(7))
    }

    @Test func protocolViolationsCloseOnlyTheOffendingConnection() throws {
        let daemon = try TernDaemon.start(extraArguments: ["--handshake-timeout", "0.5"])
        defer { daemon.stop() }
        let sid = try daemon.createStream(uniqueName: "survivor")
        let bystander = try RawDataClient(port: daemon.dataPort)
        try bystander.handshake()
        let subscribed = try bystander.subscribe("survivor")

        // Text where a header belongs: its "length" is far over the limit.
        try expectFatal(daemon, Array("GET / HTTP/1.1\r\n\r\n".utf8), handshake: false, .frameTooLarge)
        try expectFatal(daemon, Array("garbage bytes!!!".utf8), .frameTooLarge)
        try expectFatal(daemon, [0x00, 0x00, 0x20, 0x01, 0x04, 0x00, 0x00, 0x00], .frameTooLarge)
        try expectFatal(daemon, [0x00, 0x00, 0x00, 0x00, 0x7f, 0x00, 0x00, 0x00], .unknownFrameType)
        try expectFatal(daemon, Frame.ping(1).encoded(), handshake: false, .helloRequired)
        try expectFatal(daemon, Frame.hello(.init(clientName: "again")).encoded(), .unexpectedFrame)
        try expectFatal(daemon, Frame.message(.init(streamID: 1, sequence: 1, payload: [])).encoded(), .unexpectedFrame)
        try expectFatal(daemon, [0x00, 0x00, 0x00, 0x04, 0x03, 0x00, 0x00, 0x00, 0, 0, 0, 5], .malformedFrame)
        try expectFatal(
            daemon,
            [0x00, 0x00, 0x00, 0x08, 0x05, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0, 1],
            .malformedFrame
        )
        try expectFatal(
            daemon,
            Frame.hello(.init(minVersion: 4, maxVersion: 5, clientName: "future")).encoded(),
            handshake: false,
            .unsupportedVersion
        )

        // A frame cut off by the client closing its side.
        let truncated = try RawDataClient(port: daemon.dataPort)
        try truncated.handshake()
        try truncated.send(Array(Frame.subscribe(.init(requestID: 1, stream: "survivor")).encoded().prefix(10)))
        truncated.finishWriting()
        guard case .error(let error)? = try truncated.next() else {
            Issue.record("expected ERROR for a truncated frame")
            return
        }
        #expect(error.code == .malformedFrame && error.fatal)

        // Silence after connecting.
        let silent = try RawDataClient(port: daemon.dataPort)
        guard case .error(let timeout)? = try silent.next(timeout: 5) else {
            Issue.record("expected HANDSHAKE_TIMEOUT")
            return
        }
        #expect(timeout.code == .handshakeTimeout && timeout.fatal)

        // The bystander never noticed.
        #expect(try daemon.publishREST(stream: sid, data: #"{"still":"here"}"#).status == 201)
        guard case .message(let message)? = try bystander.next() else {
            Issue.record("the bystander stopped receiving")
            return
        }
        #expect(message.streamID == subscribed.streamID)
        #expect(try daemon.createStream(uniqueName: "after-the-storm").hasPrefix("TO"))
    }

    @Test func refusedRequestsKeepTheConnection() throws {
        let daemon = try TernDaemon.start(extraArguments: [
            "--max-subscriptions", "2", "--max-payload", "100", "--max-frame", "1024",
        ])
        defer { daemon.stop() }
        _ = try daemon.createStream(uniqueName: "a")
        _ = try daemon.createStream(uniqueName: "b")
        _ = try daemon.createStream(uniqueName: "c")
        let client = try RawDataClient(port: daemon.dataPort)
        let welcome = try client.handshake()
        #expect(welcome.maxPayload == 100 && welcome.maxFrameBody == 1024 && welcome.maxSubscriptions == 2)

        try client.send(.subscribe(.init(requestID: 11, stream: "no-such-stream")))
        try expectRequestError(client, requestID: 11, .streamNotFound)
        try client.send(.subscribe(.init(requestID: 12, stream: "TO00000000000000000000000000000000")))
        try expectRequestError(client, requestID: 12, .streamNotFound)
        try client.send(.subscribe(.init(requestID: 13, stream: "")))
        try expectRequestError(client, requestID: 13, .invalidStreamName)
        try client.send(.subscribe(.init(requestID: 14, stream: String(repeating: "x", count: 321))))
        try expectRequestError(client, requestID: 14, .invalidStreamName)
        try client.send(.publish(.init(requestID: 15, streamID: 4242, payload: Array("{}".utf8))))
        try expectRequestError(client, requestID: 15, .notSubscribed)

        let a = try client.subscribe("a", requestID: 16)
        try client.send(.subscribe(.init(requestID: 17, stream: "a")))
        try expectRequestError(client, requestID: 17, .alreadySubscribed)
        _ = try client.subscribe("b", requestID: 18, attachOnly: true)
        try client.send(.subscribe(.init(requestID: 19, stream: "c")))
        try expectRequestError(client, requestID: 19, .tooManySubscriptions)

        try client.send(
            .publish(
                .init(
                    requestID: 20,
                    streamID: a.streamID,
                    payload: Array("{\"x\":\"\(String(repeating: "y", count: 100))\"}".utf8)
                )
            )
        )
        try expectRequestError(client, requestID: 20, .payloadTooLarge)
        for (index, bad) in ["[1,2]", "\"text\"", "{\"open\":", "{} {}", "{\"a\":01}", "nul"].enumerated() {
            try client.send(
                .publish(.init(requestID: 30 + UInt32(index), streamID: a.streamID, payload: Array(bad.utf8)))
            )
            try expectRequestError(client, requestID: 30 + UInt32(index), .invalidPayload)
        }
        // After all that, a good publish goes through and comes back to this subscriber.
        try client.send(
            .publish(.init(requestID: 40, streamID: a.streamID, payload: Array(#"{"ok":true}"#.utf8), ack: true))
        )
        var sawAck = false
        var sawMessage = false
        for _ in 0..<2 {
            switch try client.next() {
            case .published(let ack)?: sawAck = ack.requestID == 40
            case .message(let message)?: sawMessage = message.payload == Array(#"{"ok":true}"#.utf8)
            default: break
            }
        }
        #expect(sawAck && sawMessage)
    }

    @Test func connectionLimitRefusesWithAnError() throws {
        let daemon = try TernDaemon.start(extraArguments: ["--max-connections", "2"])
        defer { daemon.stop() }
        let first = try RawDataClient(port: daemon.dataPort)
        try first.handshake()
        let second = try RawDataClient(port: daemon.dataPort)
        try second.handshake()
        let third = try RawDataClient(port: daemon.dataPort)
        guard case .error(let error)? = try third.next() else {
            Issue.record("expected TOO_MANY_CONNECTIONS")
            return
        }
        #expect(error.code == .tooManyConnections && error.fatal)
        #expect(third.closedByServer())
        try first.send(.ping(1))
        #expect(try first.next() == .pong(1))
    }

    @Test func silentClientsArePingedThenClosed() throws {
        let daemon = try TernDaemon.start(extraArguments: ["--ping-interval", "0.3"])
        defer { daemon.stop() }
        let client = try RawDataClient(port: daemon.dataPort)
        try client.handshake()
        guard case .ping? = try client.next(timeout: 5) else {
            Issue.record("expected a PING after silence")
            return
        }
        guard case .error(let error)? = try client.next(timeout: 5) else {
            Issue.record("expected IDLE_TIMEOUT")
            return
        }
        #expect(error.code == .idleTimeout && error.fatal)

        // Answering keeps the connection.
        let polite = try RawDataClient(port: daemon.dataPort)
        try polite.handshake()
        for _ in 0..<3 {
            guard case .ping(let opaque)? = try polite.next(timeout: 5) else {
                Issue.record("expected PING")
                return
            }
            try polite.send(.pong(opaque))
        }
    }

    @Test func invalidConfigurationIsRefusedAtStart() throws {
        for arguments in [
            ["--ring-bytes", "1000"], ["--read-budget", "1K"], ["--max-frame", "100"], ["--threads", "0"],
            ["--data-listen", "0.0.0.0:0"],
            ["--log-level", "loud"],
        ] {
            #expect(throws: HarnessError.self, "ternd \(arguments) must refuse to start") {
                _ = try TernDaemon.start(extraArguments: arguments, timeout: 10)
            }
        }
    }
}
