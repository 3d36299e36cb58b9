import Foundation
import Synchronization
import TernCore
import TernStore
import Testing

/// The broker's control-plane changes against the real SQLite store, with one store call held
/// open while a racing change runs: the interleavings the end-to-end `StoreRaceTests` can only
/// hope to hit, made certain. Whatever order the two changes take, what the callers were told
/// is what the store holds.
@Suite struct ChangeInterleavingTests {
    @Test("a delete by name that starts while the create's INSERT is open keeps its answer")
    func createHeldOpenWhileDeleteByName() throws {
        let folder = try TemporaryFolder()
        let (broker, store) = try Self.broker(in: folder, gating: .insertStream)
        let create = Background { () throws(BrokerError) in
            try broker.createStream(serviceSid: broker.defaultServiceSid, uniqueName: "race", ttl: nil)
        }
        try store.waitUntilHeld()
        let delete = Background { () throws(BrokerError) -> Bool in
            let stream = try broker.stream(named: "race")
            return try broker.deleteStream(stream)
        }
        // A delete that succeeded while the INSERT was still open would be undone by it (a 404
        // then is fine: the create has not answered yet).
        if case .success? = delete.wait(milliseconds: 200) {
            Issue.record("the delete succeeded while the create's INSERT was uncommitted")
        }
        store.release()
        let created = try #require(create.wait(milliseconds: 5_000))
        let deleted = try #require(delete.wait(milliseconds: 5_000))
        let createdSid = try created.get().sid
        let stored = try store.inner.loadStreams().map(\.sid)
        switch deleted {
        case .success:
            #expect(!stored.contains(createdSid), "acknowledged delete, yet the stream is stored")
            #expect(throws: BrokerError.self) { try broker.stream(named: "race") }
        case .failure(let error):
            #expect(error == .streamNotFound("race"))
            #expect(stored.contains(createdSid), "acknowledged create, yet the stream is not stored")
        }
    }

    @Test("a Ttl update held open in the store cannot bring back a stream deleted meanwhile")
    func updateHeldOpenWhileDelete() throws {
        let folder = try TemporaryFolder()
        let (broker, store) = try Self.broker(in: folder, gating: .updateStream)
        let stream = try broker.createStream(serviceSid: broker.defaultServiceSid, uniqueName: "ttl", ttl: nil)
        let update = Background { () throws(BrokerError) in try broker.updateStream(stream, ttl: 3_600) }
        try store.waitUntilHeld()
        let delete = Background { () throws(BrokerError) -> Bool in try broker.deleteStream(stream) }
        let finishedEarly = delete.wait(milliseconds: 200) != nil
        store.release()
        _ = try #require(update.wait(milliseconds: 5_000))
        let deleted = try #require(delete.wait(milliseconds: 5_000))
        #expect(!finishedEarly, "the delete completed while the update's write was open")
        #expect(try deleted.get(), "the delete must succeed: the stream existed")
        #expect(try !store.inner.loadStreams().map(\.sid).contains(stream.sid), "a deleted stream is stored again")
    }

    @Test("a service rename held open in the store cannot bring back a service deleted meanwhile")
    func serviceUpdateHeldOpenWhileDelete() throws {
        let folder = try TemporaryFolder()
        let (broker, store) = try Self.broker(in: folder, gating: .updateService)
        let service = try broker.createService(friendlyName: "before")
        let rename = Background { () throws(BrokerError) in
            _ = try broker.updateService(sid: service.sid, friendlyName: "after")
        }
        try store.waitUntilHeld()
        let delete = Background { () throws(BrokerError) in try broker.deleteService(sid: service.sid) }
        let finishedEarly = delete.wait(milliseconds: 200) != nil
        store.release()
        _ = try #require(rename.wait(milliseconds: 5_000))
        let deleted = try #require(delete.wait(milliseconds: 5_000))
        #expect(!finishedEarly, "the delete completed while the rename's write was open")
        #expect(throws: Never.self) { try deleted.get() }
        #expect(try !store.inner.loadServices().map(\.sid).contains(service.sid), "a deleted service is stored again")
        #expect(broker.service(sid: service.sid) == nil)
    }

    static func broker(
        in folder: TemporaryFolder,
        gating operation: GatedStore.Operation
    ) throws -> (Broker, GatedStore) {
        let store = GatedStore(try SQLiteStore.open(path: folder.databasePath), holding: operation)
        let broker = try Broker(
            limits: BrokerLimits(),
            accountSid: Sample.account,
            defaultServiceSid: Sid.generate(.service),
            store: store
        )
        return (broker, store)
    }
}

/// The real SQLite store, with the first call of one kind held open (entered, not yet
/// forwarded) until the test releases it.
final class GatedStore: BrokerStore {
    enum Operation: Sendable { case insertStream, updateStream, updateService }

    let inner: SQLiteStore
    private let operation: Operation
    private let armed = Atomic<Bool>(true)
    private let entered = DispatchSemaphore(value: 0)
    private let proceed = DispatchSemaphore(value: 0)

    init(_ inner: SQLiteStore, holding operation: Operation) {
        self.inner = inner
        self.operation = operation
    }

    func waitUntilHeld() throws {
        guard entered.wait(timeout: .now() + 5) == .success else { throw CocoaError(.userCancelled) }
    }

    func release() { proceed.signal() }

    private func hold(_ call: Operation) {
        guard call == operation, armed.exchange(false, ordering: .sequentiallyConsistent) else { return }
        entered.signal()
        proceed.wait()
    }

    func insertService(_ service: SyncService) throws { try inner.insertService(service) }

    func updateService(_ service: SyncService) throws -> Bool {
        hold(.updateService)
        return try inner.updateService(service)
    }

    func deleteService(sid: String) throws { try inner.deleteService(sid: sid) }

    func insertStream(_ record: StreamRecord) throws {
        hold(.insertStream)
        try inner.insertStream(record)
    }

    func updateStream(_ record: StreamRecord) throws -> Bool {
        hold(.updateStream)
        return try inner.updateStream(record)
    }

    func deleteStream(sid: String) throws { try inner.deleteStream(sid: sid) }
    func deleteStreams(sids: [String]) throws { try inner.deleteStreams(sids: sids) }
    func insertKey(_ key: APIKey) throws { try inner.insertKey(key) }
    func updateKey(_ key: APIKey) throws -> Bool { try inner.updateKey(key) }
    func deleteKey(sid: String) throws { try inner.deleteKey(sid: sid) }
}

/// Runs a broker call on its own thread; `wait` gives its outcome, or nil if it has not
/// finished within the time.
final class Background<Value: Sendable>: Sendable {
    private let outcome = Mutex<Result<Value, BrokerError>?>(nil)
    private let done = DispatchSemaphore(value: 0)

    init(_ body: @escaping @Sendable () throws(BrokerError) -> Value) {
        Thread.detachNewThread { [self] in
            let result = Result { () throws(BrokerError) in try body() }
            outcome.withLock { $0 = result }
            done.signal()
        }
    }

    func wait(milliseconds: Int) -> Result<Value, BrokerError>? {
        guard done.wait(timeout: .now() + .milliseconds(milliseconds)) == .success else { return nil }
        done.signal()  // later waits return at once
        return outcome.withLock { $0 }
    }
}
