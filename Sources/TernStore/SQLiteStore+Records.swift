import GRDB
import TernCore

// Reading and writing records. Plain SQL against the schema in `StoreSchema`, so what is on disk
// is visible in one place. Creates are plain INSERTs and updates plain UPDATEs: an upsert would
// bring back a row that a delete removed meanwhile. (The identity's upsert uses `ON CONFLICT DO
// UPDATE`, never `INSERT OR REPLACE`, which deletes the old row first.)

extension SQLiteStore {
    // MARK: Identity

    /// The identity saved on an earlier start, or nil on the first start.
    public func loadIdentity() throws -> StoredIdentity? {
        try read("read the identity") { db in
            try Row.fetchOne(db, sql: "SELECT account_sid, default_service_sid, auth_token FROM identity WHERE id = 1")
                .map { row in
                    StoredIdentity(
                        accountSid: try row.decode(forColumn: "account_sid"),
                        defaultServiceSid: try row.decode(forColumn: "default_service_sid"),
                        authToken: try row.decode(forColumn: "auth_token")
                    )
                }
        }
    }

    /// Saves the identity, replacing any earlier one (e.g. when the auth token is rotated).
    public func saveIdentity(_ identity: StoredIdentity) throws {
        try write("save the identity") { db in
            try db.execute(
                sql: """
                    INSERT INTO identity (id, account_sid, default_service_sid, auth_token) VALUES (1, ?, ?, ?)
                    ON CONFLICT (id) DO UPDATE SET account_sid = excluded.account_sid,
                        default_service_sid = excluded.default_service_sid, auth_token = excluded.auth_token
                    """,
                arguments: [identity.accountSid, identity.defaultServiceSid, identity.authToken]
            )
        }
    }

    // MARK: Services

    /// Every stored service, oldest first.
    public func loadServices() throws -> [SyncService] {
        try read("read the services") { db in
            try Row.fetchAll(
                db,
                sql:
                    "SELECT sid, account_sid, friendly_name, date_created, date_updated FROM services ORDER BY date_created, sid"
            ).map { row in
                SyncService(
                    sid: try row.decode(forColumn: "sid"),
                    friendlyName: try row.decode(forColumn: "friendly_name"),
                    accountSid: try row.decode(forColumn: "account_sid"),
                    dateCreated: UnixTime(milliseconds: try row.decode(forColumn: "date_created")),
                    dateUpdated: UnixTime(milliseconds: try row.decode(forColumn: "date_updated"))
                )
            }
        }
    }

    /// Inserts a new service (fails if the sid is taken).
    public func insertService(_ service: SyncService) throws {
        try write("create service \(service.sid)") { db in
            try db.execute(
                sql: """
                    INSERT INTO services (sid, account_sid, friendly_name, date_created, date_updated) VALUES (?, ?, ?, ?, ?)
                    """,
                arguments: [
                    service.sid, service.accountSid, service.friendlyName, service.dateCreated.milliseconds,
                    service.dateUpdated.milliseconds,
                ]
            )
        }
    }

    /// Updates a stored service's name and update date; false if it is not stored (deleted).
    public func updateService(_ service: SyncService) throws -> Bool {
        var changed = false
        try write("update service \(service.sid)") { db in
            try db.execute(
                sql: "UPDATE services SET friendly_name = ?, date_updated = ? WHERE sid = ?",
                arguments: [service.friendlyName, service.dateUpdated.milliseconds, service.sid]
            )
            changed = db.changesCount > 0
        }
        return changed
    }

    /// Deletes a service; its streams go with it (foreign key `ON DELETE CASCADE`), in the same
    /// transaction.
    public func deleteService(sid: String) throws {
        try write("delete service \(sid)") { db in
            try db.execute(sql: "DELETE FROM services WHERE sid = ?", arguments: [sid])
        }
    }

    // MARK: Streams

    /// Every stored stream, in creation order.
    public func loadStreams() throws -> [StreamRecord] {
        try read("read the streams") { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT sid, service_sid, account_sid, unique_name, created_by, date_created, date_updated,
                        date_expires, creation_index
                    FROM streams
                    """
            ).map { row in
                let expires: Int64? = try row.decode(forColumn: "date_expires")
                let creationIndex: Int64 = try row.decode(forColumn: "creation_index")
                return StreamRecord(
                    sid: try row.decode(forColumn: "sid"),
                    serviceSid: try row.decode(forColumn: "service_sid"),
                    accountSid: try row.decode(forColumn: "account_sid"),
                    uniqueName: try row.decode(forColumn: "unique_name"),
                    createdBy: try row.decode(forColumn: "created_by"),
                    dateCreated: UnixTime(milliseconds: try row.decode(forColumn: "date_created")),
                    dateUpdated: UnixTime(milliseconds: try row.decode(forColumn: "date_updated")),
                    dateExpires: expires.map(UnixTime.init(milliseconds:)),
                    creationIndex: UInt64(bitPattern: creationIndex)
                )
            }
            // Sorted here: SQL would compare the stored bit patterns as signed numbers.
            .sorted { $0.creationIndex < $1.creationIndex }
        }
    }

    /// Inserts a new stream (fails if the sid is taken or its service is gone).
    public func insertStream(_ record: StreamRecord) throws {
        try write("create stream \(record.sid)") { db in
            try db.execute(
                sql: """
                    INSERT INTO streams (sid, service_sid, account_sid, unique_name, created_by, date_created,
                        date_updated, date_expires, creation_index)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    record.sid, record.serviceSid, record.accountSid, record.uniqueName, record.createdBy,
                    record.dateCreated.milliseconds, record.dateUpdated.milliseconds, record.dateExpires?.milliseconds,
                    Int64(bitPattern: record.creationIndex),
                ]
            )
        }
    }

    /// Rewrites a stored stream's expiry and update date; false if it is not stored (deleted).
    /// Never inserts: an update racing a delete must not bring the stream back.
    public func updateStream(_ record: StreamRecord) throws -> Bool {
        var changed = false
        try write("update stream \(record.sid)") { db in
            try db.execute(
                sql: "UPDATE streams SET date_updated = ?, date_expires = ? WHERE sid = ?",
                arguments: [record.dateUpdated.milliseconds, record.dateExpires?.milliseconds, record.sid]
            )
            changed = db.changesCount > 0
        }
        return changed
    }

    public func deleteStream(sid: String) throws {
        try write("delete stream \(sid)") { db in
            try db.execute(sql: "DELETE FROM streams WHERE sid = ?", arguments: [sid])
        }
    }

    /// Deletes several streams in one transaction: an expiry sweep is stored whole or not at all.
    public func deleteStreams(sids: [String]) throws {
        guard !sids.isEmpty else { return }
        try write("delete \(sids.count) streams") { db in
            let statement = try db.cachedStatement(sql: "DELETE FROM streams WHERE sid = ?")
            for sid in sids { try statement.execute(arguments: [sid]) }
        }
    }
}
