import TernCore
import TernWire

/// What one reactor thread knows about a stream it serves: its members here and its place in
/// the stream's ring.
final class LocalStream {
    let stream: BrokerStream
    /// Connections here that subscribed or attached (all get STREAM_ENDED).
    var members: [Connection] = []
    /// Connections here that receive messages.
    var subscribers: [Connection] = []
    /// Set while `subscribers` is non-empty.
    var ring: BroadcastRing?
    var cursor: UInt64 = 0
    /// The sequence this thread expects next; a larger one means frames were lapped.
    var expectedSequence: UInt64 = 0

    init(stream: BrokerStream) {
        self.stream = stream
    }
}

/// One reactor thread's fan-out: which of its connections follow which streams, and the
/// delivery of each stream's new frames to them. A stream's new run is copied out of its ring
/// once per thread and written, the same bytes, to every subscriber here (`deliver`); what a
/// slow subscriber cannot take is dropped whole frame by whole frame, counted, and reported with
/// DROPPED before anything later of that stream.
///
/// It changes the core's stream state only through `BrokerStream`'s operations.
final class StreamFanOut {
    /// The plane owns this fan-out and outlives it (`unowned(unsafe)`: no atomic retain per use,
    /// and it is used per delivery).
    unowned(unsafe) let plane: DataPlane
    var index: Int { plane.index }
    private(set) var localStreams: [UInt32: LocalStream] = [:]
    /// Scratch space for a run of ring frames, written as-is to every subscriber.
    let batchBuffer: UnsafeMutableRawBufferPointer
    /// Start offsets of the frames in the current batch, indexed lazily (only a cut needs them).
    var batchFrameStarts: [Int] = []
    /// Frames in the current batch.
    var batchFrameCount = 0
    /// Streams with more in their ring than one drain took: drained again next iteration.
    var drainAgain: [BrokerStream] = []
    /// Rounds of ring reads per stream per call before giving other work a turn.
    static let drainRoundsPerCall = 4

    init(plane: DataPlane) {
        self.plane = plane
        let frameBytes = plane.configuration.maxFrameBody + WireLimits.headerSize
        batchBuffer = .allocate(byteCount: max(plane.configuration.batchBytes, 2 * frameBytes), alignment: 16)
    }

    deinit { batchBuffer.deallocate() }

    func localStream(_ stream: BrokerStream) -> LocalStream? {
        guard let local = localStreams[stream.id], local.stream === stream else { return nil }
        return local
    }

    var streams: Dictionary<UInt32, LocalStream>.Values { localStreams.values }

    // MARK: Membership

    /// Adds `connection` to a stream served by this thread; returns the first sequence it can
    /// receive, or nil if the stream ended meanwhile. With `caughtUpPast` (a resume), this
    /// thread first delivers its backlog to the others until its next sequence is above that
    /// one, so the newcomer's live part never repeats what it is about to be replayed or saw.
    func join(
        _ connection: Connection,
        stream: BrokerStream,
        delivering: Bool,
        caughtUpPast: UInt64? = nil,
        fromLaneStart: Bool = false
    ) -> UInt64? {
        let local: LocalStream
        if let existing = localStreams[stream.id] {
            local = existing
        } else {
            guard stream.addMember(group: index) else { return nil }
            local = LocalStream(stream: stream)
            localStreams[stream.id] = local
        }
        local.members.append(connection)
        connection.subscriptions[stream.id] = Connection.Subscription(stream: stream, delivering: delivering)
        plane.counters.countSubscription(delivering: delivering, 1)
        guard delivering else { return stream.nextSequence }
        if local.ring == nil {
            let start = stream.addReader(
                group: index,
                ringCapacity: plane.broker.limits.ringBytes,
                fromLaneStart: fromLaneStart
            )
            local.ring = start.ring
            local.cursor = start.cursor
            local.expectedSequence = start.nextSequence
        } else if !fromLaneStart {
            // Bring the others up to date so the newcomer starts at the present. (Joins of a
            // lane just opened all start where the others are: at the lane's first message.)
            drain(local)
            while let past = caughtUpPast, local.expectedSequence <= past {
                let before = local.cursor
                drain(local)
                if local.cursor == before { break }
            }
        }
        local.subscribers.append(connection)
        return local.expectedSequence
    }

    /// Adds `connection` as a shared-memory reader of `stream` (SUBSCRIBE_SHARED): a member here
    /// (it gets STREAM_ENDED over the socket) that holds the stream's ring but is never written
    /// MESSAGE frames. Nil if the stream ended or its ring is not in shared memory (`ended` tells
    /// which).
    func joinMapped(_ connection: Connection, stream: BrokerStream) -> BrokerStream.ReaderStart? {
        guard let start = stream.addMappedReader(ringCapacity: plane.broker.limits.ringBytes) else { return nil }
        let local: LocalStream
        if let existing = localStreams[stream.id] {
            local = existing
        } else {
            guard stream.addMember(group: index) else {
                plane.broker.removeMappedReader(stream)
                return nil
            }
            local = LocalStream(stream: stream)
            localStreams[stream.id] = local
        }
        local.members.append(connection)
        var subscription = Connection.Subscription(stream: stream, delivering: false)
        subscription.mapped = true
        connection.subscriptions[stream.id] = subscription
        plane.counters.add(gauge: 1, to: .mappedSubscriptions)
        return start
    }

