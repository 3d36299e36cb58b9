import TernWire

/// How a publisher frames one message for a given broker: `prefix`, then the payload, then
/// `suffix`. Every broker here frames a publish that way, so one publisher loop serves all.
struct BenchMessageTemplate: Equatable, Sendable {
    var prefix: [UInt8]
    var suffix: [UInt8]

    var overhead: Int { prefix.count + suffix.count }
}

/// NATS core text protocol (the commands a bench client sends).
enum NATSWire {
    /// Plain responses (no `+OK` after every command), no pedantic checks.
    static let connect = Array(#"CONNECT {"verbose":false,"pedantic":false}"#.utf8) + crlf
    static let ping = Array("PING\r\n".utf8)
    static let pong = Array("PONG\r\n".utf8)

    /// `SUB <subject> <sid>`.
    static func subscribe(subject: String, sid: Int) -> [UInt8] {
        Array("SUB \(subject) \(sid)\r\n".utf8)
    }

    /// `PUB <subject> <#bytes>\r\n` + payload + `\r\n`.
    static func publish(subject: String, payloadCount: Int) -> BenchMessageTemplate {
        BenchMessageTemplate(prefix: Array("PUB \(subject) \(payloadCount)\r\n".utf8), suffix: crlf)
    }

    static let crlf: [UInt8] = [13, 10]
}

/// Redis RESP2 (commands are arrays of bulk strings).
enum RedisWire {
    static func command(_ arguments: [String]) -> [UInt8] {
        var out = Array("*\(arguments.count)\r\n".utf8)
        for argument in arguments {
            out += Array("$\(argument.utf8.count)\r\n".utf8) + Array(argument.utf8) + [13, 10]
        }
        return out
    }

    static func subscribe(channel: String) -> [UInt8] { command(["SUBSCRIBE", channel]) }

    static let ping = command(["PING"])

    /// `PUBLISH channel payload` with the payload as the last bulk string.
    static func publish(channel: String, payloadCount: Int) -> BenchMessageTemplate {
        let head = command(["PUBLISH", channel])
        // Same command with three arguments: fix the array count, then append the payload's bulk header.
        var prefix = Array("*3\r\n".utf8) + head.dropFirst(4)
        prefix += Array("$\(payloadCount)\r\n".utf8)
        return BenchMessageTemplate(prefix: prefix, suffix: [13, 10])
    }
}

/// Tern's own frames for the bench publisher, and the bytes the ideal relay forwards.
enum TernBenchWire {
    /// An unacknowledged PUBLISH (request id 0) to `streamID`.
    static func publish(streamID: UInt32, payloadCount: Int) -> BenchMessageTemplate {
        var prefix = [UInt8](repeating: 0, count: WireLimits.headerSize + WireLimits.publishBodyOverhead)
        prefix.withUnsafeMutableBytes { raw in
            FrameHeader.write(
                length: UInt32(WireLimits.publishBodyOverhead + payloadCount),
                type: .publish,
                flags: 0,
                to: raw.baseAddress!
            )
            raw.storeBytes(of: UInt32(0).bigEndian, toByteOffset: 8, as: UInt32.self)
            raw.storeBytes(of: streamID.bigEndian, toByteOffset: 12, as: UInt32.self)
        }
        return BenchMessageTemplate(prefix: prefix, suffix: [])
    }

    /// A ready-made MESSAGE frame (sequence 0: the payload carries the real one). The relay's
    /// publisher sends these, so subscribers receive exactly the bytes a Tern subscriber would.
    static func relayMessage(streamID: UInt32, payloadCount: Int) -> BenchMessageTemplate {
        var prefix = [UInt8](repeating: 0, count: MessageFrame.prefixSize)
        prefix.withUnsafeMutableBytes {
            MessageFrame.writePrefix(streamID: streamID, sequence: 0, payloadCount: payloadCount, to: $0.baseAddress!)
        }
        return BenchMessageTemplate(prefix: prefix, suffix: [])
    }
}

/// The relay's one-byte greeting: a connection says which side it is.
enum RelayWire {
    static let subscriberHello = UInt8(ascii: "S")
    static let publisherHello = UInt8(ascii: "P")
    /// The relay's answer to a subscriber once it is registered.
    static let subscriberAccepted = UInt8(ascii: "K")
}
