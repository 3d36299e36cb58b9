import Synchronization

/// All live streams, findable by numeric id, by sid, and by unique name within a service.
///
/// One lock guards the three indexes so they always agree. Lookups happen on SUBSCRIBE and on
/// REST calls, never per message: connections keep `BrokerStream` references.
final class StreamRegistry: Sendable {
    private struct UniqueKey: Hashable {
        var serviceSid: String
        var uniqueName: String
    }

    private struct State {
        var byID: [UInt32: BrokerStream] = [:]
        var bySid: [String: BrokerStream] = [:]
        var byUniqueName: [UniqueKey: BrokerStream] = [:]
        var nextID: UInt32 = 1
        var nextCreationIndex: UInt64 = 1
    }

    private let state = Locked(State())
    /// Cluster mode: new streams forward to it, and creation indexes follow the clock (in
    /// microseconds) so that every node pages a service's streams in the same order.
    let cluster: (any ClusterLink)?

    init(cluster: (any ClusterLink)? = nil) { self.cluster = cluster }

    /// A fresh numeric id for a lane (ids of streams and lanes never collide).
    func allocateID() -> UInt32 {
        state.withLock { state in
            defer { state.nextID += 1 }
            return state.nextID
        }
    }

    /// Creates and indexes a stream; fails if the unique name is taken in the service.
    /// With `restoring`, the stream keeps the stored sid, dates and creation index.
    func create(
        serviceSid: String,
        accountSid: String,
        uniqueName: String?,
        createdBy: String,
        now: UnixTime,
        expires: UnixTime?,
        rateLimit: TokenBucket?,
        restoring record: StreamRecord? = nil
    ) throws(BrokerError) -> BrokerStream {
        try state.withLock { (state) throws(BrokerError) -> BrokerStream in
            if let uniqueName, state.byUniqueName[UniqueKey(serviceSid: serviceSid, uniqueName: uniqueName)] != nil {
                throw .uniqueNameTaken(uniqueName)
            }
            var sid = record?.sid ?? Sid.generate(.stream)
            while record == nil && state.bySid[sid] != nil { sid = Sid.generate(.stream) }
            var creationIndex = record?.creationIndex ?? state.nextCreationIndex
            if record == nil, cluster != nil {
                creationIndex = max(creationIndex, UInt64(max(0, now.milliseconds)) * 1000)
            }
            let stream = BrokerStream(
                id: state.nextID,
                sid: sid,
                serviceSid: serviceSid,
                accountSid: accountSid,
                uniqueName: uniqueName,
                createdBy: createdBy,
                dateCreated: record?.dateCreated ?? now,
                dateUpdated: record?.dateUpdated,
                dateExpires: expires,
                creationIndex: creationIndex,
                rateLimit: rateLimit,
                cluster: cluster
            )
            state.nextID += 1
            state.nextCreationIndex = max(state.nextCreationIndex, creationIndex + 1)
            state.byID[stream.id] = stream
            state.bySid[sid] = stream
            if let uniqueName { state.byUniqueName[UniqueKey(serviceSid: serviceSid, uniqueName: uniqueName)] = stream }
            return stream
        }
    }

    func stream(id: UInt32) -> BrokerStream? { state.withLock { $0.byID[id] } }

    func stream(sid: String) -> BrokerStream? { state.withLock { $0.bySid[sid] } }

    func stream(serviceSid: String, uniqueName: String) -> BrokerStream? {
        state.withLock { $0.byUniqueName[UniqueKey(serviceSid: serviceSid, uniqueName: uniqueName)] }
    }

    /// The service's streams in creation order.
    func streams(serviceSid: String) -> [BrokerStream] {
        state.withLock { state in
            state.bySid.values.filter { $0.serviceSid == serviceSid }
        }.sorted { $0.creationIndex < $1.creationIndex }
    }

    var count: Int { state.withLock { $0.byID.count } }

    /// Every stream, in no particular order.
    var all: [BrokerStream] { state.withLock { Array($0.byID.values) } }

    /// Removes the stream from every index; false if it was not there.
    func remove(_ stream: BrokerStream) -> Bool {
        state.withLock { state in
            guard state.byID.removeValue(forKey: stream.id) != nil else { return false }
            state.bySid.removeValue(forKey: stream.sid)
            if let name = stream.uniqueName {
                state.byUniqueName.removeValue(forKey: UniqueKey(serviceSid: stream.serviceSid, uniqueName: name))
            }
            return true
        }
    }
}
