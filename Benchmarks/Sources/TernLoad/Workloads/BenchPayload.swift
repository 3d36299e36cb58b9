/// The bench message: a JSON object of exactly `size` bytes carrying its send time and its
/// per-stream sequence as fixed-width hex at a fixed offset, so a receiver reads both without
/// parsing JSON, whichever broker carried it:
///
///     {"t":"TTTTTTTTTTTSSSSSSSSSS","p":"xxxx…"}     (size ≥ 36)
///     {"t":"TTTTTTTTTTTSSSSSSSSSS"   }               (29 ≤ size < 36: padded with spaces)
///
/// `T` is the send time in ns since `BenchClock.epoch` (11 hex digits: 4.8 hours), `S` the
/// message's sequence on its stream, from 1 (10 hex digits). Publisher and receivers run in the
/// same process, so they share the epoch.
public enum BenchPayload {
    /// Offset of the first timestamp digit (after `{"t":"`).
    static let timestampOffset = 6
    static let timestampWidth = 11
    static let sequenceOffset = timestampOffset + timestampWidth
    static let sequenceWidth = 10
    /// Bytes of payload a receiver needs to read time and sequence.
    static let headSize = sequenceOffset + sequenceWidth
    /// `{"t":"` + 21 digits + `"}`.
    public static let minimumSize = headSize + 2
    /// `,"p":""`: the smallest padding field.
    private static let paddingFieldOverhead = 7

    /// A payload with zero time and sequence; the publisher patches both in place.
    static func template(size: Int) -> [UInt8] {
        precondition(size >= minimumSize)
        var text = Array(#"{"t":""#.utf8) + [UInt8](repeating: UInt8(ascii: "0"), count: timestampWidth + sequenceWidth)
        text.append(UInt8(ascii: "\""))
        let room = size - text.count - 1
        if room >= paddingFieldOverhead {
            text += Array(#","p":""#.utf8)
            text += [UInt8](repeating: UInt8(ascii: "x"), count: room - paddingFieldOverhead)
            text.append(UInt8(ascii: "\""))
        } else {
            text += [UInt8](repeating: UInt8(ascii: " "), count: room)
        }
        text.append(UInt8(ascii: "}"))
        return text
    }

    /// Writes `value` as `width` lowercase hex digits (the low bits; higher ones are cut).
    @inline(__always)
    static func writeHex(_ value: UInt64, width: Int, to destination: UnsafeMutableRawPointer) {
        var rest = value
        var index = width - 1
        while index >= 0 {
            destination.storeBytes(of: hexDigits[Int(rest & 0xF)], toByteOffset: index, as: UInt8.self)
            rest >>= 4
            index -= 1
        }
    }

    /// Reads `width` hex digits; nil if any byte is not a lowercase hex digit (not a bench message).
    @inline(__always)
    static func readHex(_ source: UnsafeRawPointer, width: Int) -> UInt64? {
        var value: UInt64 = 0
        for index in 0..<width {
            let byte = source.load(fromByteOffset: index, as: UInt8.self)
            let nibble: UInt8
            if byte &- UInt8(ascii: "0") < 10 {
                nibble = byte &- UInt8(ascii: "0")
            } else if byte &- UInt8(ascii: "a") < 6 {
                nibble = byte &- UInt8(ascii: "a") &+ 10
            } else {
                return nil
            }
            value = value << 4 | UInt64(nibble)
        }
        return value
    }

    /// Time and sequence from the first `headSize` bytes of a payload; nil for a foreign message.
    static func read(head: UnsafeRawBufferPointer) -> (sentNanoseconds: UInt64, sequence: UInt64)? {
        guard head.count >= headSize, let base = head.baseAddress,
            let time = readHex(base + timestampOffset, width: timestampWidth),
            let sequence = readHex(base + sequenceOffset, width: sequenceWidth)
        else { return nil }
        return (time, sequence)
    }

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)
}

/// The clock bench payloads are stamped with: CLOCK_MONOTONIC ns since this process started
/// benchmarking.
enum BenchClock {
    static let epoch = MonotonicClock.nanoseconds()

    @inline(__always)
    static func now() -> UInt64 { MonotonicClock.nanoseconds() &- epoch }
}
