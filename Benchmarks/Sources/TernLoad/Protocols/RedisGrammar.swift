import Glibc

/// Redis RESP2 as a subscribed client (or a publisher) receives it:
///
///     *3\r\n$7\r\nmessage\r\n$<n>\r\n<channel>\r\n$<n>\r\n<payload>\r\n     (a published message)
///     *3\r\n$9\r\nsubscribe\r\n$<n>\r\n<channel>\r\n:<count>\r\n             (SUBSCRIBE confirmed)
///     :<n>\r\n  +PONG\r\n  -ERR …\r\n                                         (replies)
///
/// Each push is scanned in place up to its payload, which the scanner then skips unread (but for
/// the sampled head).
struct RedisGrammar: ScanGrammar {
    /// Reads `<digits>\r\n` (optionally negative) at `offset`; returns the value and the offset after it.
    @inline(__always)
    private func number(_ start: UnsafeRawPointer, _ available: Int, at offset: Int) -> (value: Int, next: Int)?? {
        var index = offset
        var negative = false
        if index < available && start.load(fromByteOffset: index, as: UInt8.self) == UInt8(ascii: "-") {
            negative = true
            index += 1
        }
        var value = 0
        var digits = 0
        while index < available {
            let byte = start.load(fromByteOffset: index, as: UInt8.self)
            let digit = byte &- UInt8(ascii: "0")
            if digit < 10 {
                value = value &* 10 &+ Int(digit)
                digits += 1
                index += 1
                continue
            }
            guard byte == 13, digits > 0, digits <= 18 else { return .some(nil) }
            guard index + 1 < available else { return nil }
            guard start.load(fromByteOffset: index + 1, as: UInt8.self) == 10 else { return .some(nil) }
            return (negative ? -value : value, index + 2)
        }
        return nil
    }

    /// Offset just past the next "\r\n" at or after `offset`, nil if not there yet.
    @inline(__always)
    private func lineEnd(_ start: UnsafeRawPointer, _ available: Int, from offset: Int) -> Int? {
        guard offset < available, let newline = memchr(start + offset, 10, available - offset) else { return nil }
        return UnsafeRawPointer(newline) - start + 1
    }

    private static let messageKind = Array("message".utf8)
    private static let subscribeKind = Array("subscribe".utf8)

    func scan(_ start: UnsafeRawPointer, _ available: Int) -> ScanStep {
        guard available > 0 else { return .needMore }
        let type = start.load(as: UInt8.self)
        switch type {
        case UInt8(ascii: "*"):
            return scanArray(start, available)
        case UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: ":"):
            guard let end = lineEnd(start, available, from: 1) else { return .needMore }
            let text = String(decoding: UnsafeRawBufferPointer(start: start + 1, count: max(0, end - 3)), as: UTF8.self)
            switch type {
            case UInt8(ascii: "+"): return .other(size: end, event: text == "PONG" ? .ready : nil)
            case UInt8(ascii: "-"): return .other(size: end, event: .error(text))
            default: return .other(size: end, event: nil)
            }
        case UInt8(ascii: "$"):
            guard let header = number(start, available, at: 1) else { return .needMore }
            guard let (length, next) = header else { return .invalid("bad bulk length") }
            let size = length < 0 ? next : next + length + 2
            return available >= size ? .other(size: size, event: nil) : .needMore
        default:
            return .invalid("unexpected RESP type byte \(type)")
        }
    }

    /// A push: an array of bulk strings and integers. Returns `.message` as soon as the payload's
    /// bulk header is in; anything else only when complete.
    private func scanArray(_ start: UnsafeRawPointer, _ available: Int) -> ScanStep {
        guard let header = number(start, available, at: 1) else { return .needMore }
        guard let (elements, afterHeader) = header, elements >= 0 else { return .invalid("bad array length") }
        var offset = afterHeader
        var kind: Int = 0  // 1 message, 2 subscribe
        for element in 0..<elements {
            guard offset < available else { return .needMore }
            let type = start.load(fromByteOffset: offset, as: UInt8.self)
            if type == UInt8(ascii: ":") {
                guard let value = number(start, available, at: offset + 1) else { return .needMore }
                guard let (_, next) = value else { return .invalid("bad integer") }
                offset = next
                continue
            }
            guard type == UInt8(ascii: "$") else { return .invalid("unexpected element type \(type) in a push") }
            guard let bulk = number(start, available, at: offset + 1) else { return .needMore }
            guard let (length, bodyStart) = bulk else { return .invalid("bad bulk length") }
            if length < 0 {
                offset = bodyStart
                continue
            }
            if kind == 1 && element == 2 {
                return .message(payloadStart: bodyStart, payloadCount: length, trailerCount: 2)
            }
            guard available >= bodyStart + length + 2 else { return .needMore }
            if element == 0 {
                let body = UnsafeRawBufferPointer(start: start + bodyStart, count: length)
                if body.elementsEqual(Self.messageKind) {
                    kind = 1
                } else if body.elementsEqual(Self.subscribeKind) {
                    kind = 2
                }
            }
            offset = bodyStart + length + 2
        }
        return .other(size: offset, event: kind == 2 ? .ready : nil)
    }
}

/// Redis's parser: pushes scanned in place, payloads skipped.
typealias RedisStreamParser = IncrementalScanner<RedisGrammar>
