import CTernShims
import Glibc

/// NATS core server-to-client protocol: `MSG <subject> <sid> [reply-to] <#bytes>\r\n<payload>\r\n`
/// (and `HMSG`, whose last number is the total size), plus `INFO`, `PING`, `PONG`, `+OK`, `-ERR`.
///
/// A MSG line is found with `memchr`, its byte count read backwards from the line end; the payload
/// is skipped without being looked at, except for the sampled head.
struct NATSStreamParser: BenchParser {
    let sampling: Bool
    /// Payload and trailing CRLF bytes of the current message still to skip.
    private var skip = 0
    /// The start of a message or control line cut by the end of the previous input.
    private var pending: [UInt8] = []
    private var failed = false

    init(sampling: Bool) {
        self.sampling = sampling
    }

    /// What a line (and, for messages, the bytes after it) amounts to.
    private enum Scan {
        case needMore
        /// A message: its line is `lineSize` bytes (LF included); the payload follows.
        case message(lineSize: Int, payloadCount: Int)
        /// Any other line, `lineSize` bytes long.
        case control(lineSize: Int)
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
            // Grow the cut line (plus sampled head) from the new bytes until it can be handled.
            var held: [UInt8] = []
            swap(&held, &pending)
            var consumedTotal = 0
            while true {
                let scan = held.withUnsafeBytes { scanLine($0.baseAddress!, $0.count) }
                if case .needMore = scan {
                    guard held.count < BenchParserLimits.maxControlBytes else {
                        return fail("control line longer than \(BenchParserLimits.maxControlBytes) bytes", &sink)
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
                consumedTotal = held.withUnsafeBytes { handle(scan, at: $0.baseAddress!, $0.count, &sink) }
                break
            }
            if failed { return }
            // `consumedTotal` may exceed what was held (the payload continues in the new bytes),
            // or fall short of it (the held bytes ran past the message): rewind or skip.
            let surplus = held.count - consumedTotal
            offset -= surplus
            if offset > count {
                skip = offset - count
                offset = count
            }
            held.removeAll(keepingCapacity: true)
            pending = held
            if skip > 0 || offset == count { return }
        }
        while offset < count {
            let scan = scanLine(base + offset, count - offset)
            if case .needMore = scan { break }
            let size = handle(scan, at: base + offset, count - offset, &sink)
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

    /// Looks at the line starting at `start` (and, for a sampled message, at its payload head).
    private func scanLine(_ start: UnsafeRawPointer, _ available: Int) -> Scan {
        guard let newline = memchr(start, 10, available) else { return .needMore }
        let lineSize = UnsafeRawPointer(newline) - start + 1
        let first = start.load(as: UInt8.self)
        guard first == UInt8(ascii: "M") || first == UInt8(ascii: "H") else { return .control(lineSize: lineSize) }
        // The byte count is the last token: read it backwards from before "\r\n".
        var end = lineSize - 1
        if end > 0 && start.load(fromByteOffset: end - 1, as: UInt8.self) == 13 { end -= 1 }
        var index = end - 1
        var value = 0
        var scale = 1
        while index >= 0 {
            let digit = start.load(fromByteOffset: index, as: UInt8.self) &- UInt8(ascii: "0")
            if digit >= 10 { break }
            value += Int(digit) * scale
            scale *= 10
            index -= 1
        }
        guard index < end - 1, index > 0, start.load(fromByteOffset: index, as: UInt8.self) == 32 else {
            return .invalid("bad message line")
        }
        if sampling && available < lineSize + min(value, BenchPayload.headSize) { return .needMore }
        return .message(lineSize: lineSize, payloadCount: value)
    }

    /// Reports what `scan` found; returns the bytes the line and its payload (with CRLF) occupy.
    private mutating func handle<Sink: BenchSink>(
        _ scan: Scan, at start: UnsafeRawPointer, _ available: Int, _ sink: inout Sink
    ) -> Int {
        switch scan {
        case .needMore:
            return 0
        case .message(let lineSize, let payloadCount):
            sink.message(payloadCount: payloadCount)
            if sampling {
                sink.payloadHead(
                    UnsafeRawBufferPointer(start: start + lineSize, count: min(payloadCount, BenchPayload.headSize)))
            }
            return lineSize + payloadCount + 2
        case .control(let lineSize):
            let line = UnsafeRawBufferPointer(start: start, count: lineSize)
            if line.starts(with: "PING".utf8) {
                sink.event(.reply(NATSWire.pong))
            } else if line.starts(with: "PONG".utf8) {
                sink.event(.ready)
            } else if line.starts(with: "-ERR".utf8) {
                let text = String(decoding: line.dropLast(2), as: UTF8.self)
                // NATS closes the connection after most -ERR lines; the bench treats them all as fatal.
                fail(text, &sink)
            }
            return lineSize
        case .invalid(let reason):
            fail(reason, &sink)
            return 0
        }
    }

    private mutating func fail<Sink: BenchSink>(_ reason: String, _ sink: inout Sink) {
        failed = true
        pending = []
        sink.event(.fatal(reason))
    }
}
