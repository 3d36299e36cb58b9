import TernAuth
import TernWire

/// Cluster mode: changes another node made (read from the registry bucket's change feed) are
/// applied here without a store write, and messages published on other nodes are appended to
/// lanes. Applying is idempotent: a node also sees its own changes come back.
extension Broker {
    // MARK: Registry changes from the change feed

    /// A stream created or updated elsewhere (or this node's own write coming back).
    public func applyStream(_ record: StreamRecord) {
        withChangesQuietly {
            if let stream = registry.stream(sid: record.sid) {
                guard stream.dateExpires != record.dateExpires || stream.dateUpdated != record.dateUpdated else {
                    return
                }
                stream.setExpiry(record.dateExpires, updated: record.dateUpdated)
                if let expires = record.dateExpires { expiries.schedule(stream, at: expires) }
                return
            }
            guard service(sid: record.serviceSid) != nil else { return }
            guard
                let stream = try? registry.create(
                    serviceSid: record.serviceSid,
                    accountSid: record.accountSid,
                    uniqueName: record.uniqueName,
                    createdBy: record.createdBy,
                    now: record.dateCreated,
                    expires: record.dateExpires,
                    rateLimit: newRateLimit(),
                    restoring: record
                )
            else { return }
            if let expires = record.dateExpires { expiries.schedule(stream, at: expires) }
        }
    }

    /// A stream deleted or expired elsewhere: its subscribers here get STREAM_ENDED.
    public func applyStreamRemoved(sid: String, reason: StreamEndReason) {
        withChangesQuietly {
            guard let stream = registry.stream(sid: sid) else { return }
            if endStream(stream, reason: reason), reason == .expired {
                streamsExpired.add(1, ordering: .relaxed)
            }
        }
    }

    /// The sids of every stream here (to find those a replayed feed no longer has).
    public var allStreamSids: [String] { registry.all.map(\.sid) }

    public func applyService(_ service: SyncService) {
        withChangesQuietly { services.withLock { $0[service.sid] = service } }
    }

    public func applyServiceRemoved(sid: String) {
        withChangesQuietly {
            guard services.withLock({ $0.removeValue(forKey: sid) }) != nil else { return }
            for stream in registry.streams(serviceSid: sid) { endStream(stream, reason: .deleted) }
        }
    }

    public func applyKey(_ key: APIKey) {
        withChangesQuietly { keyRing.insert(key) }
    }

    public func applyKeyRemoved(sid: String) {
        withChangesQuietly {
            guard keyRing.key(sid: sid) != nil else { return }
            keyRing.remove(sid: sid)
            forEachReaderGroup { $0.keyRevoked(sid) }
        }
    }

    private func withChangesQuietly(_ body: () -> Void) {
        try? withChanges { () throws(BrokerError) in body() }
    }

    // MARK: Messages from other nodes

    /// Appends a run published on another node (whose sid prefix for the stream is `origin`) to
    /// the stream's lane for that node, opening the lane on its first run. Nothing happens if no
    /// reader here delivers the stream, or the run is this node's own.
    ///
    /// The payloads were validated on the publishing node and are not validated again.
    public func appendRemote(
        sid: String,
        origin: SidPrefix,
        firstSequence: UInt64,
        payloads: UnsafeBufferPointer<UnsafeRawBufferPointer>
    ) {
        guard let stream = registry.stream(sid: sid), origin != stream.sidPrefix, stream.hasLocalInterest else {
            return
        }
        let ringBytes = limits.ringBytes
        guard
            let (lane, opened) = stream.lane(
                origin: origin,
                make: {
                    let lane = BrokerStream(
                        id: registry.allocateID(),
                        sid: stream.sid,
                        serviceSid: stream.serviceSid,
                        accountSid: stream.accountSid,
                        uniqueName: nil,
                        createdBy: stream.createdBy,
                        dateCreated: stream.dateCreated,
                        dateExpires: nil,
                        creationIndex: stream.creationIndex,
                        sidPrefix: origin,
                        laneOf: stream.id
                    )
                    lane.openLane(ringCapacity: ringBytes, firstSequence: firstSequence)
                    return lane
                }
            )
        else { return }
        guard lane.appendForeign(firstSequence: firstSequence, payloads: payloads) else { return }
        messagesFromBackbone.add(UInt64(payloads.count), ordering: .relaxed)
        if opened { forEachGroup(in: stream.memberGroups) { $0.laneOpened(lane) } }
        wakeReaders(of: lane)
    }

    /// Ends a stream's lanes (the node lost interest in it: no reader here delivers it now).
    /// Subscribers that come later get new lanes.
    public func closeLanes(of stream: BrokerStream) {
        guard !stream.hasLocalInterest else { return }
        for lane in stream.lanes(removing: true) where lane.markEnded(.deleted) {
            forEachGroup(in: lane.memberGroups) { $0.streamEnded(lane) }
        }
    }
}
