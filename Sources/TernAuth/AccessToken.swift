#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A Twilio Access Token as Tern reads it: a JWT signed with HS256 by an API key, carrying a
/// Sync grant, as `twilio.jwt.access_token.AccessToken` with a `SyncGrant` mints it.
///
/// ```
/// header  {"alg":"HS256","typ":"JWT","cty":"twilio-fpa;v=1"}
/// payload {"jti":"SK…-1700000000","iss":"SK…","sub":"AC…","nbf":…,"exp":…,
///          "grants":{"identity":"worker-7","data_sync":{"service_sid":"IS…"},
///                    "tern_streams":{"subscribe":["prices.*"],"publish":["orders"]}}}
/// ```
///
/// `tern_streams` is Tern's own grant (optional): without it the token grants the whole service.
public struct AccessToken: Equatable, Sendable {
    /// `iss`: the API key that signed it.
    public var keySid: String
    /// `sub`: the account.
    public var accountSid: String
    /// `grants.identity`.
    public var identity: String
    /// `grants.data_sync.service_sid`.
    public var serviceSid: String
    /// `exp`, Unix seconds.
    public var expires: Int64
    /// `nbf`, Unix seconds, if present.
    public var notBefore: Int64?
    /// `grants.tern_streams`; nil grants every stream of the service.
    public var streamGrants: StreamGrants?

    public init(
        keySid: String,
        accountSid: String,
        identity: String,
        serviceSid: String,
        expires: Int64,
        notBefore: Int64? = nil,
        streamGrants: StreamGrants? = nil
    ) {
        self.keySid = keySid
        self.accountSid = accountSid
        self.identity = identity
        self.serviceSid = serviceSid
        self.expires = expires
        self.notBefore = notBefore
        self.streamGrants = streamGrants
    }

    /// Longest token accepted, in bytes: the data port's HELLO `token` limit.
    public static let maxBytes = 8192
    /// The header `cty` of a Twilio Access Token.
    public static let contentType = "twilio-fpa;v=1"
    /// The grant key of Tern's per-stream rights.
    public static let streamGrantKey = "tern_streams"

    /// Whether `token` has the shape of a JWT (three parts): such a HELLO token is verified as an
    /// Access Token; anything else is an auth token.
    public static func looksLikeJWT(_ token: String) -> Bool {
        token.utf8.lazy.filter { $0 == UInt8(ascii: ".") }.count == 2
    }

    /// Whether the token grants `operation` on a stream of `serviceSid` (checked by the caller).
    public func allows(_ operation: StreamGrants.Operation, streamSid: String, uniqueName: String?) -> Bool {
        streamGrants?.allows(operation, streamSid: streamSid, uniqueName: uniqueName) ?? true
    }
}

/// The JSON of a token, as decoded before any claim is trusted.
struct AccessTokenJSON {
    struct Header: Codable {
        var alg: String?
        var typ: String?
        var cty: String?
    }

    struct Payload: Codable {
        var jti: String?
        var iss: String?
        var sub: String?
        var exp: Double?
        var nbf: Double?
        var grants: Grants?
    }

    struct Grants: Codable {
        var identity: String?
        var dataSync: DataSync?
        var ternStreams: StreamGrants?

        enum CodingKeys: String, CodingKey {
            case identity
            case dataSync = "data_sync"
            case ternStreams = "tern_streams"
        }
    }

    struct DataSync: Codable {
        var serviceSid: String?

        enum CodingKeys: String, CodingKey {
            case serviceSid = "service_sid"
        }
    }
}
