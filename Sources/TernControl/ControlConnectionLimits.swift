/// What one client may hold of the control port: connections, time and header bytes. Every
/// limit has a flag in `ternd` and answers with an HTTP status and a Twilio-shaped body.
public struct ControlConnectionLimits: Sendable {
    /// Control connections open at once; past it a new connection gets 503/20503 and is closed.
    /// Kept apart from the data port's `--max-connections`, so a flood of idle HTTP clients
    /// cannot take the file descriptors the data port needs.
    public var maxConnections: Int = 512
    /// Seconds a new connection has to send a complete request head (request line and headers);
    /// 408/20408 and close otherwise (slowloris).
    public var headerTimeout: Duration = .seconds(10)
    /// Seconds a keep-alive connection may wait between requests before it is closed.
    public var idleTimeout: Duration = .seconds(60)
    /// Seconds from a request's head to the end of its body; 408/20408 and close otherwise.
    public var requestTimeout: Duration = .seconds(30)
    /// Bytes of request line and header fields together; 431/20431 past it.
    public var maxHeaderBytes: Int = 16 * 1024

    public init() {}

    public func problems() -> [String] {
        var problems: [String] = []
        if maxConnections < 1 { problems.append("control max connections must be at least 1") }
        if headerTimeout <= .zero { problems.append("control header timeout must be positive") }
        if idleTimeout <= .zero { problems.append("control idle timeout must be positive") }
        if requestTimeout <= .zero { problems.append("control request timeout must be positive") }
        if maxHeaderBytes < 1024 { problems.append("control max header must be at least 1K") }
        return problems
    }
}
