import Foundation
import GRDB
import TernCore

#if canImport(Glibc)
import Glibc
#endif

/// The broker's durable state in one SQLite file: identity, services and streams.
///
/// Every write is its own transaction, committed before the method returns, because the broker
/// answers 2xx only after the store returns: a client that saw 201 must find its stream after a
/// crash. Writes happen only on control operations (create, update, delete, expiry sweeps), never
/// per message, so a synchronous commit is affordable.
///
/// Thread-safe: one serialized connection (GRDB `DatabaseQueue`) takes calls from any thread.
public final class SQLiteStore: BrokerStore, Sendable {
    /// The database file.
    public let path: String
    private let queue: DatabaseQueue
    private let isOpen = Locked(true)

    private init(path: String, queue: DatabaseQueue) {
        self.path = path
        self.queue = queue
    }

    /// Opens the database at `path`, creating it if missing, and brings its schema up to date.
    ///
    /// Refuses, with a `StoreError` naming the file, anything it cannot trust: a path that is a
    /// directory, a file that is not a SQLite database or fails SQLite's integrity check, a SQLite
    /// database that is not a Tern store, a schema written by a newer Tern, or a file another
    /// process holds open. Starting empty instead would silently replace every client's sids and
    /// the auth token.
    public static func open(path: String) throws -> SQLiteStore {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
            throw StoreError(path: path, reason: "is a directory, not a database file")
        }
        createPrivately(path)
        let queue: DatabaseQueue
        do {
            queue = try DatabaseQueue(path: path, configuration: configuration)
        } catch {
            throw StoreError.opening(path, error)
        }
        do {
            try checkIsTernStore(queue, path: path)
            try StoreSchema.migrator.migrate(queue)
        } catch {
            try? queue.close()
            throw error as? StoreError ?? StoreError.opening(path, error)
        }
        return SQLiteStore(path: path, queue: queue)
    }

    /// Creates a missing database file readable by ternd's user only, since it holds the auth
    /// token (SQLite would create it 0644; its -wal file copies the main file's mode). SQLite
    /// takes an empty file for a new database. Existing files are left as the operator set them.
    private static func createPrivately(_ path: String) {
        let fd = Glibc.open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        if fd >= 0 { Glibc.close(fd) }
    }

    private static var configuration: Configuration {
        var configuration = Configuration()
        configuration.label = "TernStore"
        configuration.foreignKeysEnabled = true  // streams cascade with their service
        // WAL with synchronous=NORMAL (GRDB sets NORMAL with `.wal`; the pragma below says so
        // explicitly): a commit is appended to the WAL with write(2) but not fsync'd. Killing the
        // process (kill -9, crash, OOM) loses nothing committed, since the bytes are already in the
        // kernel's page cache and the next open replays the WAL. Only an OS crash or power cut can
        // lose the last few commits, and even then the file stays consistent. fsync per control
        // operation would cost milliseconds for no gain against process death.
        configuration.journalMode = .wal
        // One writer: ternd. Exclusive locking makes a second ternd on the same state folder fail
        // at open instead of both writing diverging state into one file. (It also keeps SQLite's
        // WAL index in process memory, so no -shm file is needed.) The short wait lets a previous
        // ternd finish closing during a restart.
        configuration.busyMode = .timeout(1)
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA locking_mode = EXCLUSIVE")
        }
        return configuration
    }

    /// Refuses damaged files, foreign databases and newer schemas before migrating touches them.
    private static func checkIsTernStore(_ queue: DatabaseQueue, path: String) throws {
        try queue.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
            // Reads every page once: cheap at Tern's sizes (only services and streams live here),
            // and it catches damage at start rather than on some later write.
            let problems = try String.fetchAll(db, sql: "PRAGMA quick_check(5)")
            if problems != ["ok"] {
                throw StoreError(
                    path: path,
                    reason: "is damaged (SQLite integrity check: \(problems.joined(separator: "; ")))."
                        + StoreError.restoreAdvice
                )
            }
            let tables = try String.fetchSet(
                db,
                sql: "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
            if !tables.isEmpty && !tables.contains("grdb_migrations") {
                throw StoreError(
                    path: path,
                    reason: "is a SQLite database but not a Tern state database (it has tables \(tables.sorted())); "
                        + "point --state-dir at another folder"
                )
            }
            let migrator = StoreSchema.migrator
            if try migrator.hasBeenSuperseded(db) {
                let unknown = try migrator.appliedIdentifiers(db).subtracting(migrator.migrations).sorted()
                throw StoreError(
                    path: path,
                    reason: "was written by a newer version of Tern (unknown schema migrations: \(unknown)); "
                        + "run that version, or restore a backup made by this one"
                )
            }
        }
    }

    /// Checkpoints the WAL into the main file and closes the connection, so a stopped daemon
    /// leaves one self-contained file behind. Idempotent; later calls to other methods throw.
    ///
    /// Errors are ignored: whatever was committed is in the WAL, which the next open replays.
    public func close() {
        let wasOpen = isOpen.withLock { open in
            defer { open = false }
            return open
        }
        guard wasOpen else { return }
        _ = try? queue.writeWithoutTransaction { try $0.checkpoint(.truncate) }
        try? queue.close()
    }

    // MARK: Transactions

    /// Runs `body` in a transaction that is committed before this returns.
    func write(_ action: @autoclosure () -> String, _ body: (Database) throws -> Void) throws {
        try requireOpen(action())
        do {
            try queue.write(body)
        } catch {
            throw StoreError.failed(path, action(), error)
        }
    }

    func read<Value>(_ action: @autoclosure () -> String, _ body: (Database) throws -> Value) throws -> Value {
        try requireOpen(action())
        do {
            return try queue.read(body)
        } catch {
            throw StoreError.failed(path, action(), error)
        }
    }

    private func requireOpen(_ action: String) throws {
        guard isOpen.withLock({ $0 }) else {
            throw StoreError(path: path, reason: "could not \(action): the store is closed")
        }
    }
}

