import TernWire

/// Everything the broker core refuses, with enough detail for both ports to answer precisely:
/// the control API maps these to Twilio error bodies, the data port to ERROR frames.
public enum BrokerError: Error, Equatable, Sendable, CustomStringConvertible {
    case serviceNotFound(String)
    case streamNotFound(String)
    case uniqueNameTaken(String)
    case invalidUniqueName(String)
    case invalidTtl(String)
    case payloadTooLarge(size: Int, limit: Int)
    case invalidPayload
    case rateLimited(perSecond: Double)
    /// The store refused a change; nothing was changed.
    case storageFailed(String)
    /// Limits given to `reload(limits:)` that cannot work.
    case invalidLimits(String)
    case keyNotFound(String)
    case invalidFriendlyName(String)
    /// Cluster mode: the NATS backbone is unreachable, so no registry change can be made.
    case backboneUnavailable(String)

    /// The data-port error code for this error.
    public var wireCode: ErrorCode {
        switch self {
        case .serviceNotFound, .streamNotFound: return .streamNotFound
        case .uniqueNameTaken, .invalidUniqueName, .invalidTtl: return .invalidStreamName
        case .payloadTooLarge: return .payloadTooLarge
        case .invalidPayload: return .invalidPayload
        case .rateLimited: return .rateLimited
        case .storageFailed, .invalidLimits, .keyNotFound, .invalidFriendlyName, .backboneUnavailable:
            return .streamNotFound
        }
    }

    public var description: String { message }

    public var message: String {
        switch self {
        case .serviceNotFound(let sid): return "Service \(sid) not found"
        case .streamNotFound(let key): return "Stream \(key) not found"
        case .uniqueNameTaken(let name): return "Unique name \(name) already exists"
        case .invalidUniqueName(let why): return "Invalid unique name: \(why)"
        case .invalidTtl(let why): return "Invalid Ttl: \(why)"
        case .payloadTooLarge(let size, let limit):
            return "Message data of \(size) bytes exceeds the limit of \(limit) bytes"
        case .invalidPayload: return "Message data must be a JSON object"
        case .rateLimited(let rate): return "Stream publish rate exceeded (\(rate) messages per second)"
        case .storageFailed(let why): return "Storage failed: \(why)"
        case .invalidLimits(let why): return "Invalid limits: \(why)"
        case .keyNotFound(let sid): return "The requested resource /Keys/\(sid) was not found"
        case .invalidFriendlyName(let why): return why
        case .backboneUnavailable(let why):
            return "Service unavailable: the cluster backbone is unreachable (\(why)); retry later"
        }
    }
}
