import NIOCore
import Testing

@testable import TernNATS

/// `NATSParser` reads the server's operations, asks for more bytes (nil, reader index unmoved)
/// at every cut, and refuses malformed input with a precise error.
@Suite("NATSParser")
struct NATSParserTests {
    static let wire =
        "INFO {\"server_id\":\"N1\",\"max_payload\":1048576}\r\n" + "+OK\r\n" + "PING\r\n" + "PONG\r\n"
        + "MSG tern.m.TO1 9 5\r\nhello\r\n" + "MSG a.b 10 _INBOX.x.1 0\r\n\r\n"
        + "HMSG $KV.tern.k 3 $JS.ACK.KV_tern.c.1.7.1.1700.0 31 33\r\nNATS/1.0\r\nKV-Operation: DEL\r\n\r\nhi\r\n"
        + "HMSG _INBOX.y.2 0 16 16\r\nNATS/1.0 503\r\n\r\n\r\n" + "-ERR 'Authorization Violation'\r\n"

    func parseAll(_ bytes: [UInt8]) throws -> (operations: [NATSServerOperation], rest: Int) {
        var buffer = ByteBuffer(bytes: bytes)
        var operations: [NATSServerOperation] = []
        while let operation = try NATSParser().parseStep(&buffer) { operations.append(operation) }
        return (operations, buffer.readableBytes)
    }

    @Test func parsesEveryOperation() throws {
        let (operations, rest) = try parseAll(Array(Self.wire.utf8))
        #expect(rest == 0)
        #expect(operations.count == 9)
        guard case .info(let info) = operations[0] else {
            Issue.record("not INFO")
            return
        }
        #expect(info == "{\"server_id\":\"N1\",\"max_payload\":1048576}")
        guard case .ok = operations[1], case .ping = operations[2], case .pong = operations[3] else {
            Issue.record("expected +OK PING PONG")
            return
        }
        guard case .message(let plain) = operations[4] else {
            Issue.record("not MSG")
            return
        }
        #expect(
            plain.subject == "tern.m.TO1" && plain.sid == 9 && plain.replyTo == nil
                && plain.bytes == Array("hello".utf8)
        )
        #expect(plain.headers == nil)
        guard case .message(let empty) = operations[5] else {
            Issue.record("not MSG")
            return
        }
        #expect(empty.replyTo == "_INBOX.x.1" && empty.bytes.isEmpty)
        guard case .message(let withHeaders) = operations[6] else {
            Issue.record("not HMSG")
            return
        }
        #expect(withHeaders.headers?["kv-operation"] == "DEL")
        #expect(withHeaders.bytes == Array("hi".utf8))
        #expect(withHeaders.replyTo == "$JS.ACK.KV_tern.c.1.7.1.1700.0")
        guard case .message(let status) = operations[7] else {
            Issue.record("not HMSG")
            return
        }
        #expect(status.headers?.status == 503 && status.bytes.isEmpty)
        guard case .error(let text) = operations[8] else {
            Issue.record("not -ERR")
            return
        }
        #expect(text == "Authorization Violation")
    }

    /// Every prefix of the stream parses to the operations wholly inside it, and leaves the rest.
    @Test func everyCutAsksForMore() throws {
        let bytes = Array(Self.wire.utf8)
        let whole = try parseAll(bytes).operations.count
        var previous = 0
        for cut in 0...bytes.count {
            let (operations, _) = try parseAll(Array(bytes[..<cut]))
            #expect(operations.count >= previous && operations.count <= whole)
            previous = operations.count
        }
        #expect(previous == whole)
    }

    @Test func refusesMalformedInput() {
        let bad = [
            "FOO bar\r\n", "MSG a 1\r\n", "MSG a x 2\r\nhi\r\n", "MSG a 1 2\r\nhiXX", "HMSG a 1 9 2\r\n1234\r\n",
            "HMSG a 1 2 4\r\nxx12\r\n",
        ]
        for text in bad {
            var buffer = ByteBuffer(string: text)
            #expect(throws: NATSProtocolError.self, "\(text.debugDescription)") { try NATSParser().parseStep(&buffer) }
        }
        var long = ByteBuffer(string: "INFO " + String(repeating: "x", count: 100))
        #expect(throws: NATSProtocolError.self) { try NATSParser(maxControlLine: 64).parseStep(&long) }
        var huge = ByteBuffer(string: "MSG a 1 999999999\r\n")
        #expect(throws: NATSProtocolError.self) { try NATSParser(maxPayload: 1024).parseStep(&huge) }
    }

    @Test func encodesCommands() {
        var buffer = ByteBuffer()
        NATSCommand.subscribe(subject: "tern.m.>", sid: 4, into: &buffer)
        NATSCommand.unsubscribe(sid: 4, into: &buffer)
        NATSCommand.publish(subject: "a", payload: Array("xy".utf8), into: &buffer)
        NATSCommand.publish(
            subject: "a",
            replyTo: "r",
            headers: NATSHeaders([("K", "v")]),
            payload: Array("xy".utf8),
            into: &buffer
        )
        #expect(
            String(buffer: buffer)
                == "SUB tern.m.> 4\r\nUNSUB 4\r\nPUB a 2\r\nxy\r\nHPUB a r 18 20\r\nNATS/1.0\r\nK: v\r\n\r\nxy\r\n"
        )
    }

    @Test func readsServerLists() {
        #expect(
            NATSServerAddress.list("nats://127.0.0.1:4222, 10.0.0.2:4223,h")
                == [
                    .init(host: "127.0.0.1", port: 4222), .init(host: "10.0.0.2", port: 4223),
                    .init(host: "h", port: 4222),
                ]
        )
        #expect(NATSServerAddress.list("http://x:1") == nil)
        #expect(NATSServerAddress.list("x:99999") == nil)
        #expect(NATSServerAddress.list("") == nil)
    }

    @Test func readsAckSubjects() {
        let old = KeyValueWatch.metadata(ackSubject: "$JS.ACK.KV_tern.c.1.7.3.1700.5")
        #expect(old?.streamSequence == 7 && old?.consumerSequence == 3 && old?.pending == 5)
        let new = KeyValueWatch.metadata(ackSubject: "$JS.ACK._.ACC.KV_tern.c.1.8.4.1700.0.abc")
        #expect(new?.streamSequence == 8 && new?.consumerSequence == 4 && new?.pending == 0)
    }
}
