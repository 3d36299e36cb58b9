import NIOCore

/// One message delivered by the server (`MSG` or `HMSG`).
public struct NATSMessage: Sendable {
    public var subject: String
    /// The subscription id it was delivered for.
    public var sid: UInt64
    public var replyTo: String?
    /// Present for `HMSG`, nil for `MSG`.
    public var headers: NATSHeaders?
    public var payload: ByteBuffer

    public init(subject: String, sid: UInt64, replyTo: String?, headers: NATSHeaders?, payload: ByteBuffer) {
        self.subject = subject
        self.sid = sid
        self.replyTo = replyTo
        self.headers = headers
        self.payload = payload
    }

    /// The payload's bytes.
    public var bytes: [UInt8] { Array(payload.readableBytesView) }
}

/// What the server sends, one operation per control line.
public enum NATSServerOperation: Sendable {
    /// `INFO {json}`: the JSON text as sent.
    case info(String)
    case message(NATSMessage)
    case ping
    case pong
    case ok
    /// `-ERR 'text'`: the text without quotes.
    case error(String)
}
