/// The random 8 bytes that, with a message's sequence, form its Twilio sid
/// (`TZ` + hex(prefix ‖ sequence)). Stored as a `UInt64` whose big-endian bytes are the wire bytes.
public struct SidPrefix: Hashable, Sendable {
    public var value: UInt64

    public init(value: UInt64) { self.value = value }

    public init(bytes: UnsafeRawBufferPointer) {
        precondition(bytes.count == 8)
        value = UInt64(bigEndian: bytes.loadUnaligned(as: UInt64.self))
    }

    public static func random() -> SidPrefix {
        var generator = SystemRandomNumberGenerator()
        return SidPrefix(value: generator.next())
    }

    public func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try withUnsafeBytes(of: value.bigEndian, body)
    }

    /// The Twilio message sid of the message with this `sequence`: `TZ` + 32 lowercase hex digits.
    public func messageSid(sequence: UInt64) -> String {
        "TZ" + Hex.encode(value) + Hex.encode(sequence)
    }
}

/// Lowercase hex of fixed-width integers, as Twilio sids spell them.
public enum Hex {
    public static func encode(_ value: UInt64) -> String {
        let digits: [UInt8] = Array("0123456789abcdef".utf8)
        var out = [UInt8](repeating: 0, count: 16)
        for i in 0..<16 {
            out[i] = digits[Int((value >> UInt64(60 - 4 * i)) & 0xF)]
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Parses 16 hex digits (either case) into a `UInt64`; nil if any is not a hex digit.
    public static func decode<S: StringProtocol>(_ text: S) -> UInt64? {
        guard text.utf8.count == 16 else { return nil }
        var value: UInt64 = 0
        for byte in text.utf8 {
            let nibble: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): nibble = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): nibble = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): nibble = byte - UInt8(ascii: "A") + 10
            default: return nil
            }
            value = value << 4 | UInt64(nibble)
        }
        return value
    }
}
