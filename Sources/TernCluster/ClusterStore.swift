import NIOCore
import Synchronization
import TernCore
import TernNATS

/// The broker's store in cluster mode: every registry change is a write to the JetStream KV
/// bucket, made before the change is answered. Unique names are claimed with the bucket's atomic
/// create (`name.<service>.<digest>`), so two nodes racing for one name get one success and one
/// `uniqueNameTaken`; expiry deletes are compare-and-delete on the stream's revision, so a
/// stream's expiry is written once for the cluster however many nodes' timers fire.
///
/// Synchronous, as `BrokerStore` is: it waits for the bucket's acknowledgement (never on the
/// NATS event loop: the broker is called from the control port's tasks and the expiry service).
/// With the backbone unreachable every write throws `backboneUnavailable` (REST 503).
public final class ClusterStore: BrokerStore, Sendable {
    let bucket: KeyValueBucket
    /// What the store knows of each stream, from its own writes and the change feed.
    private let streams = Locked<[String: StreamMeta]>([:])
    /// Expiry deletes this node won (the others found the stream gone or changed).
    public let expiriesWritten = Atomic<UInt64>(0)

    struct StreamMeta {
        var serviceSid: String
        var nameKey: String?
    }

    init(bucket: KeyValueBucket) { self.bucket = bucket }

    // MARK: Change feed bookkeeping

    func noteStream(_ record: StreamRecord) {
        let meta = StreamMeta(
            serviceSid: record.serviceSid,
            nameKey: record.uniqueName.map { ClusterKey.name(serviceSid: record.serviceSid, uniqueName: $0) }
        )
        streams.withLock { $0[record.sid] = meta }
    }

    func noteStreamRemoved(_ sid: String) { _ = streams.withLock { $0.removeValue(forKey: sid) } }

    // MARK: Services

    public func insertService(_ service: SyncService) throws {
        _ = try wait(bucket.put(ClusterKey.service(service.sid), ClusterJSON.encode(ServiceDocument(service))))
    }

    public func updateService(_ service: SyncService) throws -> Bool {
        guard try live(ClusterKey.service(service.sid)) != nil else { return false }
        _ = try wait(bucket.put(ClusterKey.service(service.sid), ClusterJSON.encode(ServiceDocument(service))))
        return true
    }

    public func deleteService(sid: String) throws {
        let owned = streams.withLock { $0.filter { $0.value.serviceSid == sid } }
        for (streamSid, meta) in owned { try deleteStream(sid: streamSid, meta: meta, reason: "deleted") }
        _ = try wait(bucket.delete(ClusterKey.service(sid)))
    }

    // MARK: Streams

    public func insertStream(_ record: StreamRecord) throws {
        var nameKey: String?
        if let name = record.uniqueName {
            let key = ClusterKey.name(serviceSid: record.serviceSid, uniqueName: name)
            do {
                _ = try wait(bucket.create(key, Array(record.sid.utf8)))
            } catch KeyValueError.exists {
                throw BrokerError.uniqueNameTaken(name)
            }
            nameKey = key
        }
        do {
            _ = try wait(bucket.put(ClusterKey.stream(record.sid), ClusterJSON.encode(StreamDocument(record))))
        } catch {
            if let nameKey { _ = try? wait(bucket.delete(nameKey)) }
            throw error
        }
        noteStream(record)
    }

    public func updateStream(_ record: StreamRecord) throws -> Bool {
        for _ in 0..<3 {
            guard let entry = try live(ClusterKey.stream(record.sid)) else { return false }
            do {
                _ = try wait(
                    bucket.update(
                        ClusterKey.stream(record.sid),
                        ClusterJSON.encode(StreamDocument(record)),
                        revision: entry.revision
                    )
                )
                return true
            } catch KeyValueError.wrongRevision {
                continue  // changed meanwhile: read it again
            }
        }
        throw BrokerError.storageFailed("stream \(record.sid) kept changing under the update")
    }

