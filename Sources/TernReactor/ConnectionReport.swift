import TernCore

extension ConnectionReport {
    /// The report of a connection as it is at `now`.
    init(_ connection: Connection, reactorThread: Int, now: Int64) {
        var subscribed: [String] = []
        var attached: [String] = []
        for subscription in connection.subscriptions.values {
            if subscription.delivering {
                subscribed.append(subscription.stream.sid)
            } else {
                attached.append(subscription.stream.sid)
            }
        }
        self.init(
            id: connection.id,
            peer: connection.peer,
            clientName: connection.clientName,
            state: "\(connection.state)",
            reactorThread: reactorThread,
            uptimeMilliseconds: now - connection.acceptedAt,
            subscribed: subscribed.sorted(),
            attached: attached.sorted(),
            messagesDelivered: connection.messagesDelivered,
            messagesDropped: connection.messagesDropped,
            bytesWritten: connection.bytesWritten,
            framesReceived: connection.framesReceived,
            pendingBytes: connection.outbound.count,
            outBufferAllocated: connection.outbound.allocatedBytes
        )
        identity = connection.accessToken?.identity
        keySid = connection.accessToken?.keySid
    }
}
