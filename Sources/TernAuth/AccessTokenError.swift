/// Why an Access Token was refused. Each case maps to its own data-port error code
/// (protocol.md §4.15), so a client can tell a typo from an expiry from a revocation.
public enum AccessTokenError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Not an Access Token Tern accepts: size, base64url, JSON, header (`alg` other than HS256,
    /// `cty` other than `twilio-fpa;v=1`), a missing or ill-typed claim, another account.
    case malformed(String)
    /// The HMAC-SHA256 signature does not match the issuing key's secret.
    case badSignature
    /// `exp` (plus the allowed clock skew) has passed.
    case expired(expiredAt: Int64)
    /// `nbf` (minus the allowed clock skew) is still ahead.
    case notYetValid(validFrom: Int64)
    /// The issuer (`iss`) is no API key of this server: never created, or deleted.
    case unknownKey(String)

    public var description: String {
        switch self {
        case .malformed(let detail): return "not a valid Access Token: \(detail)"
        case .badSignature: return "the Access Token's signature does not match its key"
        case .expired(let at): return "the Access Token expired at \(at) (Unix seconds)"
        case .notYetValid(let at): return "the Access Token is not valid before \(at) (Unix seconds)"
        case .unknownKey(let sid): return "API key \(sid) does not exist or was deleted"
        }
    }
}
