import TernCore
import TernWire

/// Cluster mode: a stream's lanes (the messages published on other nodes, each node's with its
/// own sid prefix and sequence) follow the stream's version-3 subscribers here. A lane is a
/// stream of its own in the fan-out: its own ring, cursor, and exact DROPPED accounting.
extension StreamFanOut {
    /// A lane was opened: its stream's version-3 subscribers here join it from its first message.
    func laneOpened(_ lane: BrokerStream) {
        guard let parent = localStreams[lane.laneOf], parent.stream.ended == nil, lane.ended == nil else { return }
        for subscriber in parent.subscribers
        where subscriber.version >= 3 && subscriber.state == .open && subscriber.subscriptions[lane.id] == nil {
            joinLane(subscriber, lane: lane, fromStart: true)
        }
        if let local = localStream(lane) { drain(local) }
    }

    /// Joins `connection` to `lane` and tells it with LANE, before any of the lane's messages.
    func joinLane(_ connection: Connection, lane: BrokerStream, fromStart: Bool) {
        guard connection.subscriptions[lane.id] == nil,
            let next = join(connection, stream: lane, delivering: true, fromLaneStart: fromStart)
        else { return }
        connection.subscriptions[lane.id]?.laneOf = lane.laneOf
        connection.subscriptions[lane.id]?.mayPublish = false
        plane.sendControl(
            connection,
            .lane(.init(streamID: lane.laneOf, laneID: lane.id, sidPrefix: lane.sidPrefix, nextSequence: next))
        )
    }
}