    private func countLeaving(_ subscription: Connection.Subscription) {
        if subscription.mapped {
            plane.counters.add(gauge: -1, to: .mappedSubscriptions)
        } else {
            plane.counters.countSubscription(delivering: subscription.delivering, -1)
        }
    }

    /// Removes `connection` from one stream (and the stream's lanes).
    func leave(_ connection: Connection, streamID: UInt32) {
        guard let subscription = connection.subscriptions.removeValue(forKey: streamID) else { return }
        if subscription.laneOf == 0 {
            for lane in connection.lanes(of: streamID) { leave(connection, streamID: lane) }
        }
        if subscription.hasPendingDrops { connection.streamsWithDrops -= 1 }
        countLeaving(subscription)
        if subscription.mapped { plane.broker.removeMappedReader(subscription.stream) }
        guard let local = localStreams[streamID] else { return }
        local.members.removeAll { $0 === connection }
        if subscription.delivering {
            local.subscribers.removeAll { $0 === connection }
            if local.subscribers.isEmpty, local.ring != nil {
                plane.broker.removeReader(local.stream, group: index)
                local.ring = nil
            }
        }
        if local.members.isEmpty { forget(local) }
    }

    /// Removes `connection` from every stream it follows.
    func leaveAll(_ connection: Connection) {
        for streamID in Array(connection.subscriptions.keys) { leave(connection, streamID: streamID) }
    }

    /// Drops this thread's whole interest in a stream; its members were told already.
    private func forgetWithMembers(_ local: LocalStream) {
        for member in local.members {
            if let subscription = member.subscriptions.removeValue(forKey: local.stream.id) {
                if subscription.hasPendingDrops { member.streamsWithDrops -= 1 }
                countLeaving(subscription)
                if subscription.mapped { local.stream.removeMappedReader() }
            }
        }
        local.members.removeAll()
        local.subscribers.removeAll()
        if local.ring != nil {
            local.stream.removeReader(group: index)
            local.ring = nil
        }
        forget(local)
    }

    private func forget(_ local: LocalStream) {
        local.stream.removeMember(group: index)
        localStreams[local.stream.id] = nil
    }

    /// The stream ended (deleted, expired, or the server stops): deliver what is left, report
    /// pending drops, tell every member with STREAM_ENDED, forget the stream.
    func end(_ local: LocalStream, reason: StreamEndReason) {
        if local.ring != nil { drain(local) }
        for member in local.members where member.state == .open {
            sendDropNotices(member, streamID: local.stream.id)
            // A lane ends with its stream, whose STREAM_ENDED says so.
            if local.stream.laneOf != 0 { continue }
            plane.sendControl(member, .streamEnded(streamID: local.stream.id, reason: reason))
        }
        forgetWithMembers(local)
    }

    // MARK: Drop notices

    /// Appends DROPPED notices once the out-buffer has room again (at least half free).
    func queueDropNotices(_ connection: Connection) {
        guard connection.streamsWithDrops > 0,
            connection.outbound.spaceUnderLimit >= connection.outbound.limit / 2
        else { return }
        for (streamID, subscription) in connection.subscriptions where subscription.hasPendingDrops {
            sendDropNotices(connection, streamID: streamID)
            guard connection.state != .closed else { return }
        }
    }

    /// Sends the DROPPED notices one subscription still owes, whatever room the out-buffer has
    /// (control frames may pass the message limit): before STREAM_ENDED or UNSUBSCRIBED, since
    /// no later moment exists to report them.
    func sendDropNotices(_ connection: Connection, streamID: UInt32) {
        guard var subscription = connection.subscriptions[streamID], subscription.hasPendingDrops else { return }
        let slow = subscription.droppedSlow
        let lapped = subscription.droppedLapped
        let notRetained = subscription.droppedNotRetained
        subscription.droppedSlow = 0
        subscription.droppedLapped = 0
        subscription.droppedNotRetained = 0
        connection.subscriptions[streamID] = subscription
        connection.streamsWithDrops -= 1
        if notRetained > 0 {
            plane.sendControl(connection, .dropped(.init(streamID: streamID, count: notRetained, reason: .notRetained)))
        }
        if slow > 0 {
            plane.sendControl(connection, .dropped(.init(streamID: streamID, count: slow, reason: .slowConsumer)))
        }
        if lapped > 0 {
            plane.sendControl(connection, .dropped(.init(streamID: streamID, count: lapped, reason: .lapped)))
        }
    }
}
