import Foundation
import TernWire
import Testing

@testable import TernLoad

/// The load generator's protocol adapters, against byte sequences captured from nats-server
/// 2.9.10, redis-server 7.0.15 and protocol.md's vectors. Parsers are fed every capture whole,
/// cut at every byte boundary, and one byte at a time: the results must not change.
@Suite struct BenchAdapterTests {
    // MARK: Captures

    /// Two bench payloads: sequence 0x2a (29 bytes, the smallest) and 0x2b (67 bytes).
    static let payloadA = Array(#"{"t":"0000000abcd000000002a"}"#.utf8)
    static let payloadB = Array(#"{"t":"0000000abce000000002b","p":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}"#.utf8)

    /// What a NATS subscriber received: INFO, the PONG after CONNECT+SUB+PING, two MSGs (the
    /// second with a reply subject), then a server PING (appended).
    static let natsCapture = Array(
        (#"INFO {"server_id":"NBW6ACTRN2SEVHELLY3UQP6KA4IH2SHVIMC5Y5WZNLSNQ6GNY2VQILZB","server_name":"NBW6ACTRN2SEVHELLY3UQP6KA4IH2SHVIMC5Y5WZNLSNQ6GNY2VQILZB","version":"2.9.10","proto":1,"go":"go1.19.8","host":"127.0.0.1","port":14222,"headers":true,"max_payload":1048576,"client_id":4,"client_ip":"127.0.0.1"} "#
            + "\r\nPONG\r\nMSG bench.1 1 29\r\n" + String(decoding: payloadA, as: UTF8.self)
            + "\r\nMSG bench.1 1 reply.x 67\r\n" + String(decoding: payloadB, as: UTF8.self) + "\r\nPING\r\n").utf8
    )

    /// What a Redis subscriber received: the SUBSCRIBE confirmation, two messages, and the
    /// answer to a PING sent while subscribed.
    static let redisCapture = Array(
        ("*3\r\n$9\r\nsubscribe\r\n$7\r\nbench:1\r\n:1\r\n"
            + "*3\r\n$7\r\nmessage\r\n$7\r\nbench:1\r\n$29\r\n" + String(decoding: payloadA, as: UTF8.self) + "\r\n"
            + "*3\r\n$7\r\nmessage\r\n$7\r\nbench:1\r\n$67\r\n" + String(decoding: payloadB, as: UTF8.self) + "\r\n"
            + "*2\r\n$4\r\npong\r\n$0\r\n\r\n").utf8
    )

    /// What a Redis publisher received for PING, PUBLISH and an unknown command.
    static let redisPublisherCapture = Array(
        "+PONG\r\n:1\r\n-ERR unknown command 'FOO', with args beginning with: \r\n".utf8
    )

    /// Tern frames: protocol.md's MESSAGE vector, two bench MESSAGEs, PING, DROPPED, STREAM_ENDED.
    static let ternCapture: [UInt8] = {
        var bytes = hex("00000014 85 00 0000  00000003 0000000000000029 7b227078223a317d")
        bytes += Frame.message(.init(streamID: 3, sequence: 42, payload: payloadA)).encoded()
        bytes += Frame.ping(42).encoded()
        bytes += Frame.message(.init(streamID: 3, sequence: 43, payload: payloadB)).encoded()
        bytes += hex("0000000d 86 00 0000  00000003 00000000000003e8 01")
        bytes += hex("00000005 87 00 0000  00000003 02")
        return bytes
    }()

    // MARK: Encoders

    @Test func natsCommandsAreExact() {
        #expect(NATSWire.connect == Array("CONNECT {\"verbose\":false,\"pedantic\":false}\r\n".utf8))
        #expect(NATSWire.subscribe(subject: "bench.1", sid: 7) == Array("SUB bench.1 7\r\n".utf8))
        let publish = NATSWire.publish(subject: "bench.1", payloadCount: 2)
        #expect(publish.prefix + Array("{}".utf8) + publish.suffix == Array("PUB bench.1 2\r\n{}\r\n".utf8))
        #expect(NATSWire.ping == Array("PING\r\n".utf8))
        #expect(NATSWire.pong == Array("PONG\r\n".utf8))
    }

    @Test func redisCommandsAreExact() {
        #expect(RedisWire.subscribe(channel: "bench:1") == Array("*2\r\n$9\r\nSUBSCRIBE\r\n$7\r\nbench:1\r\n".utf8))
        let publish = RedisWire.publish(channel: "bench:1", payloadCount: 5)
        #expect(
            publish.prefix + Array("hello".utf8) + publish.suffix
                == Array("*3\r\n$7\r\nPUBLISH\r\n$7\r\nbench:1\r\n$5\r\nhello\r\n".utf8)
        )
        #expect(RedisWire.ping == Array("*1\r\n$4\r\nPING\r\n".utf8))
    }

    @Test func ternPublishMatchesTheProtocolVector() {
        let publish = TernBenchWire.publish(streamID: 3, payloadCount: 2)
        #expect(
            publish.prefix + Array("{}".utf8) + publish.suffix
                == Self.hex("0000000a 04 00 0000  00000000 00000003 7b7d")
        )
        let relay = TernBenchWire.relayMessage(streamID: 3, payloadCount: 8)
        #expect(
            relay.prefix + Array(#"{"px":1}"#.utf8)
                == Self.hex("00000014 85 00 0000  00000003 0000000000000000 7b227078223a317d")
        )
    }

