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
