import TernWire
import Testing

/// Helpers shared by the codec tests: hex spelling and "split then decode" over byte arrays.

/// Bytes from hex digits; spaces and newlines are ignored (as in protocol.md's vectors).
/// Returns nil for an odd digit count or a character that is not a hex digit.
func bytes(hex text: String) -> [UInt8]? {
    let digits = text.utf8.filter { $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "\n") }
    guard digits.count % 2 == 0 else { return nil }
    var out: [UInt8] = []
    out.reserveCapacity(digits.count / 2)
    var index = 0
    while index < digits.count {
        guard let high = nibble(digits[index]), let low = nibble(digits[index + 1]) else { return nil }
        out.append(high << 4 | low)
        index += 2
    }
    return out
}

private func nibble(_ digit: UInt8) -> UInt8? {
    switch digit {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): return digit - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): return digit - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): return digit - UInt8(ascii: "A") + 10
    default: return nil
    }
}

/// Lowercase hex of `bytes`, for readable failure messages.
func hexString(_ bytes: [UInt8]) -> String {
    let digits = Array("0123456789abcdef")
    return String(bytes.flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 0xF)]] })
}

/// The default `max_frame_body` (protocol.md, section 6).
let defaultMaxFrameBody = 8192

/// What the splitter and decoder make of `bytes`, which should hold exactly one frame.
enum SplitOutcome: Equatable {
    /// One complete frame that spans all of `bytes`.
    case frame(Frame)
    /// The splitter wants more bytes.
    case incomplete
    /// A complete frame was found, but `bytes` continues after it.
    case leftover(Frame, extra: Int)
}

/// Runs `bytes` through `FrameSplitter` and `Frame.decode`, the way a connection does.
func splitAndDecode(_ bytes: [UInt8], maxBody: Int = defaultMaxFrameBody) throws -> SplitOutcome {
    let splitter = FrameSplitter(maxBody: maxBody)
    return try bytes.withUnsafeBytes { buffer in
        guard let slice = try splitter.next(in: buffer, at: 0) else { return .incomplete }
        let body = UnsafeRawBufferPointer(rebasing: buffer[slice.bodyStart..<slice.end])
        let frame = try Frame.decode(header: slice.header, body: body)
        return slice.end == buffer.count ? .frame(frame) : .leftover(frame, extra: buffer.count - slice.end)
    }
}

/// A frame's bytes with a different body: same type and flags, header `length` adjusted.
func reframed(_ frame: [UInt8], body: [UInt8]) -> [UInt8] {
    var out = withUnsafeBytes(of: UInt32(body.count).bigEndian) { Array($0) }
    out += frame[4..<8]
    out += body
    return out
}

/// The error a throwing expression raised, as a `WireError`; nil if it did not throw one.
/// A non-`WireError` is recorded as a test failure.
func wireError<T>(_ body: () throws -> T) -> WireError? {
    do {
        _ = try body()
        return nil
    } catch let error as WireError {
        return error
    } catch {
        Issue.record("expected a WireError, got \(error)")
        return nil
    }
}
