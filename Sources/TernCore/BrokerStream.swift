import Synchronization
import TernWire

/// One stream: its Twilio metadata, its sequence counter, and (while anyone subscribes) its ring.
///
/// An idle stream costs its metadata only; the ring exists while at least one reader group (a
/// reactor thread) has a delivering subscriber. Masks name the reader groups by index (0..<64).
public final class BrokerStream: Sendable {
    /// Server-wide numeric id, used in every MESSAGE frame. Never reused while the process runs.
    public let id: UInt32
    public let sid: String
    public let serviceSid: String
    public let accountSid: String
    public let createdBy: String
    public let dateCreated: UnixTime
    /// Random per process start; with the sequence it forms message sids.
    public let sidPrefix: SidPrefix
    /// Position in creation order; lists page by it.
    public let creationIndex: UInt64
    /// Cluster mode: for a lane (another node's messages of a stream), the stream's id; 0 for a stream.
    public let laneOf: UInt32
    /// Cluster mode: where accepted runs are forwarded and interest changes reported; nil otherwise.
    let cluster: (any ClusterLink)?

    private let metadata: Locked<Metadata>
    private let publishState: Locked<PublishState>
    /// Reader groups with at least one delivering subscriber: woken on publish. Changed only by
    /// `addReader`/`removeReader`; reader groups never write any of the masks themselves.
    let deliveryMask = Atomic<UInt64>(0)
    /// Reader groups with any subscriber or publisher attached: told when the stream ends.
    let memberMask = Atomic<UInt64>(0)
    /// Reader groups that were told about new data and have not drained it yet.
    let dirtyMask = Atomic<UInt64>(0)
    private let endReason = Atomic<UInt8>(0)
    /// Shared-memory readers of the ring (`addMappedReader`): while there are any, each publishing
    /// turn wakes them once (`wakeMappedReaders`). Read without the lock on every wake.
    private let mappedReaders = Atomic<Int>(0)

    struct Metadata {
        var uniqueName: String?
        var dateUpdated: UnixTime
        var dateExpires: UnixTime?
    }

    struct PublishState {
        var nextSequence: UInt64 = 1
        var ring: BroadcastRing?
        var ringReaders = 0
        /// Set while the ring is kept for resumes with no reader (`removeReader(retain: true)`).
        var ringIdleSince: ContinuousClock.Instant?
        var rateLimit: TokenBucket?
        /// Cluster mode: this stream's lanes on this node, by the origin's sid prefix.
        var lanes: [UInt64: BrokerStream] = [:]
        /// A lane's ring lives as long as the lane (readers join it from its first message).
        var ringHeld = false
        /// A lane's first message: where readers joining at `laneOpened` start.
        var laneStart: (cursor: UInt64, sequence: UInt64)?
    }

    init(
        id: UInt32,
        sid: String,
        serviceSid: String,
        accountSid: String,
        uniqueName: String?,
        createdBy: String,
        dateCreated: UnixTime,
        dateUpdated: UnixTime? = nil,
        dateExpires: UnixTime?,
        creationIndex: UInt64,
        rateLimit: TokenBucket? = nil,
        sidPrefix: SidPrefix? = nil,
        laneOf: UInt32 = 0,
        cluster: (any ClusterLink)? = nil
    ) {
        self.id = id
        self.sid = sid
        self.serviceSid = serviceSid
        self.accountSid = accountSid
        self.createdBy = createdBy
        self.dateCreated = dateCreated
        self.creationIndex = creationIndex
        self.sidPrefix = sidPrefix ?? .random()
        self.laneOf = laneOf
        self.cluster = cluster
        metadata = Locked(
            Metadata(uniqueName: uniqueName, dateUpdated: dateUpdated ?? dateCreated, dateExpires: dateExpires)
        )
        publishState = Locked(PublishState(rateLimit: rateLimit))
    }

    public var uniqueName: String? { metadata.withLock { $0.uniqueName } }
    public var dateUpdated: UnixTime { metadata.withLock { $0.dateUpdated } }
    public var dateExpires: UnixTime? { metadata.withLock { $0.dateExpires } }

    func setExpiry(_ expires: UnixTime?, updated: UnixTime) {
        metadata.withLock {
            $0.dateExpires = expires
            $0.dateUpdated = updated
        }
    }

