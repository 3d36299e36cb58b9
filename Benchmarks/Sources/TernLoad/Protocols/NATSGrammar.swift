import Glibc

/// NATS core server-to-client protocol: `MSG <subject> <sid> [reply-to] <#bytes>\r\n<payload>\r\n`
/// (and `HMSG`, whose last number is the total size), plus `INFO`, `PING`, `PONG`, `+OK`, `-ERR`.
///
/// A line is found with `memchr`, a message's byte count read backwards from the line end; the
/// payload is skipped without being looked at, except for the sampled head.
struct NATSGrammar: ScanGrammar {
    func scan(_ start: UnsafeRawPointer, _ available: Int) -> ScanStep {
        guard let newline = memchr(start, 10, available) else { return .needMore }
        let lineSize = UnsafeRawPointer(newline) - start + 1
        let first = start.load(as: UInt8.self)
        guard first == UInt8(ascii: "M") || first == UInt8(ascii: "H") else {
            return .other(size: lineSize, event: Self.event(UnsafeRawBufferPointer(start: start, count: lineSize)))
        }
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
        return .message(payloadStart: lineSize, payloadCount: value, trailerCount: 2)
    }

    /// What a control line means to a bench client.
    private static func event(_ line: UnsafeRawBufferPointer) -> BenchEvent? {
        if line.starts(with: "PING".utf8) { return .reply(NATSWire.pong) }
        if line.starts(with: "PONG".utf8) { return .ready }
        // NATS closes the connection after most -ERR lines; the bench treats them all as fatal.
        if line.starts(with: "-ERR".utf8) { return .fatal(String(decoding: line.dropLast(2), as: UTF8.self)) }
        return nil
    }
}

/// NATS's parser: MSG lines scanned in place, payloads skipped.
typealias NATSStreamParser = IncrementalScanner<NATSGrammar>
