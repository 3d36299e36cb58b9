import Logging
import Synchronization
import TernCore
import TernStore

/// The store as the broker sees it, with every failure logged once, with its cause and the
/// file, and counted for `/metrics` (`tern_store_failures_total`). The REST client gets 500/20500
/// either way; this is what tells the operator why (a full disk, a read-only folder).
final class ObservedStore: BrokerStore, Sendable {
    let store: SQLiteStore
    let logger: Logger
    let failures = Atomic<UInt64>(0)

    init(_ store: SQLiteStore, logger: Logger) {
        self.store = store
        self.logger = logger
    }

    func insertService(_ service: SyncService) throws { try observed { try store.insertService(service) } }
    func updateService(_ service: SyncService) throws -> Bool { try observed { try store.updateService(service) } }
    func deleteService(sid: String) throws { try observed { try store.deleteService(sid: sid) } }
    func insertStream(_ record: StreamRecord) throws { try observed { try store.insertStream(record) } }
    func updateStream(_ record: StreamRecord) throws -> Bool { try observed { try store.updateStream(record) } }
    func deleteStream(sid: String) throws { try observed { try store.deleteStream(sid: sid) } }
    func deleteStreams(sids: [String]) throws { try observed { try store.deleteStreams(sids: sids) } }
    func insertKey(_ key: APIKey) throws { try observed { try store.insertKey(key) } }
    func updateKey(_ key: APIKey) throws -> Bool { try observed { try store.updateKey(key) } }
    func deleteKey(sid: String) throws { try observed { try store.deleteKey(sid: sid) } }
    func saveIdentity(_ identity: StoredIdentity) throws { try observed { try store.saveIdentity(identity) } }

    private func observed<Result>(_ body: () throws -> Result) throws -> Result {
        do {
            return try body()
        } catch {
            failures.add(1, ordering: .relaxed)
            // StoreError names the file and the SQLite cause.
            logger.error("store write failed: \(error)\(Self.advice(for: "\(error)"))")
            throw error
        }
    }

    /// What the operator can do about the usual causes.
    static func advice(for message: String) -> String {
        if message.contains("full") { return "; free space on the state folder's file system" }
        if message.contains("readonly") || message.contains("read-only") || message.contains("disk I/O error") {
            return
                "; check that the state folder and its files are writable by ternd and its file system is mounted read-write"
        }
        return ""
    }
}