    // MARK: Parsers

    @Test func natsParserSurvivesEverySplit() {
        let expected = parsedEverySplit(NATSStreamParser.self, Self.natsCapture)
        #expect(expected.messages == 2)
        #expect(expected.payloadBytes == 29 + 67)
        #expect(expected.heads == [Self.head(Self.payloadA), Self.head(Self.payloadB)])
        #expect(expected.events == [.ready, .reply(NATSWire.pong)])
    }

    @Test func redisParserSurvivesEverySplit() {
        let expected = parsedEverySplit(RedisStreamParser.self, Self.redisCapture)
        #expect(expected.messages == 2)
        #expect(expected.payloadBytes == 29 + 67)
        #expect(expected.heads == [Self.head(Self.payloadA), Self.head(Self.payloadB)])
        #expect(expected.events == [.ready])
    }

    @Test func redisPublisherRepliesAreReadyAndError() {
        let result = parsedEverySplit(RedisStreamParser.self, Self.redisPublisherCapture)
        #expect(result.messages == 0)
        #expect(result.events == [.ready, .error("ERR unknown command 'FOO', with args beginning with: ")])
    }

    @Test func ternParserSurvivesEverySplit() {
        let expected = parsedEverySplit(TernStreamParser.self, Self.ternCapture)
        #expect(expected.messages == 3)
        #expect(expected.payloadBytes == 8 + 29 + 67)
        #expect(expected.heads == [Array(#"{"px":1}"#.utf8), Self.head(Self.payloadA), Self.head(Self.payloadB)])
        #expect(expected.events == [.reply(Frame.pong(42).encoded()), .dropped(1000), .ended])
    }

    @Test func unsampledParsersCountWithoutHeads() {
        for (count, result) in [
            (2, parse(NATSStreamParser(sampling: false), [Self.natsCapture[...]])),
            (2, parse(RedisStreamParser(sampling: false), [Self.redisCapture[...]])),
            (3, parse(TernStreamParser(sampling: false), [Self.ternCapture[...]])),
        ] {
            #expect(result.messages == count)
            #expect(result.heads.isEmpty)
        }
    }

