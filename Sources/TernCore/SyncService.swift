/// A Twilio Sync Service: the namespace that streams and their unique names live in.
public struct SyncService: Sendable, Equatable {
    public var sid: String
    public var friendlyName: String?
    public var accountSid: String
    public var dateCreated: UnixTime
    public var dateUpdated: UnixTime

    public init(sid: String, friendlyName: String?, accountSid: String, dateCreated: UnixTime, dateUpdated: UnixTime) {
        self.sid = sid
        self.friendlyName = friendlyName
        self.accountSid = accountSid
        self.dateCreated = dateCreated
        self.dateUpdated = dateUpdated
    }
}
