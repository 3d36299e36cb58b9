import Foundation
import Testing

@testable import TernAuth

struct StreamGrantsTests {
    let sid = "TO" + String(repeating: "1", count: 32)

    @Test func exactNamesSidsAndPrefixes() {
        let grants = StreamGrants(subscribe: ["prices.*", "news", sid], publish: ["orders"])
        #expect(grants.allows(.subscribe, streamSid: "TOx", uniqueName: "prices.eur"))
        #expect(grants.allows(.subscribe, streamSid: "TOx", uniqueName: "prices."))
        #expect(!grants.allows(.subscribe, streamSid: "TOx", uniqueName: "prices"))
        #expect(!grants.allows(.subscribe, streamSid: "TOx", uniqueName: "xprices.eur"))
        #expect(grants.allows(.subscribe, streamSid: "TOx", uniqueName: "news"))
        #expect(!grants.allows(.subscribe, streamSid: "TOx", uniqueName: "newsroom"))
        #expect(grants.allows(.subscribe, streamSid: sid, uniqueName: nil))
        #expect(grants.allows(.subscribe, streamSid: sid, uniqueName: "anything"))
        #expect(!grants.allows(.publish, streamSid: "TOx", uniqueName: "prices.eur"))
        #expect(grants.allows(.publish, streamSid: "TOx", uniqueName: "orders"))
    }

    @Test func starAloneMatchesEveryStreamAndEmptyListsNothing() {
        let grants = StreamGrants(subscribe: ["*"], publish: [])
        #expect(grants.allows(.subscribe, streamSid: sid, uniqueName: nil))
        #expect(grants.allows(.subscribe, streamSid: sid, uniqueName: "a"))
        #expect(!grants.allows(.publish, streamSid: sid, uniqueName: "a"))
    }

    @Test func tokenWithoutStreamGrantsAllowsTheWholeService() {
        let token = AccessToken(keySid: "SK", accountSid: "AC", identity: "w", serviceSid: "IS", expires: 0)
        #expect(token.allows(.subscribe, streamSid: sid, uniqueName: "x"))
        #expect(token.allows(.publish, streamSid: sid, uniqueName: nil))
    }
}

struct KeySecretTests {
    @Test func secretsAreDerivedPerKeyAndRoot() {
        let root = KeySecret.generateRoot()
        let secret = KeySecret.secret(root: root, keySid: "SK1")
        #expect(secret.utf8.count == KeySecret.secretLength)
        #expect(secret.utf8.allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) })
        #expect(KeySecret.secret(root: root, keySid: "SK1") == secret)
        #expect(KeySecret.secret(root: root, keySid: "SK2") != secret)
        #expect(KeySecret.secret(root: KeySecret.generateRoot(), keySid: "SK1") != secret)
    }

    @Test func saltedHashMatchesOnlyTheSecret() {
        let salt = KeySecret.generateSalt()
        let hash = KeySecret.hash(secret: "abc", salt: salt)
        #expect(KeySecret.matches("abc", salt: salt, hash: hash))
        #expect(!KeySecret.matches("abd", salt: salt, hash: hash))
        #expect(!KeySecret.matches("", salt: salt, hash: hash))
        #expect(KeySecret.hash(secret: "abc", salt: KeySecret.generateSalt()) != hash)
    }

    @Test func constantTimeEqualityComparesWholeStrings() {
        #expect(HMACSHA256.constantTimeEqual([1, 2, 3], [1, 2, 3]))
        #expect(!HMACSHA256.constantTimeEqual([1, 2, 3], [1, 2, 4]))
        #expect(!HMACSHA256.constantTimeEqual([1, 2, 3], [1, 2]))
    }

    @Test func hmacMatchesRFC4231TestCase2() {
        let mac = HMACSHA256.mac(key: Array("Jefe".utf8), message: Array("what do ya want for nothing?".utf8))
        #expect(
            mac.map { String(format: "%02x", $0) }.joined()
                == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        )
    }
}

struct Base64URLTests {
    @Test func roundTripsEveryLength() {
        for length in 0..<20 {
            let bytes = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 250) }
            #expect(Base64URL.decode(Array(Base64URL.encode(bytes).utf8)) == bytes)
        }
        #expect(Base64URL.encode(Array("{}".utf8)) == "e30")
    }

    @Test(arguments: ["e30=", "e3+", "e3/", "a", "e 30", "e31"])
    func refusesNonCanonicalText(text: String) {
        #expect(Base64URL.decode(Array(text.utf8)) == nil)
    }
}