    /// The stream as stored.
    public var record: StreamRecord {
        metadata.withLock { meta in
            StreamRecord(
                sid: sid,
                serviceSid: serviceSid,
                accountSid: accountSid,
                uniqueName: meta.uniqueName,
                createdBy: createdBy,
                dateCreated: dateCreated,
                dateUpdated: meta.dateUpdated,
                dateExpires: meta.dateExpires,
                creationIndex: creationIndex
            )
        }
    }

    /// A consistent copy of the fields the REST API shows.
    public var snapshot: StreamSnapshot {
        metadata.withLock { meta in
            StreamSnapshot(
                sid: sid,
                uniqueName: meta.uniqueName,
                serviceSid: serviceSid,
                accountSid: accountSid,
                createdBy: createdBy,
                dateCreated: dateCreated,
                dateUpdated: meta.dateUpdated,
                dateExpires: meta.dateExpires
            )
        }
    }

    // MARK: Publishing

    /// Appends a run of validated payloads under one lock, with consecutive sequences from the
    /// first returned. The rate limit may accept only a prefix of the run: `accepted` says how many;
    /// refused ones take no sequence. Nil, with nothing appended, once the stream has ended.
    ///
    /// The end is checked under the lock `markEnded` takes: a message is either in the ring before
    /// the end is announced (so readers deliver it before STREAM_ENDED) or refused, never accepted
    /// and then lost to the end.
    func append(
        _ payloads: UnsafeBufferPointer<UnsafeRawBufferPointer>,
        writer: RingWriter?
    )
        -> (first: UInt64, accepted: Int)?
    {
        publishState.withLock { state in
            guard endReason.load(ordering: .relaxed) == 0 else { return nil }
            let staging = writer?.staging
            var accepted = payloads.count
            if state.rateLimit != nil {
                accepted = 0
                while accepted < payloads.count, state.rateLimit!.take() { accepted += 1 }
            }
            let first = state.nextSequence
            state.nextSequence += UInt64(accepted)
            if accepted > 0 {
                let run = UnsafeBufferPointer(rebasing: payloads[..<accepted])
                state.ring?.appendMessages(streamID: id, firstSequence: first, payloads: run, staging: staging)
                if let cluster { cluster.forward(self, firstSequence: first, payloads: run) }
            }
            return (first, accepted)
        }
    }

    // MARK: Reader groups

    /// Makes reader group `group` a member: it will be told when the stream ends. False if the
    /// stream has ended already (then it is not a member): a delete that read the members before
    /// this call would otherwise never tell the group.
    public func addMember(group: Int) -> Bool {
        memberMask.bitwiseOr(1 << UInt64(group), ordering: .sequentiallyConsistent)
        guard ended == nil else {
            removeMember(group: group)
            return false
        }
        return true
    }

    /// Reader group `group` has no subscriber or publisher on the stream any more.
    public func removeMember(group: Int) {
        memberMask.bitwiseAnd(~(1 << UInt64(group)), ordering: .sequentiallyConsistent)
    }

    /// Reader group `group` is about to drain the ring: a publish after this call wakes it again.
    public func beginDrain(group: Int) {
        dirtyMask.bitwiseAnd(~(1 << UInt64(group)), ordering: .sequentiallyConsistent)
    }

    /// Marks every delivering group dirty; returns the groups that were not dirty already (the
    /// ones to wake).
    func markDirty() -> UInt64 {
        let delivery = deliveryMask.load(ordering: .sequentiallyConsistent)
        guard delivery != 0 else { return 0 }
        return delivery & ~dirtyMask.bitwiseOr(delivery, ordering: .sequentiallyConsistent).oldValue
    }

    /// The member groups now.
    var memberGroups: UInt64 { memberMask.load(ordering: .sequentiallyConsistent) }

    /// The delivering groups now (for tests and reports).
    public var deliveringGroups: UInt64 { deliveryMask.load(ordering: .sequentiallyConsistent) }

    /// What a reader group needs to start following the stream.
    public struct ReaderStart {
        public var ring: BroadcastRing
        public var cursor: UInt64
        public var nextSequence: UInt64
    }

