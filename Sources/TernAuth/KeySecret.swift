import Crypto

/// API key secrets: how they are made, stored and checked.
///
/// Verifying an HS256 Access Token needs the secret itself, yet the store must never hold it.
/// So a key's secret is derived, not stored: HMAC-SHA256(key root, key sid), written as 32
/// alphanumeric characters like Twilio's. The key root is 32 random bytes kept in the state
/// folder apart from the database; the database keeps only a salted SHA-256 of each secret,
/// which HTTP Basic `SK…:secret` is checked against.
public enum KeySecret {
    /// Bytes of a key root.
    public static let rootSize = 32
    /// Characters of a secret.
    public static let secretLength = 32
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789".utf8)

    /// A new random key root.
    public static func generateRoot() -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<rootSize).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
    }

    /// The secret of key `sid` under `root`.
    public static func secret(root: [UInt8], keySid: String) -> String {
        let mac = HMACSHA256.mac(key: root, message: Array(keySid.utf8))
        // 62 symbols from 32 bytes: the modulo bias (256 mod 62) is irrelevant at 190 bits.
        return String(decoding: mac.map { alphabet[Int($0) % alphabet.count] }, as: UTF8.self)
    }

    /// A new random salt for `hash(secret:salt:)`.
    public static func generateSalt() -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<16).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
    }

    /// SHA-256(salt ‖ secret): what the store keeps.
    public static func hash(secret: String, salt: [UInt8]) -> [UInt8] {
        Array(SHA256.hash(data: salt + Array(secret.utf8)))
    }

    /// Whether `candidate` is the secret whose salted hash is `hash`, compared in constant time.
    public static func matches(_ candidate: String, salt: [UInt8], hash: [UInt8]) -> Bool {
        HMACSHA256.constantTimeEqual(Self.hash(secret: candidate, salt: salt), hash)
    }
}