extension StoreError {
    static let restoreAdvice =
        " ternd will not start with empty state over it: restore the file from a backup, or move it"
        + " (with any -wal file beside it) away to start afresh with new sids and credentials"

    /// An error from opening, turned into advice for the operator.
    static func opening(_ path: String, _ error: any Error) -> StoreError {
        guard let error = error as? DatabaseError else {
            return StoreError(path: path, reason: "cannot be opened (\(error))")
        }
        let sqlite = error.message ?? "\(error.resultCode)"
        switch error.resultCode {
        case .SQLITE_NOTADB, .SQLITE_CORRUPT:
            return StoreError(
                path: path,
                reason: "is not a SQLite database or is damaged (SQLite: \(sqlite))." + restoreAdvice
            )
        case .SQLITE_BUSY, .SQLITE_LOCKED:
            return StoreError(
                path: path,
                reason: "is in use by another process (is another ternd running on this state folder?)"
            )
        case .SQLITE_IOERR, .SQLITE_FULL:
            return StoreError(
                path: path,
                reason: "cannot be written (SQLite: \(sqlite)); ternd writes the database and its -wal file in "
                    + "its folder: check that the folder is writable by ternd, its file system is mounted read-write, "
                    + "and has free space"
            )
        case .SQLITE_CANTOPEN, .SQLITE_PERM, .SQLITE_READONLY, .SQLITE_AUTH:
            return StoreError(
                path: path,
                reason:
                    "cannot be opened for writing (SQLite: \(sqlite)); check that its folder exists and ternd may write there"
            )
        default:
            return StoreError(path: path, reason: "cannot be opened (SQLite: \(sqlite))")
        }
    }

    /// An error from a read or write after opening.
    static func failed(_ path: String, _ action: String, _ error: any Error) -> StoreError {
        if let error = error as? StoreError { return error }
        let detail = (error as? DatabaseError).map { $0.message ?? "\($0.resultCode)" } ?? "\(error)"
        return StoreError(path: path, reason: "could not \(action) (SQLite: \(detail))")
    }
}
