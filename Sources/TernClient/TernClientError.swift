import Glibc
import TernWire

/// Everything the client library throws.
///
/// Server refusals keep the protocol's `ErrorCode` so callers can branch on it
/// (`catch TernClientError.server(let error) where error.code == .streamNotFound`).
public enum TernClientError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The data port answered a request (or the connection) with ERROR.
    case server(Frame.ErrorFrame)
    /// The control port answered with a non-2xx status. `code` is the Twilio error code from the
    /// body (`{code, message, more_info, status}`) when there was one.
    case http(status: Int, code: Int?, message: String)
    /// The peer closed the connection, or this side already did.
    case connectionClosed(String)
    /// No answer within the allowed time.
    case timedOut(String)
    /// A system call failed.
    case system(call: String, errno: Int32)
    /// The peer sent bytes that break the protocol (data port) or HTTP (control port).
    case protocolViolation(String)
    /// An address, URL or argument the client cannot use.
    case invalidArgument(String)
    /// The stream of a subscription ended (deleted or expired): no more events come.
    case streamEnded(streamSid: String, reason: StreamEndReason)

    /// The data-port error code, when the server sent one.
    public var errorCode: ErrorCode? {
        if case .server(let frame) = self { return frame.code }
        return nil
    }

    public var description: String {
        switch self {
        case .server(let frame):
            return "\(frame.code.name) (\(frame.code.rawValue))\(frame.fatal ? " [fatal]" : ""): \(frame.message)"
        case .http(let status, let code, let message):
            return "HTTP \(status)\(code.map { " (code \($0))" } ?? ""): \(message)"
        case .connectionClosed(let detail): return "connection closed: \(detail)"
        case .timedOut(let detail): return "timed out: \(detail)"
        case .system(let call, let errno): return "\(call): \(String(cString: strerror(errno)))"
        case .protocolViolation(let detail): return "protocol violation: \(detail)"
        case .invalidArgument(let detail): return "invalid argument: \(detail)"
        case .streamEnded(let sid, let reason): return "stream \(sid) ended: \(reason)"
        }
    }
}