    /// Registers reader group `group` as delivering; creates the ring if it is the first (in
    /// private memory: it moves into a memfd only if a shared-memory reader comes). Call once per
    /// group, not per subscriber.
    public func addReader(
        group: Int,
        ringCapacity: Int,
        fromLaneStart: Bool = false
    )
        -> ReaderStart
    {
        let (start, first) = publishState.withLock { state in
            let ring = ringLocked(&state, capacity: ringCapacity, shared: false)
            state.ringReaders += 1
            state.ringIdleSince = nil
            deliveryMask.bitwiseOr(1 << UInt64(group), ordering: .sequentiallyConsistent)
            if fromLaneStart, let laneStart = state.laneStart {
                return (ReaderStart(ring: ring, cursor: laneStart.cursor, nextSequence: laneStart.sequence), false)
            }
            return (
                ReaderStart(ring: ring, cursor: ring.tailPosition, nextSequence: state.nextSequence),
                state.ringReaders == 1
            )
        }
        if first, let cluster { cluster.interestChanged(self) }
        return start
    }

    private func ringLocked(_ state: inout PublishState, capacity: Int, shared: Bool) -> BroadcastRing {
        if let existing = state.ring { return existing }
        let ring = BroadcastRing(capacity: capacity, shared: shared, streamID: id)
        state.ring = ring
        return ring
    }

    /// Registers one shared-memory reader (a connection that maps the ring): creates the ring in
    /// a memfd if needed, or moves the private ring socket readers use into one, and keeps it
    /// while the reader holds it. Nil, with nothing registered, when no memfd can be made or the
    /// stream has ended.
    public func addMappedReader(ringCapacity: Int) -> ReaderStart? {
        publishState.withLock { state in
            guard endReason.load(ordering: .relaxed) == 0 else { return nil }
            let ring = ringLocked(&state, capacity: ringCapacity, shared: true)
            // Under the writers' lock: no append runs while the ring moves.
            guard ring.makeShared() else {
                if state.ringReaders == 0 && state.ringIdleSince == nil { state.ring = nil }
                return nil
            }
            state.ringReaders += 1
            state.ringIdleSince = nil
            mappedReaders.add(1, ordering: .sequentiallyConsistent)
            return ReaderStart(ring: ring, cursor: ring.tailPosition, nextSequence: state.nextSequence)
        }
    }

    /// Unregisters one shared-memory reader; like `removeReader`, the last reader frees the ring
    /// or (with `retain`) keeps it for resumes and returns true.
    @discardableResult
    public func removeMappedReader(retain: Bool = false, now: ContinuousClock.Instant = .now) -> Bool {
        publishState.withLock { state in
            mappedReaders.subtract(1, ordering: .sequentiallyConsistent)
            state.ringReaders -= 1
            guard state.ringReaders == 0 else { return false }
            if retain && endReason.load(ordering: .relaxed) == 0 {
                state.ringIdleSince = now
                return true
            }
            state.ring = nil
            return false
        }
    }

    /// Shared-memory readers now (for tests and reports).
    public var mappedReaderCount: Int { mappedReaders.load(ordering: .relaxed) }

    /// Wakes the ring's shared-memory readers, if it has any: one FUTEX_WAKE per call, so the
    /// publishing side calls it once per turn, never per message.
    func wakeMappedReaders() {
        guard mappedReaders.load(ordering: .relaxed) > 0 else { return }
        publishState.withLock { $0.ring }?.wakeMappedReaders()
    }

    /// Unregisters reader group `group`. The last one frees the ring, or with `retain` keeps it
    /// (publishes still go into it) so a subscriber that comes back can resume from it; then it
    /// returns true and the broker frees it after the resume retention (`releaseIdleRing`).
    @discardableResult
    public func removeReader(group: Int, retain: Bool = false, now: ContinuousClock.Instant = .now) -> Bool {
        let (retained, last) = publishState.withLock { state -> (Bool, Bool) in
            deliveryMask.bitwiseAnd(~(1 << UInt64(group)), ordering: .sequentiallyConsistent)
            state.ringReaders -= 1
            guard state.ringReaders == 0 else { return (false, false) }
            if state.ringHeld { return (false, true) }
            if retain && endReason.load(ordering: .relaxed) == 0 {
                state.ringIdleSince = now
                return (true, true)
            }
            state.ring = nil
            return (false, true)
        }
        if last, let cluster { cluster.interestChanged(self) }
        return retained
    }

