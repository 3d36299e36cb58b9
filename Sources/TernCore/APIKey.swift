import TernAuth

/// A Twilio API key (`SK…`): what the Keys resource shows, and the salted hash of its secret.
/// The secret itself is never stored (`KeySecret`).
public struct APIKey: Sendable, Equatable {
    public var sid: String
    public var friendlyName: String?
    public var accountSid: String
    public var dateCreated: UnixTime
    public var dateUpdated: UnixTime
    /// Salt and SHA-256(salt ‖ secret).
    public var secretSalt: [UInt8]
    public var secretHash: [UInt8]

    public init(
        sid: String,
        friendlyName: String?,
        accountSid: String,
        dateCreated: UnixTime,
        dateUpdated: UnixTime,
        secretSalt: [UInt8],
        secretHash: [UInt8]
    ) {
        self.sid = sid
        self.friendlyName = friendlyName
        self.accountSid = accountSid
        self.dateCreated = dateCreated
        self.dateUpdated = dateUpdated
        self.secretSalt = secretSalt
        self.secretHash = secretHash
    }
}