    @Test func brokenStreamsStopTheParser() {
        let natsError = Array("-ERR 'Authorization Violation'\r\nMSG a 1 2\r\n{}\r\n".utf8)
        let nats = parse(NATSStreamParser(sampling: false), [natsError[...]])
        #expect(nats.events == [.fatal("-ERR 'Authorization Violation'")])
        #expect(nats.messages == 0)

        let redis = parse(RedisStreamParser(sampling: false), [Array("?what\r\n".utf8)[...]])
        #expect(redis.events.count == 1)
        if case .fatal = redis.events.first {} else { Issue.record("expected a fatal event, got \(redis.events)") }

        let tern = parse(TernStreamParser(sampling: false), [Self.hex("00000000 7f 00 0000")[...]])
        if case .fatal = tern.events.first {} else { Issue.record("expected a fatal event, got \(tern.events)") }
    }

    // MARK: Payload

    @Test func payloadsAreJSONObjectsOfTheExactSize() throws {
        for size in [BenchPayload.minimumSize, 35, 36, 64, 1024, 4096] {
            let payload = BenchPayload.template(size: size)
            #expect(payload.count == size)
            #expect(try JSONSerialization.jsonObject(with: Data(payload)) is [String: Any], "size \(size)")
        }
    }

    @Test func payloadCarriesTimeAndSequence() {
        var payload = BenchPayload.template(size: 64)
        payload.withUnsafeMutableBytes { raw in
            BenchPayload.writeHex(
                0x1234_5678_9ab,
                width: BenchPayload.timestampWidth,
                to: raw.baseAddress! + BenchPayload.timestampOffset
            )
            BenchPayload.writeHex(
                77,
                width: BenchPayload.sequenceWidth,
                to: raw.baseAddress! + BenchPayload.sequenceOffset
            )
        }
        let read = payload.withUnsafeBytes {
            BenchPayload.read(head: UnsafeRawBufferPointer(rebasing: $0[0..<BenchPayload.headSize]))
        }
        #expect(read?.sentNanoseconds == 0x1234_5678_9ab)
        #expect(read?.sequence == 77)
        #expect(Self.payloadA.withUnsafeBytes { BenchPayload.read(head: $0)?.sequence } == 0x2a)
    }

    // MARK: Helpers

    /// Parses `bytes` whole, split at every boundary, and byte by byte; expects the same result
    /// every time and returns it.
    private func parsedEverySplit<Parser: BenchParser>(_ type: Parser.Type, _ bytes: [UInt8]) -> RecordingSink {
        let whole = parse(Parser(sampling: true), [bytes[...]])
        for cut in 0...bytes.count {
            let split = parse(Parser(sampling: true), [bytes[..<cut], bytes[cut...]])
            #expect(same(split, whole), "cut at byte \(cut)")
        }
        let byteByByte = parse(Parser(sampling: true), bytes.indices.map { bytes[$0..<$0 + 1] })
        #expect(same(byteByByte, whole), "one byte at a time")
        return whole
    }

    private func parse<Parser: BenchParser>(_ parser: Parser, _ chunks: [ArraySlice<UInt8>]) -> RecordingSink {
        var parser = parser
        var sink = RecordingSink()
        for chunk in chunks {
            // Copy each chunk on its own so a parser cannot read past it.
            let owned = Array(chunk)
            owned.withUnsafeBytes { parser.parse($0, into: &sink) }
        }
        return sink
    }

    private func same(_ a: RecordingSink, _ b: RecordingSink) -> Bool {
        a.messages == b.messages && a.payloadBytes == b.payloadBytes && a.heads == b.heads && a.events == b.events
    }

    static func head(_ payload: [UInt8]) -> [UInt8] { Array(payload.prefix(BenchPayload.headSize)) }

    static func hex(_ text: String) -> [UInt8] {
        let digits = Array(text.filter { !$0.isWhitespace }.utf8)
        return stride(from: 0, to: digits.count, by: 2).map {
            UInt8(String(decoding: digits[$0..<$0 + 2], as: UTF8.self), radix: 16)!
        }
    }
}