    /// Frees a ring kept for resumes if nobody has read it since `cutoff`. True when the stream
    /// no longer needs watching (freed, or readers came back).
    func releaseIdleRing(idleBefore cutoff: ContinuousClock.Instant) -> Bool {
        publishState.withLock { state in
            guard state.ringReaders == 0, let since = state.ringIdleSince else { return true }
            guard since <= cutoff || endReason.load(ordering: .relaxed) != 0 else { return false }
            state.ring = nil
            state.ringIdleSince = nil
            return true
        }
    }

    /// Whether the stream keeps a ring (for tests and reports).
    public var hasRing: Bool { publishState.withLock { $0.ring != nil } }

    /// Where a replay of the messages after `sequence` starts in `ring`, read under the writers'
    /// lock (see `BroadcastRing.replayStart`).
    public func replayStart(in ring: BroadcastRing, after sequence: UInt64) -> BroadcastRing.Checkpoint? {
        publishState.withLock { _ in ring.replayStart(after: sequence) }
    }

    func setRateLimit(_ bucket: TokenBucket?) {
        publishState.withLock { $0.rateLimit = bucket }
    }

    /// The sequence the next published message will get.
    public var nextSequence: UInt64 { publishState.withLock { $0.nextSequence } }

    // MARK: End of life

    /// Nil while the stream lives; why it ended afterwards.
    public var ended: StreamEndReason? { StreamEndReason(rawValue: endReason.load(ordering: .acquiring)) }

    /// Marks the stream ended; true only for the first caller.
    func markEnded(_ reason: StreamEndReason) -> Bool {
        publishState.withLock { state in
            let first = endReason.compareExchange(
                expected: 0,
                desired: reason.rawValue,
                ordering: .acquiringAndReleasing
            ).exchanged
            // Shared-memory readers learn it from the ring too (and are woken), not only over the socket.
            if first { state.ring?.markEnded(reason: reason.rawValue) }
            return first
        }
    }
}

/// The REST-visible fields of a stream at one moment.
public struct StreamSnapshot: Sendable, Equatable {
    public var sid: String
    public var uniqueName: String?
    public var serviceSid: String
    public var accountSid: String
    public var createdBy: String
    public var dateCreated: UnixTime
    public var dateUpdated: UnixTime
    public var dateExpires: UnixTime?
}

// MARK: Cluster lanes

extension BrokerStream {
    /// Whether any reader group on this node delivers the stream (its backbone interest).
    public var hasLocalInterest: Bool { deliveringGroups != 0 }

    /// The lane for messages published on the node whose sid prefix is `origin`, made with
    /// `make` (its ring held for its life) if there is none yet; `opened` says which. Nil once
    /// the stream has ended.
    func lane(
        origin: SidPrefix,
        make: () -> BrokerStream
    ) -> (lane: BrokerStream, opened: Bool)? {
        publishState.withLock { state in
            guard endReason.load(ordering: .relaxed) == 0 else { return nil }
            if let lane = state.lanes[origin.value] { return (lane, false) }
            let lane = make()
            state.lanes[origin.value] = lane
            return (lane, true)
        }
    }

    /// The lanes now, and with `removing` none afterwards.
    func lanes(removing: Bool = false) -> [BrokerStream] {
        publishState.withLock { state in
            let all = Array(state.lanes.values)
            if removing { state.lanes = [:] }
            return all
        }
    }

    /// The lanes, for a subscriber joining the stream (reactor threads).
    public var currentLanes: [BrokerStream] { lanes() }

    /// Gives a new lane its ring, starting at `sequence` (the origin's sequence of its first message).
    func openLane(ringCapacity: Int, firstSequence sequence: UInt64) {
        publishState.withLock { state in
            let ring = BroadcastRing(capacity: ringCapacity)
            state.ring = ring
            state.ringHeld = true
            state.nextSequence = sequence
            state.laneStart = (ring.tailPosition, sequence)
        }
    }

    /// Appends a lane's run as its origin numbered it; a run at or below what the lane holds
    /// (a duplicate) is ignored. A jump forward (messages the backbone lost) is left as a gap.
    func appendForeign(firstSequence: UInt64, payloads: UnsafeBufferPointer<UnsafeRawBufferPointer>) -> Bool {
        publishState.withLock { state in
            guard endReason.load(ordering: .relaxed) == 0, firstSequence >= state.nextSequence else { return false }
            state.nextSequence = firstSequence + UInt64(payloads.count)
            state.ring?.appendMessages(streamID: id, firstSequence: firstSequence, payloads: payloads, staging: nil)
            return true
        }
    }
}
