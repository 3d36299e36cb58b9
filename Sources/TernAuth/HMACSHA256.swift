import Crypto

/// HMAC-SHA256 and constant-time comparison, the two primitives every credential check uses.
public enum HMACSHA256 {
    /// The 32-byte HMAC-SHA256 of `message` under `key`.
    public static func mac(key: some Sequence<UInt8>, message: some Sequence<UInt8>) -> [UInt8] {
        let symmetricKey = SymmetricKey(data: Array(key))
        return Array(HMAC<SHA256>.authenticationCode(for: Array(message), using: symmetricKey))
    }

    /// Compares two byte strings in time that depends only on their lengths, never on where they differ.
    public static func constantTimeEqual(_ a: some Collection<UInt8>, _ b: some Collection<UInt8>) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for (x, y) in zip(a, b) { difference |= x ^ y }
        return difference == 0
    }
}
