import TernCore

/// Replaces the auth token: a new random token is saved first, then put in force for both ports.
///
/// One rotation at a time, so the token saved last is the token in force: two rotations that
/// overlapped could otherwise persist one token and switch to the other.
final class AuthTokenRotation: Sendable {
    let credentials: CredentialsHolder
    private let persist: (@Sendable (String) throws -> Void)?
    private let serial = Locked(0)

    init(credentials: CredentialsHolder, persist: (@Sendable (String) throws -> Void)?) {
        self.credentials = credentials
        self.persist = persist
    }

    /// The credentials with the new token. If saving throws, nothing changes and the error is
    /// rethrown: the old token keeps working.
    func rotate() throws -> Credentials {
        try serial.withLock { _ throws -> Credentials in
            let token = Credentials.generateToken()
            try persist?(token)
            return credentials.replaceToken(with: token)
        }
    }
}
