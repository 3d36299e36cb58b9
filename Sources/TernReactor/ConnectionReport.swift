/// One open data-port connection, as the connections view (`/connz`) shows it.
public struct ConnectionReport: Sendable {
    public var id: UInt64
    public var peer: String
    public var clientName: String
    public var state: String
    public var reactorThread: Int
    public var connectedForMilliseconds: Int64
    /// Stream sids this connection receives, and those it only publishes to.
    public var subscribed: [String]
    public var attached: [String]
    public var messagesDelivered: UInt64
    public var messagesDropped: UInt64
    public var bytesWritten: UInt64
    public var framesReceived: UInt64
    /// Bytes waiting in the out-buffer: a subscriber that keeps this high is slow.
    public var pendingBytes: Int
    public var outBufferAllocated: Int
}

/// A connection that closed recently, with why.
public struct ClosedConnectionReport: Sendable {
    public var id: UInt64
    public var peer: String
    public var clientName: String
    public var reason: String
    public var closedAgoMilliseconds: Int64
    public var messagesDelivered: UInt64
    public var messagesDropped: UInt64
}

extension ConnectionReport {
    /// The report of a connection as it is at `now`.
    init(_ connection: Connection, reactorThread: Int, now: Int64) {
        var subscribed: [String] = []
        var attached: [String] = []
        for subscription in connection.subscriptions.values {
            if subscription.delivering { subscribed.append(subscription.stream.sid) } else { attached.append(subscription.stream.sid) }
        }
        self.init(
            id: connection.id, peer: connection.peer, clientName: connection.clientName, state: "\(connection.state)",
            reactorThread: reactorThread, connectedForMilliseconds: now - connection.acceptedAt,
            subscribed: subscribed.sorted(), attached: attached.sorted(), messagesDelivered: connection.messagesDelivered,
            messagesDropped: connection.messagesDropped, bytesWritten: connection.bytesWritten,
            framesReceived: connection.framesReceived, pendingBytes: connection.outbound.count,
            outBufferAllocated: connection.outbound.allocatedBytes)
    }
}
