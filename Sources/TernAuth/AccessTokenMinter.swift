#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Mints Access Tokens in the format of Twilio's helper libraries (`AccessToken` with a
/// `SyncGrant`), plus Tern's optional `tern_streams` grant: what `tern token create` prints.
public enum AccessTokenMinter {
    /// - Parameters:
    ///   - now: Unix seconds; `nbf` is now and `exp` is now + `ttlSeconds`, as Twilio's library does.
    public static func mint(
        keySid: String,
        secret: String,
        accountSid: String,
        identity: String,
        serviceSid: String,
        streamGrants: StreamGrants?,
        ttlSeconds: Int64,
        now: Int64
    ) -> String {
        let header = AccessTokenJSON.Header(alg: "HS256", typ: "JWT", cty: AccessToken.contentType)
        let payload = Payload(
            jti: "\(keySid)-\(now)",
            iss: keySid,
            sub: accountSid,
            exp: now + ttlSeconds,
            nbf: now,
            grants: .init(identity: identity, dataSync: .init(serviceSid: serviceSid), ternStreams: streamGrants)
        )
        return sign(header: header, payload: payload, secret: secret)
    }

    /// Integer times, as Twilio's library writes them.
    struct Payload: Encodable {
        var jti: String
        var iss: String
        var sub: String
        var exp: Int64
        var nbf: Int64
        var grants: AccessTokenJSON.Grants
    }

    static func sign(header: some Encodable, payload: some Encodable, secret: String) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Encoding these plain structs cannot fail.
        let headerJSON = (try? encoder.encode(header)) ?? Data()
        let payloadJSON = (try? encoder.encode(payload)) ?? Data()
        let signingInput = Base64URL.encode(headerJSON) + "." + Base64URL.encode(payloadJSON)
        let signature = HMACSHA256.mac(key: Array(secret.utf8), message: Array(signingInput.utf8))
        return signingInput + "." + Base64URL.encode(signature)
    }
}
