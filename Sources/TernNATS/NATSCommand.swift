import NIOCore

/// The client's operations, encoded as the server reads them.
public enum NATSCommand {
    public static func connect(json: String, into buffer: inout ByteBuffer) {
        buffer.writeString("CONNECT \(json)\r\n")
    }

    public static func ping(into buffer: inout ByteBuffer) { buffer.writeString("PING\r\n") }
    public static func pong(into buffer: inout ByteBuffer) { buffer.writeString("PONG\r\n") }

    public static func subscribe(subject: String, queue: String? = nil, sid: UInt64, into buffer: inout ByteBuffer) {
        buffer.writeString("SUB \(subject) \(queue.map { $0 + " " } ?? "")\(sid)\r\n")
    }

    public static func unsubscribe(sid: UInt64, max: Int? = nil, into buffer: inout ByteBuffer) {
        buffer.writeString("UNSUB \(sid)\(max.map { " \($0)" } ?? "")\r\n")
    }

    /// `PUB`, or `HPUB` when `headers` is given.
    public static func publish(
        subject: String,
        replyTo: String? = nil,
        headers: NATSHeaders? = nil,
        payload: some Collection<UInt8>,
        into buffer: inout ByteBuffer
    ) {
        let reply = replyTo.map { $0 + " " } ?? ""
        if let headers {
            let block = headers.encoded
            buffer.writeString("HPUB \(subject) \(reply)\(block.count) \(block.count + payload.count)\r\n")
            buffer.writeBytes(block)
        } else {
            buffer.writeString("PUB \(subject) \(reply)\(payload.count)\r\n")
        }
        buffer.writeBytes(payload)
        buffer.writeString("\r\n")
    }

    /// The header line of a `PUB` whose payload the caller writes next (then CRLF).
    public static func publishHead(subject: String, payloadLength: Int, into buffer: inout ByteBuffer) {
        buffer.writeString("PUB \(subject) \(payloadLength)\r\n")
    }
}
