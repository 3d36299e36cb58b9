import Synchronization

/// The account's credentials: HTTP Basic on the control port (account sid : auth token, as the
/// Twilio helper libraries send them) and the `token` of a data-port HELLO.
public struct Credentials: Sendable, Equatable {
    public var accountSid: String
    public var authToken: String

    public init(accountSid: String, authToken: String) {
        self.accountSid = accountSid
        self.authToken = authToken
    }

    /// A new random auth token: 32 lowercase hex digits, as Twilio's.
    public static func generateToken() -> String {
        String(Sid.generate(.account).dropFirst(2))
    }

    /// Whether `user:password` (HTTP Basic) is this account. Compares in constant time.
    public func accepts(user: String, password: String) -> Bool {
        // Both comparisons always run, so timing does not tell which part was wrong.
        let userMatches = Self.equalInConstantTime(user, accountSid)
        let passwordMatches = Self.equalInConstantTime(password, authToken)
        return userMatches && passwordMatches
    }

    /// Whether a data-port HELLO `token` is the auth token.
    public func accepts(token: String) -> Bool {
        Self.equalInConstantTime(token, authToken)
    }

    private static func equalInConstantTime(_ a: String, _ b: String) -> Bool {
        let left = Array(a.utf8)
        let right = Array(b.utf8)
        var difference = UInt8(left.count == right.count ? 0 : 1)
        for index in 0..<max(left.count, right.count) {
            let x = index < left.count ? left[index] : 0
            let y = index < right.count ? right[index] : 0
            difference |= x ^ y
        }
        return difference == 0
    }
}

/// The credentials in force, shared by both ports. Rotating the token swaps it for every later
/// request and HELLO at once.
public final class CredentialsHolder: Sendable {
    private let value: Locked<Credentials>

    public init(_ credentials: Credentials) {
        value = Locked(credentials)
    }

    public var current: Credentials { value.withLock { $0 } }

    /// Replaces the auth token; returns the new credentials.
    @discardableResult
    public func replaceToken(with token: String) -> Credentials {
        value.withLock {
            $0.authToken = token
            return $0
        }
    }
}
