import Foundation
import TernCore
import Testing

@testable import TernStore

/// Files the store must refuse to open, each with an error that names the file: starting empty
/// over damaged state would silently change every client's sids and the auth token.
struct SQLiteStoreRefusalTests {
    @Test func garbageFileIsRefused() throws {
        let folder = try TemporaryFolder()
        let garbage = (0..<8192).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 13) }
        try Data(garbage).write(to: URL(fileURLWithPath: folder.databasePath))

        let error = #expect(throws: StoreError.self) { try SQLiteStore.open(path: folder.databasePath) }
        #expect(error?.path == folder.databasePath)
        #expect(error?.description.contains(folder.databasePath) == true)
        #expect(error?.description.contains("not a SQLite database") == true, "\(String(describing: error))")
        // The file is left exactly as it was, for the operator to inspect or restore.
        #expect(try Data(contentsOf: URL(fileURLWithPath: folder.databasePath)) == Data(garbage))
    }

    @Test func textFileIsRefused() throws {
        let folder = try TemporaryFolder()
        try Data("{\"accountSid\": \"AC…\"}\n".utf8).write(to: URL(fileURLWithPath: folder.databasePath))
        let error = #expect(throws: StoreError.self) { try SQLiteStore.open(path: folder.databasePath) }
        #expect(error?.description.contains(folder.databasePath) == true)
    }

    /// A valid header over damaged pages: caught at open by the integrity check, not on a later write.
    @Test func damagedPagesAreRefused() throws {
        let folder = try TemporaryFolder()
        let store = try SQLiteStore.open(path: folder.databasePath)
        let service = Sample.service()
        try store.insertService(service)
        for index in 0..<400 {
            try store.insertStream(Sample.stream(in: service, index: UInt64(index), uniqueName: "stream-\(index)"))
        }
        store.close()

        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: folder.databasePath))
        let size = try handle.seekToEnd()
        #expect(size > 16384)
        // Keep the 100-byte header and the schema page; scribble over the rest of page 2 onwards.
        try handle.seek(toOffset: 4096 + 16)
        try handle.write(contentsOf: Data(repeating: 0xA5, count: Int(size) - 4096 - 16))
        try handle.close()

        let error = #expect(throws: StoreError.self) { try SQLiteStore.open(path: folder.databasePath) }
        #expect(error?.description.contains(folder.databasePath) == true, "\(String(describing: error))")
    }

    @Test func directoryIsRefused() throws {
        let folder = try TemporaryFolder()
        let error = #expect(throws: StoreError.self) { try SQLiteStore.open(path: folder.path) }
        #expect(error?.description.contains(folder.path) == true)
        #expect(error?.description.contains("directory") == true)
    }

    @Test func missingFolderIsRefused() throws {
        let folder = try TemporaryFolder()
        let path = folder.path + "/no/such/folder/tern.sqlite"
        let error = #expect(throws: StoreError.self) { try SQLiteStore.open(path: path) }
        #expect(error?.description.contains(path) == true)
    }

    @Test func foreignDatabaseIsRefused() throws {
        let folder = try TemporaryFolder()
        let store = try SQLiteStore.open(path: folder.databasePath)
        // Drops the migration log so the file looks like some other application's database.
        try store.write("make a foreign database") { db in try db.execute(sql: "DROP TABLE grdb_migrations") }
        store.close()

        let error = #expect(throws: StoreError.self) { try SQLiteStore.open(path: folder.databasePath) }
        #expect(error?.description.contains("not a Tern state database") == true, "\(String(describing: error))")
    }

    @Test func schemaFromNewerVersionIsRefused() throws {
        let folder = try TemporaryFolder()
        let store = try SQLiteStore.open(path: folder.databasePath)
        try store.write("pretend a newer Tern migrated") { db in
            try db.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES ('v99 from the future')")
        }
        store.close()

        let error = #expect(throws: StoreError.self) { try SQLiteStore.open(path: folder.databasePath) }
        #expect(error?.description.contains("newer version") == true, "\(String(describing: error))")
        #expect(error?.description.contains("v99 from the future") == true)
    }

    /// Two daemons on one state folder would write diverging state into one file.
    @Test func secondOpenWhileInUseIsRefused() throws {
        let folder = try TemporaryFolder()
        let first = try SQLiteStore.open(path: folder.databasePath)
        let error = #expect(throws: StoreError.self) { try SQLiteStore.open(path: folder.databasePath) }
        #expect(error?.description.contains("another process") == true, "\(String(describing: error))")
        // The first is unharmed, and once it closes the file opens again.
        try first.insertService(Sample.service())
        first.close()
        let second = try SQLiteStore.open(path: folder.databasePath)
        defer { second.close() }
        #expect(try second.loadServices().count == 1)
    }
}
