import NIOCore

/// Why the server's bytes could not be parsed; the connection is closed on it.
public struct NATSProtocolError: Error, Sendable, Equatable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// The server side of the NATS client protocol, parsed one operation at a time.
///
/// Pure: bytes in, operations out, no I/O. Like swift-nio's `WSParser`, a step that lacks bytes
/// returns nil without moving the buffer's reader index, so the caller appends and retries.
public struct NATSParser: Sendable {
    /// Longest control line accepted (the server's `max_control_line` is 4 KiB; INFO may be longer).
    public var maxControlLine: Int
    /// Largest payload accepted (the server's `max_payload` default is 1 MiB).
    public var maxPayload: Int

    public init(maxControlLine: Int = 64 << 10, maxPayload: Int = 64 << 20) {
        self.maxControlLine = maxControlLine
        self.maxPayload = maxPayload
    }

    /// Parses the next operation in `buffer`; nil (reader index unmoved) if it is not all there.
    public func parseStep(_ buffer: inout ByteBuffer) throws(NATSProtocolError) -> NATSServerOperation? {
        let view = buffer.readableBytesView
        guard let lineEnd = Self.lineEnd(in: view) else {
            if view.count > maxControlLine {
                throw NATSProtocolError("control line longer than \(maxControlLine) bytes")
            }
            return nil
        }
        let lineLength = lineEnd - view.startIndex
        guard lineLength <= maxControlLine else {
            throw NATSProtocolError("control line longer than \(maxControlLine) bytes")
        }
        let line = String(decoding: view[view.startIndex..<lineEnd], as: UTF8.self)
        let (verb, rest) = Self.splitVerb(line)
        switch verb {
        case "PING":
            buffer.moveReaderIndex(forwardBy: lineLength + 2)
            return .ping
        case "PONG":
            buffer.moveReaderIndex(forwardBy: lineLength + 2)
            return .pong
        case "+OK":
            buffer.moveReaderIndex(forwardBy: lineLength + 2)
            return .ok
        case "-ERR":
            buffer.moveReaderIndex(forwardBy: lineLength + 2)
            var text = Substring(rest)
            if text.hasPrefix("'") && text.hasSuffix("'") && text.count >= 2 { text = text.dropFirst().dropLast() }
            return .error(String(text))
        case "INFO":
            buffer.moveReaderIndex(forwardBy: lineLength + 2)
            return .info(rest)
        case "MSG", "HMSG":
            return try message(rest, withHeaders: verb == "HMSG", lineLength: lineLength, &buffer)
        default:
            throw NATSProtocolError("unknown operation '\(line.prefix(32))'")
        }
    }

    private func message(
        _ arguments: String,
        withHeaders: Bool,
        lineLength: Int,
        _ buffer: inout ByteBuffer
    ) throws(NATSProtocolError) -> NATSServerOperation? {
        let fields = arguments.split(separator: " ", omittingEmptySubsequences: true)
        let counts = withHeaders ? 2 : 1
        guard fields.count == 2 + counts || fields.count == 3 + counts else {
            throw NATSProtocolError("malformed \(withHeaders ? "HMSG" : "MSG") line '\(arguments.prefix(64))'")
        }
        guard let sid = UInt64(fields[1]) else { throw NATSProtocolError("bad sid '\(fields[1])'") }
        let replyTo = fields.count == 3 + counts ? String(fields[2]) : nil
        guard let total = Int(fields[fields.count - 1]), total >= 0, total <= maxPayload else {
            throw NATSProtocolError("bad or too large size '\(fields[fields.count - 1])'")
        }
        var headerLength = 0
        if withHeaders {
            guard let length = Int(fields[fields.count - 2]), length >= 0, length <= total else {
                throw NATSProtocolError("bad header size '\(fields[fields.count - 2])'")
            }
            headerLength = length
        }
        let needed = lineLength + 2 + total + 2
        guard buffer.readableBytes >= needed else { return nil }
        let bodyStart = buffer.readerIndex + lineLength + 2
        guard buffer.getBytes(at: bodyStart + total, length: 2) == [13, 10] else {
            throw NATSProtocolError("message body not followed by CRLF")
        }
        var headers: NATSHeaders?
        if withHeaders {
            guard let block = buffer.getBytes(at: bodyStart, length: headerLength),
                let parsed = NATSHeaders.parse(block)
            else { throw NATSProtocolError("malformed header block") }
            headers = parsed
        }
        let payload = buffer.getSlice(at: bodyStart + headerLength, length: total - headerLength)!
        buffer.moveReaderIndex(forwardBy: needed)
        return .message(
            NATSMessage(subject: String(fields[0]), sid: sid, replyTo: replyTo, headers: headers, payload: payload)
        )
    }

    /// Index of the CR of the first CRLF, if any.
    private static func lineEnd(in view: ByteBufferView) -> ByteBufferView.Index? {
        var index = view.startIndex
        while let cr = view[index...].firstIndex(of: 13) {
            let next = view.index(after: cr)
            guard next < view.endIndex else { return nil }
            if view[next] == 10 { return cr }
            index = next
        }
        return nil
    }

    /// The operation name (upper-cased) and what follows it after one run of spaces or tabs.
    private static func splitVerb(_ line: String) -> (String, String) {
        guard let space = line.firstIndex(where: { $0 == " " || $0 == "\t" }) else { return (line.uppercased(), "") }
        let rest = line[space...].drop { $0 == " " || $0 == "\t" }
        return (line[..<space].uppercased(), String(rest))
    }
}
