import Foundation
import Testing

@testable import TernAuth

/// The verifier as a pure function: tokens in, claims or a precise refusal out.
struct AccessTokenVerifierTests {
    static let account = "AC" + String(repeating: "a", count: 32)
    static let service = "IS" + String(repeating: "b", count: 32)
    static let keySid = "SK" + String(repeating: "c", count: 32)
    static let secret = "s3cretS3cretS3cretS3cretS3cret12"
    static let now: Int64 = 1_700_000_000
    let verifier = AccessTokenVerifier(accountSid: Self.account, clockSkewSeconds: 5)

    func mint(
        grants: StreamGrants? = nil,
        ttl: Int64 = 3600,
        now: Int64 = Self.now,
        secret: String = Self.secret
    ) -> String {
        AccessTokenMinter.mint(
            keySid: Self.keySid,
            secret: secret,
            accountSid: Self.account,
            identity: "worker-7",
            serviceSid: Self.service,
            streamGrants: grants,
            ttlSeconds: ttl,
            now: now
        )
    }

    func verify(_ token: String, at now: Int64 = Self.now) throws(AccessTokenError) -> AccessToken {
        try verifier.verify(token, now: now) { $0 == Self.keySid ? Self.secret : nil }
    }

    /// A token of any header and payload JSON, signed with the test secret.
    func signed(header: String, payload: String, secret: String = Self.secret) -> String {
        let input = Base64URL.encode(Array(header.utf8)) + "." + Base64URL.encode(Array(payload.utf8))
        return input + "." + Base64URL.encode(HMACSHA256.mac(key: Array(secret.utf8), message: Array(input.utf8)))
    }

    func payload(dropping claim: String? = nil, grants: String? = nil) -> String {
        var fields = [
            "jti": "\"\(Self.keySid)-\(Self.now)\"", "iss": "\"\(Self.keySid)\"", "sub": "\"\(Self.account)\"",
            "exp": "\(Self.now + 60)", "nbf": "\(Self.now)",
            "grants": grants ?? "{\"identity\":\"w\",\"data_sync\":{\"service_sid\":\"\(Self.service)\"}}",
        ]
        if let claim { fields[claim] = nil }
        return "{" + fields.map { "\"\($0.key)\":\($0.value)" }.joined(separator: ",") + "}"
    }

    static let header = #"{"alg":"HS256","typ":"JWT","cty":"twilio-fpa;v=1"}"#

    @Test func mintedTokenVerifiesWithItsClaims() throws {
        let grants = StreamGrants(subscribe: ["prices.*"], publish: ["orders"])
        let token = try verify(mint(grants: grants))
        #expect(token.keySid == Self.keySid && token.accountSid == Self.account && token.identity == "worker-7")
        #expect(token.serviceSid == Self.service && token.expires == Self.now + 3600 && token.notBefore == Self.now)
        #expect(token.streamGrants == grants)
    }

    @Test func tokenOfTwilioPythonLibraryVerifies() throws {
        // Minted by twilio 9.13.0: AccessToken(AC…a, SK…c, secret, identity="worker-7", nbf=1700000000,
        // valid_until=1700003600) with SyncGrant(service_sid=IS…b); header and key order as PyJWT writes them.
        let header = #"{"alg":"HS256","typ":"JWT","cty":"twilio-fpa;v=1"}"#
        let payload =
            #"{"jti":"SKcccccccccccccccccccccccccccccccc-1700000000","grants":{"data_sync":{"service_sid":"ISbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"},"identity":"worker-7"},"iss":"SKcccccccccccccccccccccccccccccccc","exp":1700003600,"nbf":1700000000,"sub":"ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}"#
        let token = try verify(signed(header: header, payload: payload))
        #expect(token.identity == "worker-7" && token.streamGrants == nil)
    }

    @Test func wrongSecretIsBadSignature() {
        #expect(throws: AccessTokenError.badSignature) { try verify(mint(secret: "another secret")) }
    }

