import GRDB
import TernCore

// Reading and writing records. Plain SQL against the schema in `StoreSchema`, so what is on disk
// is visible in one place; upserts use `ON CONFLICT DO UPDATE`, never `INSERT OR REPLACE`, which
// deletes the old row first and would cascade a service's deletion to all its streams.

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
                        authToken: try row.decode(forColumn: "auth_token"))
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
                arguments: [identity.accountSid, identity.defaultServiceSid, identity.authToken])
        }
    }

    // MARK: Services

    /// Every stored service, oldest first.
    public func loadServices() throws -> [SyncService] {
        try read("read the services") { db in
            try Row.fetchAll(
                db,
                sql: "SELECT sid, account_sid, friendly_name, date_created, date_updated FROM services ORDER BY date_created, sid"
            ).map { row in
                SyncService(
                    sid: try row.decode(forColumn: "sid"),
                    friendlyName: try row.decode(forColumn: "friendly_name"),
                    accountSid: try row.decode(forColumn: "account_sid"),
                    dateCreated: UnixTime(milliseconds: try row.decode(forColumn: "date_created")),
                    dateUpdated: UnixTime(milliseconds: try row.decode(forColumn: "date_updated")))
            }
        }
    }

    /// Inserts or updates a service.
    public func saveService(_ service: SyncService) throws {
        try write("save service \(service.sid)") { db in
            try db.execute(
                sql: """
                    INSERT INTO services (sid, account_sid, friendly_name, date_created, date_updated) VALUES (?, ?, ?, ?, ?)
                    ON CONFLICT (sid) DO UPDATE SET account_sid = excluded.account_sid,
                        friendly_name = excluded.friendly_name, date_created = excluded.date_created,
                        date_updated = excluded.date_updated
                    """,
                arguments: [
                    service.sid, service.accountSid, service.friendlyName, service.dateCreated.milliseconds,
                    service.dateUpdated.milliseconds,
                ])
        }
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
                    creationIndex: UInt64(bitPattern: creationIndex))
            }
            // Sorted here: SQL would compare the stored bit patterns as signed numbers.
            .sorted { $0.creationIndex < $1.creationIndex }
        }
    }

    /// Inserts or updates a stream (a Ttl change rewrites its expiry and update date).
    public func saveStream(_ record: StreamRecord) throws {
        try write("save stream \(record.sid)") { db in
            try db.execute(
                sql: """
                    INSERT INTO streams (sid, service_sid, account_sid, unique_name, created_by, date_created,
                        date_updated, date_expires, creation_index)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT (sid) DO UPDATE SET service_sid = excluded.service_sid,
                        account_sid = excluded.account_sid, unique_name = excluded.unique_name,
                        created_by = excluded.created_by, date_created = excluded.date_created,
                        date_updated = excluded.date_updated, date_expires = excluded.date_expires,
                        creation_index = excluded.creation_index
                    """,
                arguments: [
                    record.sid, record.serviceSid, record.accountSid, record.uniqueName, record.createdBy,
                    record.dateCreated.milliseconds, record.dateUpdated.milliseconds, record.dateExpires?.milliseconds,
                    Int64(bitPattern: record.creationIndex),
                ])
        }
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
