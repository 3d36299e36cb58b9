import Foundation
import TernCore
import TernStore
import Testing

/// Everything written comes back, field for field, after the store is closed and reopened.
struct SQLiteStoreRoundTripTests {
    @Test func newStoreIsEmpty() throws {
        let folder = try TemporaryFolder()
        let store = try SQLiteStore.open(path: folder.databasePath)
        defer { store.close() }
        #expect(try store.loadIdentity() == nil)
        #expect(try store.loadServices().isEmpty)
        #expect(try store.loadStreams().isEmpty)
        #expect(FileManager.default.fileExists(atPath: folder.databasePath))
    }

    @Test func identityRoundTripsAndIsReplaced() throws {
        let folder = try TemporaryFolder()
        let first = StoredIdentity(
            accountSid: Sid.generate(.account),
            defaultServiceSid: Sid.generate(.service),
            authToken: Credentials.generateToken()
        )
        var store = try SQLiteStore.open(path: folder.databasePath)
        try store.saveIdentity(first)
        store.close()

        store = try SQLiteStore.open(path: folder.databasePath)
        #expect(try store.loadIdentity() == first)
        var rotated = first
        rotated.authToken = Credentials.generateToken()
        try store.saveIdentity(rotated)
        store.close()

        store = try SQLiteStore.open(path: folder.databasePath)
        defer { store.close() }
        #expect(try store.loadIdentity() == rotated)
    }

    @Test func servicesRoundTripWithAndWithoutFriendlyName() throws {
        let folder = try TemporaryFolder()
        let named = Sample.service(friendlyName: "orders", at: 1_700_000_000_001)
        let unnamed = Sample.service(friendlyName: nil, at: 1_700_000_000_002)
        var store = try SQLiteStore.open(path: folder.databasePath)
        try store.insertService(unnamed)
        try store.insertService(named)
        store.close()

        store = try SQLiteStore.open(path: folder.databasePath)
        defer { store.close() }
        // Oldest first, whatever the insertion order.
        #expect(try store.loadServices() == [named, unnamed])
    }

    @Test func streamsRoundTripInCreationOrder() throws {
        let folder = try TemporaryFolder()
        let service = Sample.service()
        // Nil and non-nil unique names and expiries; creation indexes out of insertion order, and
        // one above Int64.max to prove the bit-pattern storage.
        let streams = [
            Sample.stream(in: service, index: 7, uniqueName: "alpha", expires: 1_800_000_000_999),
            Sample.stream(in: service, index: 2),
            Sample.stream(in: service, index: 3, uniqueName: nil, expires: 1_800_000_000_000),
            Sample.stream(in: service, index: UInt64(Int64.max) + 10, uniqueName: "ünïcode ✓"),
        ]
        var store = try SQLiteStore.open(path: folder.databasePath)
        try store.insertService(service)
        for stream in streams { try store.insertStream(stream) }
        store.close()

        store = try SQLiteStore.open(path: folder.databasePath)
        defer { store.close() }
        #expect(try store.loadStreams() == streams.sorted { $0.creationIndex < $1.creationIndex })
    }

    @Test func updateStreamRewritesInPlace() throws {
        let folder = try TemporaryFolder()
        let service = Sample.service()
        var stream = Sample.stream(in: service, index: 1, uniqueName: "ttl", expires: nil)
        var store = try SQLiteStore.open(path: folder.databasePath)
        try store.insertService(service)
        try store.insertStream(stream)
        stream.dateExpires = UnixTime(milliseconds: 1_900_000_000_000)
        stream.dateUpdated = UnixTime(milliseconds: 1_800_000_000_000)
        #expect(try store.updateStream(stream))
        #expect(try store.loadStreams() == [stream])
        stream.dateExpires = nil
        #expect(try store.updateStream(stream))
        store.close()

        store = try SQLiteStore.open(path: folder.databasePath)
        defer { store.close() }
        #expect(try store.loadStreams() == [stream])
    }

    /// An update after a delete must not bring the row back (an upsert did: deleted streams
    /// reappeared after a restart when a Ttl update raced the DELETE).
    @Test func updateOfADeletedRowChangesNothing() throws {
        let folder = try TemporaryFolder()
        var service = Sample.service()
        let stream = Sample.stream(in: service, index: 1, uniqueName: "gone")
        let store = try SQLiteStore.open(path: folder.databasePath)
        defer { store.close() }
        try store.insertService(service)
        try store.insertStream(stream)
        try store.deleteStream(sid: stream.sid)
        #expect(try store.updateStream(stream) == false)
        #expect(try store.loadStreams().isEmpty)
        try store.deleteService(sid: service.sid)
        service.friendlyName = "renamed"
        #expect(try store.updateService(service) == false)
        #expect(try store.loadServices().isEmpty)
    }

    @Test func insertRefusesAnExistingSid() throws {
        let folder = try TemporaryFolder()
        let service = Sample.service()
        let stream = Sample.stream(in: service, index: 1)
        let store = try SQLiteStore.open(path: folder.databasePath)
        defer { store.close() }
        try store.insertService(service)
        try store.insertStream(stream)
        #expect(throws: StoreError.self) { try store.insertStream(stream) }
        #expect(throws: StoreError.self) { try store.insertService(service) }
    }

