import TernCore
import TernWire

extension DataPortSession {
    /// SUBSCRIBE_SHARED (version 3, protocol.md §4.16): the checks of SUBSCRIBE, grants included,
    /// then SUBSCRIBED and RING_MAPPED with the ring's memfd. The connection reads the ring itself;
    /// the server writes it no MESSAGE frame for the stream and does nothing per message for it.
    func subscribeShared(_ connection: Connection, requestID: UInt32, name: String) {
        // A cluster node's other nodes' messages arrive in lanes (§4.20), which a mapped ring
        // does not carry: such a subscriber must take the socket to see every node's messages.
        guard broker.limits.sharedMemory, broker.cluster == nil, connection.io.canPassDescriptors else {
            let why =
                !broker.limits.sharedMemory
                ? "this server has shared memory off"
                : broker.cluster != nil
                    ? "a cluster node serves its streams over the socket only (lanes are not mapped)"
                    : "shared-memory subscriptions need the Unix socket"
            answerError(connection, requestID: requestID, .sharedMemoryUnavailable, why)
            return
        }
        guard
            let (stream, mayPublish) = subscriptionTarget(
                connection,
                requestID: requestID,
                name: name,
                delivering: false,
                mapped: true
            )
        else { return }
        guard let start = plane.fanOut.joinMapped(connection, stream: stream),
            let descriptor = start.ring.sharedDescriptor
        else {
            if stream.ended != nil {
                answerError(connection, requestID: requestID, .streamNotFound, "stream '\(name)' not found")
            } else {
                answerError(
                    connection,
                    requestID: requestID,
                    .sharedMemoryUnavailable,
                    "the ring of stream '\(name)' could not be placed in shared memory"
                )
            }
            return
        }
        answerSubscribed(
            connection,
            stream,
            requestID: requestID,
            nextSequence: start.nextSequence,
            mayPublish: mayPublish
        )
        plane.sendControl(
            connection,
            .ringMapped(
                .init(
                    requestID: requestID,
                    streamID: stream.id,
                    headerBytes: UInt32(SharedRingLayout.headerBytes),
                    ringBytes: UInt64(start.ring.capacity),
                    startPosition: start.cursor
                )
            ),
            passing: descriptor
        )
    }

    /// RING_LOSS (version 3, §4.18): a shared-memory reader's own count of messages it lost to
    /// lapping, added to the connection's and the server's drop counts. Only counted: nothing
    /// the server does depends on it, so a client that lies only skews its own numbers.
    func ringLoss(_ connection: Connection, requestID: UInt32, streamID: UInt32, count: UInt64) {
        guard connection.subscriptions[streamID]?.mapped == true else {
            answerError(
                connection,
                requestID: requestID,
                .notMapped,
                "stream \(streamID) is not mapped on this connection"
            )
            return
        }
        connection.messagesDropped &+= count
        plane.counters.add(count, to: .messagesDroppedRingLapped)
    }
}
