/// The bench message: a JSON object of exactly `size` bytes whose send time (CLOCK_MONOTONIC ns,
/// 20 zero-padded decimal digits) sits at a fixed offset, so the receiver reads it without
/// parsing JSON:
///
///     {"ts":"00000001234567890123","p":"xxxx…"}     (size ≥ 36)
///     {"ts":"00000001234567890123"   }               (29 ≤ size < 36: padded with spaces)
struct FanoutPayload {
    /// Offset of the first timestamp digit within the payload (after `{"ts":"`).
    static let timestampOffset = 7
    static let timestampWidth = 20
    /// `{"ts":"` + 20 digits + `"}`.
    static let minimumSize = timestampOffset + timestampWidth + 2
    /// `,"p":""`: the smallest padding field.
    private static let paddingFieldOverhead = 7

    private(set) var bytes: [UInt8]

    init(size: Int) {
        precondition(size >= Self.minimumSize)
        var text = Array(#"{"ts":""#.utf8) + Array(repeating: UInt8(ascii: "0"), count: Self.timestampWidth) + [34]
        let room = size - text.count - 1
        if room >= Self.paddingFieldOverhead {
            text += Array(#","p":""#.utf8)
            text += Array(repeating: UInt8(ascii: "x"), count: room - Self.paddingFieldOverhead)
            text.append(34)
        } else {
            text += Array(repeating: UInt8(ascii: " "), count: room)
        }
        text.append(UInt8(ascii: "}"))
        bytes = text
    }

    /// Writes `nanoseconds` into the timestamp digits.
    mutating func stamp(_ nanoseconds: UInt64) {
        bytes.withUnsafeMutableBytes { Self.writeDigits(nanoseconds, to: $0.baseAddress! + Self.timestampOffset) }
    }

    static func writeDigits(_ value: UInt64, to destination: UnsafeMutableRawPointer) {
        var rest = value
        for index in stride(from: timestampWidth - 1, through: 0, by: -1) {
            destination.storeBytes(of: UInt8(ascii: "0") + UInt8(rest % 10), toByteOffset: index, as: UInt8.self)
            rest /= 10
        }
    }

    /// Reads the timestamp digits at `source`; nil if any byte is not a digit (not a bench message).
    @inline(__always)
    static func readDigits(at source: UnsafeRawPointer) -> UInt64? {
        var value: UInt64 = 0
        for index in 0..<timestampWidth {
            let digit = source.load(fromByteOffset: index, as: UInt8.self) &- UInt8(ascii: "0")
            guard digit < 10 else { return nil }
            value = value &* 10 &+ UInt64(digit)
        }
        return value
    }
}
