import Foundation
import Logging
import TernCore
import TernStore

/// The daemon's state folder: the SQLite store (identity, services, streams) and the data-port
/// Unix socket. Created on first start.
struct StateFolder {
    let path: String

    init(path: String) throws {
        let absolute = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        self.path = URL(fileURLWithPath: absolute).standardizedFileURL.path
        do {
            try FileManager.default.createDirectory(atPath: self.path, withIntermediateDirectories: true)
        } catch {
            throw StateError(
                "state folder \(self.path) cannot be created (\(error.localizedDescription)); create it, or choose another --state-dir"
            )
        }
        guard access(self.path, W_OK | X_OK) == 0 else {
            throw StateError(
                "state folder \(self.path) is not writable by ternd (uid \(getuid())): \(String(cString: strerror(errno))); "
                    + "ternd keeps tern.sqlite, its -wal file and the Unix socket there: fix the folder's owner or mode, "
                    + "or choose another --state-dir"
            )
        }
    }

    var databasePath: String { path + "/tern.sqlite" }
    var defaultSocketPath: String { path + "/ternd.sock" }
    /// Where Tern kept its identity before the SQLite store; moved into the store, then removed.
    var legacyIdentityFile: String { path + "/identity.json" }

    /// Opens the store and loads the identity, creating one on first start.
    ///
    /// A first start generates the auth token and logs it once (notice level): it is the only
    /// time the token is shown, so the operator can hand it to clients. Any store that cannot be
    /// trusted throws `StoreError`, and the daemon exits rather than start with a new identity.
    func open(logger: Logger) throws -> (store: SQLiteStore, identity: StoredIdentity) {
        let store = try SQLiteStore.open(path: databasePath)
        do {
            return (store, try loadOrCreateIdentity(in: store, logger: logger))
        } catch {
            store.close()
            throw error
        }
    }

    private func loadOrCreateIdentity(in store: SQLiteStore, logger: Logger) throws -> StoredIdentity {
        let legacy = try readLegacyIdentity()
        if let stored = try store.loadIdentity() {
            guard Sid.isSid(stored.accountSid, of: .account), Sid.isSid(stored.defaultServiceSid, of: .service),
                !stored.authToken.isEmpty
            else { throw StateError("\(databasePath) holds a malformed identity") }
            if let legacy {
                // An earlier start saved the identity but stopped before removing the old file.
                guard legacy.accountSid == stored.accountSid, legacy.defaultServiceSid == stored.defaultServiceSid
                else {
                    throw StateError(
                        "\(legacyIdentityFile) and \(databasePath) name different accounts; remove the stale one"
                    )
                }
                try FileManager.default.removeItem(atPath: legacyIdentityFile)
            }
            return stored
        }
        let identity = StoredIdentity(
            accountSid: legacy?.accountSid ?? Sid.generate(.account),
            defaultServiceSid: legacy?.defaultServiceSid ?? Sid.generate(.service),
            authToken: Credentials.generateToken()
        )
        try store.saveIdentity(identity)
        if legacy != nil {
            // Removed only after the store has committed the identity, so a crash in between loses nothing.
            try FileManager.default.removeItem(atPath: legacyIdentityFile)
            logger.notice("moved the account and service sids from \(legacyIdentityFile) into \(databasePath)")
        }
        // Shown even under --log-level warning or error: this is the operator's only chance to see it.
        var announcer = logger
        announcer.logLevel = min(logger.logLevel, .notice)
        announcer.notice(
            "generated credentials: account \(identity.accountSid) auth token \(identity.authToken); shown once"
        )
        return identity
    }

    /// The identity file of a Tern before the SQLite store, if there is one.
    private struct LegacyIdentity: Decodable {
        var accountSid: String
        var defaultServiceSid: String
    }

    private func readLegacyIdentity() throws -> LegacyIdentity? {
        guard FileManager.default.fileExists(atPath: legacyIdentityFile) else { return nil }
        let identity: LegacyIdentity
        do {
            identity = try JSONDecoder().decode(
                LegacyIdentity.self,
                from: Data(contentsOf: URL(fileURLWithPath: legacyIdentityFile))
            )
        } catch {
            throw StateError(
                "\(legacyIdentityFile) is unreadable (\(error)); move it away to start with a new identity"
            )
        }
        guard Sid.isSid(identity.accountSid, of: .account), Sid.isSid(identity.defaultServiceSid, of: .service) else {
            throw StateError("\(legacyIdentityFile) holds malformed sids")
        }
        return identity
    }
}

struct StateError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
