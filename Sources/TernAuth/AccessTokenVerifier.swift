#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Reads and verifies Access Tokens. Pure: the key secrets and the time come from the caller.
///
/// Checks, in order (the first failure is reported): size and shape (three base64url parts),
/// header (`alg` HS256 exactly — `none`, RS256 and the rest are refused —, `cty`
/// `twilio-fpa;v=1`, `typ` JWT if present), claims (`iss` an API key sid, `sub` this account,
/// `exp`, `grants.identity`, `grants.data_sync.service_sid`), the key (`unknownKey`), the
/// HMAC-SHA256 signature (compared in constant time), then `nbf` and `exp` with `clockSkew`.
public struct AccessTokenVerifier: Sendable {
    public var accountSid: String
    /// Seconds of clock difference allowed on `nbf` and `exp`.
    public var clockSkewSeconds: Int64

    public init(accountSid: String, clockSkewSeconds: Int64) {
        self.accountSid = accountSid
        self.clockSkewSeconds = clockSkewSeconds
    }

    /// - Parameters:
    ///   - secret: the secret of an API key by sid; nil for a key that does not exist (or no
    ///     longer does).
    ///   - now: Unix seconds.
    public func verify(
        _ token: String,
        now: Int64,
        secret: (String) -> String?
    ) throws(AccessTokenError)
        -> AccessToken
    {
        let utf8 = Array(token.utf8)
        guard utf8.count <= AccessToken.maxBytes else {
            throw .malformed("\(utf8.count) bytes, more than \(AccessToken.maxBytes)")
        }
        let parts = utf8.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard parts.count == 3 else {
            throw .malformed("a JWT has three parts separated by '.', this has \(parts.count)")
        }
        guard let headerBytes = Base64URL.decode(parts[0]) else { throw .malformed("the header is not base64url") }
        guard let payloadBytes = Base64URL.decode(parts[1]) else { throw .malformed("the payload is not base64url") }
        guard let signature = Base64URL.decode(parts[2]) else { throw .malformed("the signature is not base64url") }

        let header: AccessTokenJSON.Header = try Self.decodeJSON(headerBytes, "header")
        guard header.alg == "HS256" else {
            throw .malformed("alg is \(header.alg.map { "'\($0)'" } ?? "missing"); only HS256 is accepted")
        }
        guard header.cty == AccessToken.contentType else {
            throw .malformed("cty is \(header.cty.map { "'\($0)'" } ?? "missing"), not '\(AccessToken.contentType)'")
        }
        if let typ = header.typ, typ != "JWT" { throw .malformed("typ is '\(typ)', not 'JWT'") }

        let payload: AccessTokenJSON.Payload = try Self.decodeJSON(payloadBytes, "payload")
        let claims = try claims(of: payload)

        guard let keySecret = secret(claims.keySid) else { throw .unknownKey(claims.keySid) }
        let signingInput = Array(utf8[..<(parts[1].endIndex)])
        let expected = HMACSHA256.mac(key: Array(keySecret.utf8), message: signingInput)
        guard HMACSHA256.constantTimeEqual(expected, signature) else { throw .badSignature }

        if let notBefore = claims.notBefore, now + clockSkewSeconds < notBefore {
            throw .notYetValid(validFrom: notBefore)
        }
        if now >= claims.expires + clockSkewSeconds { throw .expired(expiredAt: claims.expires) }
        return claims
    }

    private func claims(of payload: AccessTokenJSON.Payload) throws(AccessTokenError) -> AccessToken {
        guard let iss = payload.iss else { throw .malformed("the iss claim (API key sid) is missing") }
        guard Self.isSid(iss, prefix: "SK") else { throw .malformed("iss '\(iss)' is not an API key sid") }
        guard let sub = payload.sub else { throw .malformed("the sub claim (account sid) is missing") }
        guard sub == accountSid else { throw .malformed("sub '\(sub)' is not this server's account") }
        guard let exp = payload.exp else { throw .malformed("the exp claim is missing") }
        guard let expires = Self.seconds(exp) else { throw .malformed("exp is out of range") }
        var notBefore: Int64?
        if let nbf = payload.nbf {
            guard let seconds = Self.seconds(nbf) else { throw .malformed("nbf is out of range") }
            notBefore = seconds
        }
        guard let grants = payload.grants else { throw .malformed("the grants claim is missing") }
        guard let identity = grants.identity, !identity.isEmpty else { throw .malformed("grants.identity is missing") }
        guard let serviceSid = grants.dataSync?.serviceSid else {
            throw .malformed("grants.data_sync.service_sid is missing (a SyncGrant with a service_sid)")
        }
        guard Self.isSid(serviceSid, prefix: "IS") else {
            throw .malformed("service_sid '\(serviceSid)' is not a Sync service sid")
        }
        if let streams = grants.ternStreams,
            streams.subscribe.count > StreamGrants.maxPatterns || streams.publish.count > StreamGrants.maxPatterns
        {
            throw .malformed("\(AccessToken.streamGrantKey) lists more than \(StreamGrants.maxPatterns) patterns")
        }
        return AccessToken(
            keySid: iss,
            accountSid: sub,
            identity: identity,
            serviceSid: serviceSid,
            expires: expires,
            notBefore: notBefore,
            streamGrants: grants.ternStreams
        )
    }

    private static func decodeJSON<T: Decodable>(_ bytes: [UInt8], _ part: String) throws(AccessTokenError) -> T {
        do {
            return try JSONDecoder().decode(T.self, from: Data(bytes))
        } catch let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context) {
            let path = context.codingPath.map(\.stringValue).joined(separator: ".")
            throw .malformed("the \(part)'s '\(path)' has the wrong type")
        } catch {
            throw .malformed("the \(part) is not a JSON object")
        }
    }

    private static func seconds(_ value: Double) -> Int64? {
        guard value.isFinite, value >= 0, value < 1e15 else { return nil }
        return Int64(value)
    }

    /// Two capital letters and 32 lowercase hex digits.
    static func isSid(_ text: String, prefix: String) -> Bool {
        let bytes = Array(text.utf8)
        guard bytes.count == 34, text.hasPrefix(prefix) else { return false }
        return bytes[2...].allSatisfy {
            (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains($0)
        }
    }
}
