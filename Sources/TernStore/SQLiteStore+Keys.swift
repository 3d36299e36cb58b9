import Foundation
import GRDB
import TernCore

// API keys: the row holds the salted hash of the secret, never the secret (`KeySecret`).
extension SQLiteStore {
    /// Every stored key, oldest first.
    public func loadKeys() throws -> [APIKey] {
        try read("read the API keys") { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT sid, account_sid, friendly_name, date_created, date_updated, secret_salt, secret_hash
                    FROM api_keys ORDER BY date_created, sid
                    """
            ).map { row in
                APIKey(
                    sid: try row.decode(forColumn: "sid"),
                    friendlyName: try row.decode(forColumn: "friendly_name"),
                    accountSid: try row.decode(forColumn: "account_sid"),
                    dateCreated: UnixTime(milliseconds: try row.decode(forColumn: "date_created")),
                    dateUpdated: UnixTime(milliseconds: try row.decode(forColumn: "date_updated")),
                    secretSalt: [UInt8](try row.decode(Data.self, forColumn: "secret_salt")),
                    secretHash: [UInt8](try row.decode(Data.self, forColumn: "secret_hash"))
                )
            }
        }
    }

    public func insertKey(_ key: APIKey) throws {
        try write("create API key \(key.sid)") { db in
            try db.execute(
                sql: """
                    INSERT INTO api_keys (sid, account_sid, friendly_name, date_created, date_updated, secret_salt, secret_hash)
                    VALUES (?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    key.sid, key.accountSid, key.friendlyName, key.dateCreated.milliseconds,
                    key.dateUpdated.milliseconds,
                    Data(key.secretSalt), Data(key.secretHash),
                ]
            )
        }
    }

    public func updateKey(_ key: APIKey) throws -> Bool {
        var changed = false
        try write("update API key \(key.sid)") { db in
            try db.execute(
                sql: "UPDATE api_keys SET friendly_name = ?, date_updated = ? WHERE sid = ?",
                arguments: [key.friendlyName, key.dateUpdated.milliseconds, key.sid]
            )
            changed = db.changesCount > 0
        }
        return changed
    }

    public func deleteKey(sid: String) throws {
        try write("delete API key \(sid)") { db in
            try db.execute(sql: "DELETE FROM api_keys WHERE sid = ?", arguments: [sid])
        }
    }
}