    /// Updating a service must not disturb its streams (an `INSERT OR REPLACE` would cascade).
    @Test func updateServiceKeepsItsStreams() throws {
        let folder = try TemporaryFolder()
        var service = Sample.service()
        let stream = Sample.stream(in: service, index: 1, uniqueName: "kept")
        let store = try SQLiteStore.open(path: folder.databasePath)
        defer { store.close() }
        try store.insertService(service)
        try store.insertStream(stream)
        service.friendlyName = "renamed"
        service.dateUpdated = UnixTime(milliseconds: service.dateUpdated.milliseconds + 1000)
        #expect(try store.updateService(service))
        #expect(try store.loadServices() == [service])
        #expect(try store.loadStreams() == [stream])
    }

    @Test func deleteServiceCascadesToItsStreamsOnly() throws {
        let folder = try TemporaryFolder()
        let doomed = Sample.service(at: 1)
        let kept = Sample.service(at: 2)
        let keptStream = Sample.stream(in: kept, index: 3, uniqueName: "same-name")
        var store = try SQLiteStore.open(path: folder.databasePath)
        try store.insertService(doomed)
        try store.insertService(kept)
        try store.insertStream(Sample.stream(in: doomed, index: 1, uniqueName: "same-name"))
        try store.insertStream(Sample.stream(in: doomed, index: 2))
        try store.insertStream(keptStream)
        try store.deleteService(sid: doomed.sid)
        store.close()

        store = try SQLiteStore.open(path: folder.databasePath)
        defer { store.close() }
        #expect(try store.loadServices() == [kept])
        #expect(try store.loadStreams() == [keptStream])
    }

    @Test func deleteStreamAndDeleteStreams() throws {
        let folder = try TemporaryFolder()
        let service = Sample.service()
        let streams = (0..<6).map { Sample.stream(in: service, index: UInt64($0), uniqueName: "s\($0)") }
        var store = try SQLiteStore.open(path: folder.databasePath)
        try store.insertService(service)
        for stream in streams { try store.insertStream(stream) }
        try store.deleteStream(sid: streams[0].sid)
        try store.deleteStreams(sids: [streams[2].sid, streams[4].sid, Sid.generate(.stream)])
        try store.deleteStreams(sids: [])
        try store.deleteStream(sid: streams[0].sid)  // already gone: not an error
        store.close()

        store = try SQLiteStore.open(path: folder.databasePath)
        defer { store.close() }
        #expect(try store.loadStreams() == [streams[1], streams[3], streams[5]])
    }

    /// The schema backs the broker's own checks: a store never holds two streams with one
    /// unique name in a service, nor a stream of an unknown service.
    @Test func constraintsRefuseInconsistentStreams() throws {
        let folder = try TemporaryFolder()
        let service = Sample.service()
        let store = try SQLiteStore.open(path: folder.databasePath)
        defer { store.close() }
        try store.insertService(service)
        try store.insertStream(Sample.stream(in: service, index: 1, uniqueName: "taken"))
        try store.insertStream(Sample.stream(in: service, index: 2))
        try store.insertStream(Sample.stream(in: service, index: 3))  // two nil names do not collide
        let duplicate = #expect(throws: StoreError.self) {
            try store.insertStream(Sample.stream(in: service, index: 4, uniqueName: "taken"))
        }
        #expect(duplicate?.description.contains(folder.databasePath) == true)
        #expect(throws: StoreError.self) {
            try store.insertStream(Sample.stream(in: Sample.service(), index: 5))
        }
        #expect(try store.loadStreams().count == 3)
    }

    @Test func closeIsIdempotentAndLaterCallsThrow() throws {
        let folder = try TemporaryFolder()
        let store = try SQLiteStore.open(path: folder.databasePath)
        try store.insertService(Sample.service())
        store.close()
        store.close()
        let error = #expect(throws: StoreError.self) { try store.insertService(Sample.service()) }
        #expect(error?.description.contains("closed") == true)
        #expect(throws: StoreError.self) { try store.loadStreams() }
        // A clean close checkpoints the WAL into the main file.
        let wal = (try? FileManager.default.attributesOfItem(atPath: folder.databasePath + "-wal")[.size] as? Int) ?? 0
        #expect(wal == 0)
        let reopened = try SQLiteStore.open(path: folder.databasePath)
        defer { reopened.close() }
        #expect(try reopened.loadServices().count == 1)
    }
}

/// The database holds the auth token: a new one is private to ternd's user, WAL included.
struct SQLiteStoreFileModeTests {
    @Test func newDatabaseIsReadableByOwnerOnly() throws {
        let folder = try TemporaryFolder()
        let store = try SQLiteStore.open(path: folder.databasePath)
        defer { store.close() }
        try store.insertService(Sample.service())
        for file in [folder.databasePath, folder.databasePath + "-wal"] {
            let mode = try #require(try FileManager.default.attributesOfItem(atPath: file)[.posixPermissions] as? Int)
            #expect(mode == 0o600, "\(file) has mode \(String(mode, radix: 8))")
        }
    }
}
