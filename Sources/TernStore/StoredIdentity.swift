/// Who this daemon is: created once on first start and kept for the life of the state folder,
/// so clients' account sid, service sid and auth token stay valid across restarts.
public struct StoredIdentity: Sendable, Equatable {
    public var accountSid: String
    public var defaultServiceSid: String
    public var authToken: String

    public init(accountSid: String, defaultServiceSid: String, authToken: String) {
        self.accountSid = accountSid
        self.defaultServiceSid = defaultServiceSid
        self.authToken = authToken
    }
}
