/// Error codes of protocol.md, section 5. Codes below 100 close the connection.
public enum ErrorCode: UInt16, Sendable, CaseIterable {
    case malformedFrame = 1
    case frameTooLarge = 2
    case unknownFrameType = 3
    case helloRequired = 4
    case unexpectedFrame = 5
    case unsupportedVersion = 6
    case handshakeTimeout = 7
    case idleTimeout = 8
    case tooManyConnections = 9
    case authFailed = 10
    case tokenInvalid = 11
    case tokenSignatureInvalid = 12
    case tokenExpired = 13
    case tokenNotYetValid = 14
    case keyRevoked = 15
    case streamNotFound = 100
    case notSubscribed = 101
    case alreadySubscribed = 102
    case tooManySubscriptions = 103
    case payloadTooLarge = 104
    case invalidPayload = 105
    case invalidStreamName = 106
    case rateLimited = 107
    case resumeAhead = 108
    case serviceNotGranted = 112
    case subscribeNotGranted = 113
    case publishNotGranted = 114
    case refreshRefused = 115
    /// Version 3: SUBSCRIBE_SHARED over TCP, or on a server that has shared memory off.
    case sharedMemoryUnavailable = 120
    /// Version 3: RING_LOSS for a stream the connection does not hold mapped.
    case notMapped = 121

    /// Connection-level errors end the connection; request-level errors do not. The token codes
    /// 11–15 are request-level (FATAL clear) when they answer a REFRESH_TOKEN.
    public var isFatal: Bool { rawValue < 100 }

    /// The name protocol.md uses, e.g. `STREAM_NOT_FOUND`.
    public var name: String {
        switch self {
        case .malformedFrame: return "MALFORMED_FRAME"
        case .frameTooLarge: return "FRAME_TOO_LARGE"
        case .unknownFrameType: return "UNKNOWN_FRAME_TYPE"
        case .helloRequired: return "HELLO_REQUIRED"
        case .unexpectedFrame: return "UNEXPECTED_FRAME"
        case .unsupportedVersion: return "UNSUPPORTED_VERSION"
        case .handshakeTimeout: return "HANDSHAKE_TIMEOUT"
        case .idleTimeout: return "IDLE_TIMEOUT"
        case .tooManyConnections: return "TOO_MANY_CONNECTIONS"
        case .authFailed: return "AUTH_FAILED"
        case .tokenInvalid: return "TOKEN_INVALID"
        case .tokenSignatureInvalid: return "TOKEN_SIGNATURE_INVALID"
        case .tokenExpired: return "TOKEN_EXPIRED"
        case .tokenNotYetValid: return "TOKEN_NOT_YET_VALID"
        case .keyRevoked: return "KEY_REVOKED"
        case .streamNotFound: return "STREAM_NOT_FOUND"
        case .notSubscribed: return "NOT_SUBSCRIBED"
        case .alreadySubscribed: return "ALREADY_SUBSCRIBED"
        case .tooManySubscriptions: return "TOO_MANY_SUBSCRIPTIONS"
        case .payloadTooLarge: return "PAYLOAD_TOO_LARGE"
        case .invalidPayload: return "INVALID_PAYLOAD"
        case .invalidStreamName: return "INVALID_STREAM_NAME"
        case .rateLimited: return "RATE_LIMITED"
        case .resumeAhead: return "RESUME_AHEAD"
        case .serviceNotGranted: return "SERVICE_NOT_GRANTED"
        case .subscribeNotGranted: return "SUBSCRIBE_NOT_GRANTED"
        case .publishNotGranted: return "PUBLISH_NOT_GRANTED"
        case .refreshRefused: return "REFRESH_REFUSED"
        case .sharedMemoryUnavailable: return "SHARED_MEMORY_UNAVAILABLE"
        case .notMapped: return "NOT_MAPPED"
        }
    }
}

/// Why bytes could not be decoded: the code to send back and a short detail for the ERROR frame.
public struct WireError: Error, Equatable, Sendable, CustomStringConvertible {
    public var code: ErrorCode
    public var message: String

    public init(_ code: ErrorCode, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.name): \(message)" }
}
