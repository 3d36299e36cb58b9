import Foundation
import TernWire
import Testing

/// protocol.md's rules checked against a running `ternd`: every ```invalid vector in the state its
/// block names, and the rules a client written from the document relies on (names, sequences,
/// ended streams, pipelining, PING/PONG).
@Suite(.serialized)
struct ProtocolRulesTests {
    struct InvalidVector {
        var name: String
        var code: UInt16
        var first: Bool
        var bytes: [UInt8]
    }

    /// The ```invalid NAME CODE [new|open] blocks of protocol.md (format: its section 8.1).
    static func invalidVectors() throws -> [InvalidVector] {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("protocol.md").path
        var vectors: [InvalidVector] = []
        var lines = try String(contentsOfFile: path, encoding: .utf8).split(
            separator: "\n",
            omittingEmptySubsequences: false
        )[...]
        while let line = lines.popFirst() {
            let words = line.split(separator: " ")
            guard words.first == "```invalid", words.count >= 3, let code = UInt16(words[2]) else { continue }
            var hex = ""
            while let body = lines.popFirst(), !body.hasPrefix("```") { hex += body.filter { !$0.isWhitespace } }
            var bytes: [UInt8] = []
            var index = hex.startIndex
            while index < hex.endIndex {
                let next = hex.index(index, offsetBy: 2)
                bytes.append(try #require(UInt8(hex[index..<next], radix: 16)))
                index = next
            }
            vectors.append(
                InvalidVector(
                    name: String(words[1]),
                    code: code,
                    first: words.count == 4 && words[3] == "new",
                    bytes: bytes
                )
            )
        }
        return vectors
    }

    @Test func everyInvalidVectorGetsItsErrorFromTheServer() throws {
        let vectors = try Self.invalidVectors()
        #expect(vectors.count >= 17)
        let daemon = try TernDaemon.start()
        defer { daemon.stop() }
        for vector in vectors {
            let client = try RawDataClient(port: daemon.dataPort)
            if !vector.first { try client.handshake() }
            try client.send(vector.bytes)
            guard case .error(let error)? = try client.next() else {
                Issue.record("\(vector.name): no ERROR")
                continue
            }
            #expect(error.rawCode == vector.code, "\(vector.name): got \(error.code.name): \(error.message)")
            #expect(error.fatal && error.requestID == 0, "\(vector.name)")
            #expect(client.closedByServer(), "\(vector.name): the server closes after a fatal error")
        }
    }

    @Test func streamNamesCountScalarsAfterTheServicePrefix() throws {
        let daemon = try TernDaemon.start()
        defer { daemon.stop() }
        let created = try HTTP.request(
            port: daemon.controlPort,
            method: "POST",
            path: "/v1/Services",
            form: [("FriendlyName", "other")]
        )
        let service = try #require(created.object["sid"] as? String)
        let name = String(repeating: "😀", count: 320)  // 1280 bytes: the field holds 1315, its limit
        let stream = try HTTP.request(
            port: daemon.controlPort,
            method: "POST",
            path: "/v1/Services/\(service)/Streams",
            form: [("UniqueName", name)]
        )
        #expect(stream.status == 201, "\(stream.text)")
        let client = try RawDataClient(port: daemon.dataPort)
        try client.handshake()
        let subscribed = try client.subscribe("\(service)/\(name)", requestID: 1)
        #expect(subscribed.uniqueName == name)
        try client.send(.subscribe(.init(requestID: 2, stream: "\(service)/" + String(repeating: "n", count: 321))))
        guard case .error(let tooLong)? = try client.next() else { throw HarnessError("no ERROR") }
        #expect(tooLong.code == .invalidStreamName && tooLong.requestID == 2 && !tooLong.fatal)
        // Over 1315 bytes the string is malformed, whatever it holds.
        try client.send(
            .subscribe(.init(requestID: 3, stream: String(repeating: "x", count: WireLimits.maxStreamFieldBytes + 1)))
        )
        guard case .error(let malformed)? = try client.next() else { throw HarnessError("no ERROR") }
        #expect(malformed.code == .malformedFrame && malformed.fatal && malformed.requestID == 0)
    }

    @Test func sequencesAreSharedAndRefusalsTakeNone() throws {
        let daemon = try TernDaemon.start()
        defer { daemon.stop() }
        let sid = try daemon.createStream(uniqueName: "shared")
        #expect(try daemon.publishREST(stream: sid, data: #"{"n":1}"#).status == 201)
        let client = try RawDataClient(port: daemon.dataPort)
        try client.handshake()
        let attached = try client.subscribe("shared", attachOnly: true)
        #expect(attached.nextSequence == 2)
        try client.send(.publish(.init(requestID: 2, streamID: attached.streamID, payload: Array("[1]".utf8))))
        guard case .error(let refused)? = try client.next() else { throw HarnessError("no ERROR") }
        #expect(refused.code == .invalidPayload && refused.requestID == 2)
        try client.send(
            .publish(.init(requestID: 3, streamID: attached.streamID, payload: Array("{}".utf8), ack: true))
        )
        guard case .published(let published)? = try client.next() else { throw HarnessError("no PUBLISHED") }
        #expect(published.requestID == 3 && published.sequence == 2)

        // After STREAM_ENDED the id is gone: NOT_SUBSCRIBED.
        #expect(try daemon.deleteStream(sid).status == 204)
        guard case .streamEnded(let streamID, let reason)? = try client.next() else {
            throw HarnessError("no STREAM_ENDED")
        }
        #expect(streamID == attached.streamID && reason == .deleted)
        try client.send(.publish(.init(requestID: 4, streamID: attached.streamID, payload: Array("{}".utf8))))
        guard case .error(let gone)? = try client.next() else { throw HarnessError("no ERROR") }
        #expect(gone.code == .notSubscribed && gone.requestID == 4)
    }

    @Test func pipelinedFramesAndPingRules() throws {
        let daemon = try TernDaemon.start()
        defer { daemon.stop() }
        _ = try daemon.createStream(uniqueName: "piped")
        let client = try RawDataClient(port: daemon.dataPort)
        // A token while auth is off is ignored; frames after HELLO need not wait for WELCOME;
        // an unsolicited PONG gets no answer.
        try client.send(
            Frame.hello(.init(clientName: "piper", token: "not-needed")).encoded()
                + Frame.pong(99).encoded() + Frame.subscribe(.init(requestID: 7, stream: "piped")).encoded()
                + Frame.ping(5).encoded()
        )
        guard case .welcome? = try client.next() else { throw HarnessError("no WELCOME") }
        guard case .subscribed(let subscribed)? = try client.next() else { throw HarnessError("no SUBSCRIBED") }
        #expect(subscribed.requestID == 7)
        #expect(try client.next() == .pong(5))
    }
}