    @Test func tamperedPayloadIsBadSignature() {
        let parts = mint().split(separator: ".")
        let forged = Base64URL.encode(
            Array(payload(grants: #"{"identity":"admin","data_sync":{"service_sid":"\#(Self.service)"}}"#).utf8)
        )
        #expect(throws: AccessTokenError.badSignature) { try verify("\(parts[0]).\(forged).\(parts[2])") }
    }

    @Test func unknownKeyIsRefusedBeforeTheSignature() {
        #expect(throws: AccessTokenError.unknownKey(Self.keySid)) {
            try verifier.verify(mint(), now: Self.now) { _ in nil }
        }
    }

    @Test func expiryAndNotBeforeHonourTheSkew() throws {
        let token = mint(ttl: 60)
        _ = try verify(token, at: Self.now + 64)  // within the 5 s skew
        #expect(throws: AccessTokenError.expired(expiredAt: Self.now + 60)) { try verify(token, at: Self.now + 65) }
        _ = try verify(token, at: Self.now - 5)
        #expect(throws: AccessTokenError.notYetValid(validFrom: Self.now)) { try verify(token, at: Self.now - 6) }
    }

    @Test(arguments: [
        #"{"alg":"none","typ":"JWT","cty":"twilio-fpa;v=1"}"#, #"{"alg":"RS256","typ":"JWT","cty":"twilio-fpa;v=1"}"#,
        #"{"alg":"HS512","cty":"twilio-fpa;v=1"}"#, #"{"typ":"JWT","cty":"twilio-fpa;v=1"}"#,
        #"{"alg":"HS256","typ":"JWT"}"#, #"{"alg":"HS256","typ":"JWS","cty":"twilio-fpa;v=1"}"#, #"[1]"#, "not json",
    ])
    func headersOtherThanHS256AccessTokensAreMalformed(header: String) {
        #expect(throws: AccessTokenError.self) { try verify(signed(header: header, payload: payload())) }
        do {
            _ = try verify(signed(header: header, payload: payload()))
        } catch {
            guard case .malformed = error else {
                Issue.record("\(header): \(error)")
                return
            }
        }
    }

    @Test func algNoneWithEmptySignatureIsRefused() {
        let input =
            Base64URL.encode(Array(#"{"alg":"none","cty":"twilio-fpa;v=1"}"#.utf8)) + "."
            + Base64URL.encode(Array(payload().utf8))
        #expect(throws: AccessTokenError.malformed("alg is 'none'; only HS256 is accepted")) { try verify(input + ".") }
    }

    @Test(arguments: ["iss", "sub", "exp", "grants"])
    func missingClaimsAreMalformed(claim: String) {
        #expect(throws: AccessTokenError.self) {
            try verify(signed(header: Self.header, payload: payload(dropping: claim)))
        }
    }

    @Test(arguments: [
        #"{"data_sync":{"service_sid":"ISbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"}}"#, #"{"identity":"w"}"#,
        #"{"identity":"w","data_sync":{}}"#, #"{"identity":"w","data_sync":{"service_sid":"IS12"}}"#,
        #"{"identity":7,"data_sync":{"service_sid":"ISbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"}}"#,
        #"{"identity":"w","data_sync":{"service_sid":"ISbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"},"tern_streams":{"subscribe":"x"}}"#,
    ])
    func incompleteGrantsAreMalformed(grants: String) {
        do {
            _ = try verify(signed(header: Self.header, payload: payload(grants: grants)))
            Issue.record("accepted \(grants)")
        } catch {
            guard case .malformed = error else {
                Issue.record("\(grants): \(error)")
                return
            }
        }
    }

    @Test func anotherAccountIsMalformed() {
        let other = payload().replacingOccurrences(of: Self.account, with: "AC" + String(repeating: "d", count: 32))
        #expect(
            throws: AccessTokenError.malformed(
                "sub 'AC\(String(repeating: "d", count: 32))' is not this server's account"
            )
        ) {
            try verify(signed(header: Self.header, payload: other))
        }
    }

    @Test(arguments: ["", "a.b", "a.b.c.d", "e30.e30.", "!!!.e30.e30", "eyJ=.e30.e30", "e30.e30.a+b/"])
    func brokenShapesAreMalformed(token: String) {
        do {
            _ = try verify(token)
            Issue.record("accepted \(token)")
        } catch {
            guard case .malformed = error else {
                Issue.record("\(token): \(error)")
                return
            }
        }
    }

    @Test func hugeTokensAreRefusedBeforeDecoding() {
        let huge = String(repeating: "a", count: AccessToken.maxBytes + 1)
        #expect(
            throws: AccessTokenError.malformed("\(AccessToken.maxBytes + 1) bytes, more than \(AccessToken.maxBytes)")
        ) {
            try verify(huge)
        }
    }

    /// Deep nesting in an ignored claim, as deep as a token's size allows: refused or skipped,
    /// never a crash.
    @Test func deeplyNestedJSONDoesNotCrashTheVerifier() {
        let depth = 2850
        let nested = String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
        let body = payload().dropLast() + ",\"x\":\(nested)}"
        let token = signed(header: Self.header, payload: String(body))
        #expect(token.utf8.count <= AccessToken.maxBytes)
        do {
            _ = try verify(token)
        } catch {
            guard case .malformed = error else {
                Issue.record("\(error)")
                return
            }
        }
    }

    @Test func tooManyGrantPatternsAreMalformed() {
        let many = StreamGrants(subscribe: (0...StreamGrants.maxPatterns).map { "s\($0)" })
        #expect(throws: AccessTokenError.self) { try verify(mint(grants: many)) }
    }

    @Test func jwtShapeTellsAccessTokensFromAuthTokens() {
        #expect(AccessToken.looksLikeJWT(mint()))
        #expect(!AccessToken.looksLikeJWT("0123456789abcdef0123456789abcdef"))
        #expect(!AccessToken.looksLikeJWT(""))
    }
}