    public func deleteStream(sid: String) throws {
        let meta = streams.withLock { $0[sid] }
        try deleteStream(sid: sid, meta: meta, reason: "deleted")
    }

    /// Expiry (and start-up) deletes: compare-and-delete on the revision read, only if the
    /// bucket's record has expired too. A stream already gone is skipped (another node expired
    /// it); one whose Ttl was extended elsewhere makes the call throw, so the broker keeps it
    /// until the change feed brings the new expiry.
    public func deleteStreams(sids: [String]) throws {
        let now = UnixTime.now()
        var extended: [String] = []
        for sid in sids {
            guard let entry = try live(ClusterKey.stream(sid)),
                let document = ClusterJSON.decode(StreamDocument.self, entry.value)
            else { continue }
            guard let expires = document.dateExpires, expires <= now.milliseconds + 1000 else {
                extended.append(sid)
                continue
            }
            var headers = NATSHeaders()
            headers.append(ClusterHeader.endReason, "expired")
            do {
                _ = try wait(bucket.delete(ClusterKey.stream(sid), revision: entry.revision, headers: headers))
            } catch KeyValueError.wrongRevision {
                continue  // another node expired (or changed) it first
            }
            expiriesWritten.add(1, ordering: .relaxed)
            if let name = document.uniqueName {
                _ = try? wait(bucket.delete(ClusterKey.name(serviceSid: document.serviceSid, uniqueName: name)))
            }
            noteStreamRemoved(sid)
        }
        if !extended.isEmpty { throw BrokerError.storageFailed("Ttl changed on another node: \(extended)") }
    }

    private func deleteStream(sid: String, meta: StreamMeta?, reason: String) throws {
        var headers = NATSHeaders()
        headers.append(ClusterHeader.endReason, reason)
        _ = try wait(bucket.delete(ClusterKey.stream(sid), headers: headers))
        if let nameKey = meta?.nameKey { _ = try? wait(bucket.delete(nameKey)) }
        noteStreamRemoved(sid)
    }

    // MARK: Keys

    public func insertKey(_ key: APIKey) throws {
        _ = try wait(bucket.put(ClusterKey.key(key.sid), ClusterJSON.encode(KeyDocument(key))))
    }

    public func updateKey(_ key: APIKey) throws -> Bool {
        guard try live(ClusterKey.key(key.sid)) != nil else { return false }
        _ = try wait(bucket.put(ClusterKey.key(key.sid), ClusterJSON.encode(KeyDocument(key))))
        return true
    }

    public func deleteKey(sid: String) throws {
        _ = try wait(bucket.delete(ClusterKey.key(sid)))
    }

    // MARK: Identity

    /// Saves a rotated auth token for every node (compare-and-set on the identity's revision).
    public func saveAuthToken(_ token: String) throws {
        for _ in 0..<3 {
            guard let entry = try live(ClusterKey.identity),
                var identity = ClusterJSON.decode(IdentityDocument.self, entry.value)
            else { throw BrokerError.storageFailed("the cluster has no identity") }
            identity.authToken = token
            do {
                _ = try wait(bucket.update(ClusterKey.identity, ClusterJSON.encode(identity), revision: entry.revision))
                return
            } catch KeyValueError.wrongRevision {
                continue
            }
        }
        throw BrokerError.storageFailed("the identity kept changing under the token rotation")
    }

    // MARK: Waiting

    /// The key's live entry (nil if never written or deleted).
    private func live(_ key: String) throws -> KeyValueEntry? {
        guard let entry = try wait(bucket.get(key)), entry.operation == .put else { return nil }
        return entry
    }

    private func wait<T: Sendable>(_ future: EventLoopFuture<T>) throws -> T {
        do {
            return try future.wait()
        } catch let error as NATSError {
            throw BrokerError.backboneUnavailable("\(error)")
        } catch let error as JetStreamError where error.code == 503 {
            throw BrokerError.backboneUnavailable("\(error)")
        }
    }
}
