/// Where the broker persists what must survive a restart: services, streams, credentials.
///
/// Called synchronously on the control path (never per message), before the caller is told the
/// change succeeded, so a create that answered 2xx survives a crash right after. Implementations
/// throw to refuse a change; the broker then undoes it in memory and reports `storageFailed`.
///
/// Creates insert and updates update: no call may bring back a row another call deleted. The
/// broker makes its changes one at a time, so an update that finds no row (returns false) means
/// the thing was deleted by a change the broker already made.
public protocol BrokerStore: Sendable {
    /// Inserts a new service; throws if its sid exists.
    func insertService(_ service: SyncService) throws
    /// Updates a stored service; false if it is not stored.
    func updateService(_ service: SyncService) throws -> Bool
    /// Deletes the service and all its streams.
    func deleteService(sid: String) throws
    /// Inserts a new stream; throws if its sid exists.
    func insertStream(_ record: StreamRecord) throws
    /// Updates a stored stream (Ttl, update date); false if it is not stored.
    func updateStream(_ record: StreamRecord) throws -> Bool
    func deleteStream(sid: String) throws
    /// Deletes several streams in one transaction (expiry sweeps).
    func deleteStreams(sids: [String]) throws
    /// Inserts a new API key (its salted secret hash, never the secret); throws if its sid exists.
    func insertKey(_ key: APIKey) throws
    /// Updates a stored key's friendly name and date; false if it is not stored.
    func updateKey(_ key: APIKey) throws -> Bool
    func deleteKey(sid: String) throws
}

/// A stream as stored: everything but the live state (ring, sequence, subscribers).
public struct StreamRecord: Sendable, Equatable {
    public var sid: String
    public var serviceSid: String
    public var accountSid: String
    public var uniqueName: String?
    public var createdBy: String
    public var dateCreated: UnixTime
    public var dateUpdated: UnixTime
    public var dateExpires: UnixTime?
    /// Position in creation order, kept across restarts so paging order is stable.
    public var creationIndex: UInt64

    public init(
        sid: String,
        serviceSid: String,
        accountSid: String,
        uniqueName: String?,
        createdBy: String,
        dateCreated: UnixTime,
        dateUpdated: UnixTime,
        dateExpires: UnixTime?,
        creationIndex: UInt64
    ) {
        self.sid = sid
        self.serviceSid = serviceSid
        self.accountSid = accountSid
        self.uniqueName = uniqueName
        self.createdBy = createdBy
        self.dateCreated = dateCreated
        self.dateUpdated = dateUpdated
        self.dateExpires = dateExpires
        self.creationIndex = creationIndex
    }
}
