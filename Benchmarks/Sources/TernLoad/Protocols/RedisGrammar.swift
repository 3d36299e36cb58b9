import CTernShims
import Glibc

/// Redis RESP2 as a subscribed client (or a publisher) receives it:
///
///     *3\r\n$7\r\nmessage\r\n$<n>\r\n<channel>\r\n$<n>\r\n<payload>\r\n     (a published message)
///     *3\r\n$9\r\nsubscribe\r\n$<n>\r\n<channel>\r\n:<count>\r\n             (SUBSCRIBE confirmed)
///     :<n>\r\n  +PONG\r\n  -ERR …\r\n                                         (replies)
///
/// Each push is scanned in place up to its payload, which is then skipped unread (but for the
/// sampled head).
struct RedisStreamParser: BenchParser {
    let sampling: Bool
    /// Payload and trailing CRLF bytes of the current message still to skip.
    private var skip = 0
    /// The start of a push or reply cut by the end of the previous input.
    private var pending: [UInt8] = []
    private var failed = false

    init(sampling: Bool) {
        self.sampling = sampling
    }

    private enum Scan {
        case needMore
        /// A `message` push; the payload starts at `payloadStart`.
        case message(payloadStart: Int, payloadCount: Int)
        /// A complete push or reply of `size` bytes that is not a message.
        case other(size: Int, event: BenchEvent?)
        case invalid(String)
    }

    mutating func parse<Sink: BenchSink>(_ bytes: UnsafeRawBufferPointer, into sink: inout Sink) {
        guard !failed, let base = bytes.baseAddress, bytes.count > 0 else { return }
        let count = bytes.count
        var offset = 0
        if skip > 0 {
            offset = min(skip, count)
            skip -= offset
            if offset == count { return }
        }
        if !pending.isEmpty {
            var held: [UInt8] = []
            swap(&held, &pending)
            var size = 0
            while true {
                let scan = held.withUnsafeBytes { self.scan($0.baseAddress!, $0.count) }
                if case .needMore = scan {
                    guard held.count < BenchParserLimits.maxControlBytes else {
                        return fail("reply longer than \(BenchParserLimits.maxControlBytes) bytes", &sink)
                    }
                    if offset == count {
                        pending = held
                        return
                    }
                    let take = min(64, count - offset)
                    held.append(contentsOf: UnsafeRawBufferPointer(start: base + offset, count: take))
                    offset += take
                    continue
                }
                size = held.withUnsafeBytes { handle(scan, at: $0.baseAddress!, &sink) }
                break
            }
            if failed { return }
            offset -= held.count - size
            if offset > count {
                skip = offset - count
                offset = count
            }
            held.removeAll(keepingCapacity: true)
            pending = held
            if skip > 0 || offset == count { return }
        }
        while offset < count {
            let scan = self.scan(base + offset, count - offset)
            if case .needMore = scan { break }
            let size = handle(scan, at: base + offset, &sink)
            if failed { return }
            if size > count - offset {
                skip = size - (count - offset)
                return
            }
            offset += size
        }
        if offset < count {
            pending.append(contentsOf: UnsafeRawBufferPointer(start: base + offset, count: count - offset))
        }
    }

    /// Reports a scanned push; returns its total size in bytes.
    private mutating func handle<Sink: BenchSink>(_ scan: Scan, at start: UnsafeRawPointer, _ sink: inout Sink) -> Int {
        switch scan {
        case .needMore:
            return 0
        case .message(let payloadStart, let payloadCount):
            sink.message(payloadCount: payloadCount)
            if sampling {
                sink.payloadHead(
                    UnsafeRawBufferPointer(
                        start: start + payloadStart, count: min(payloadCount, BenchPayload.headSize)))
            }
            return payloadStart + payloadCount + 2
        case .other(let size, let event):
            if let event {
                if case .fatal(let reason) = event { fail(reason, &sink) } else { sink.event(event) }
            }
            return size
        case .invalid(let reason):
            fail(reason, &sink)
            return 0
        }
    }

    // MARK: Scanning

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

    private func scan(_ start: UnsafeRawPointer, _ available: Int) -> Scan {
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
    /// bulk header (and the sampled head) is in; anything else only when complete.
    private func scanArray(_ start: UnsafeRawPointer, _ available: Int) -> Scan {
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
                let needed = bodyStart + (sampling ? min(length, BenchPayload.headSize) : 0)
                return available >= needed ? .message(payloadStart: bodyStart, payloadCount: length) : .needMore
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

    private mutating func fail<Sink: BenchSink>(_ reason: String, _ sink: inout Sink) {
        failed = true
        pending = []
        sink.event(.fatal(reason))
    }
}
