import TernCore
import TernWire

extension ReactorThread {
    /// Adds `connection` to a stream served by this thread; returns the first sequence it can
    /// receive, or nil if the stream ended meanwhile.
    func join(_ connection: Connection, stream: BrokerStream, delivering: Bool) -> UInt64? {
        let local: LocalStream
        if let existing = localStreams[stream.id] {
            local = existing
        } else {
            local = LocalStream(stream: stream)
            localStreams[stream.id] = local
            stream.memberMask.bitwiseOr(1 << UInt64(index), ordering: .sequentiallyConsistent)
            // A delete that read the mask before our bit was set would miss us: check afterwards.
            if stream.ended != nil {
                stream.memberMask.bitwiseAnd(~(1 << UInt64(index)), ordering: .sequentiallyConsistent)
                localStreams[stream.id] = nil
                return nil
            }
        }
        local.members.append(connection)
        connection.subscriptions[stream.id] = Connection.Subscription(stream: stream, delivering: delivering)
        counters.countSubscription(delivering: delivering, 1)
        guard delivering else { return stream.nextSequence }
        if local.ring == nil {
            let start = stream.addReader(group: index, ringCapacity: broker.limits.ringBytes)
            local.ring = start.ring
            local.cursor = start.cursor
            local.expectedSequence = start.nextSequence
        } else {
            // Bring the others up to date so the newcomer starts at the present.
            drain(local)
        }
        local.subscribers.append(connection)
        return local.expectedSequence
    }

    /// Removes `connection` from one stream.
    func leave(_ connection: Connection, streamID: UInt32) {
        guard let subscription = connection.subscriptions.removeValue(forKey: streamID) else { return }
        if subscription.hasPendingDrops { connection.streamsWithDrops -= 1 }
        counters.countSubscription(delivering: subscription.delivering, -1)
        guard let local = localStreams[streamID] else { return }
        local.members.removeAll { $0 === connection }
        if subscription.delivering {
            local.subscribers.removeAll { $0 === connection }
            if local.subscribers.isEmpty, local.ring != nil {
                local.stream.removeReader(group: index)
                local.ring = nil
            }
        }
        if local.members.isEmpty { forget(local) }
    }

    /// Removes `connection` from every stream.
    func leaveAll(_ connection: Connection) {
        for streamID in Array(connection.subscriptions.keys) { leave(connection, streamID: streamID) }
    }

    /// Drops this thread's whole interest in a stream (its members were already told).
    func leaveAll(_ local: LocalStream) {
        for member in local.members {
            if let subscription = member.subscriptions.removeValue(forKey: local.stream.id) {
                if subscription.hasPendingDrops { member.streamsWithDrops -= 1 }
                counters.countSubscription(delivering: subscription.delivering, -1)
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
        local.stream.memberMask.bitwiseAnd(~(1 << UInt64(index)), ordering: .sequentiallyConsistent)
        localStreams[local.stream.id] = nil
    }

    /// The stream was deleted or expired: deliver what is left, tell every member, forget it.
    func endLocalStream(_ stream: BrokerStream) {
        guard let local = localStreams[stream.id], local.stream === stream else { return }
        if local.ring != nil { drain(local) }
        let reason = stream.ended ?? .deleted
        for member in local.members {
            sendDropNotices(member, streamID: stream.id)
            sendControl(member, .streamEnded(streamID: stream.id, reason: reason))
        }
        leaveAll(local)
    }
}
