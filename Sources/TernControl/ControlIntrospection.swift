/// What the control port shows about the parts of the process it does not own: the data plane
/// and the broker's counters, for `GET /metrics` and `GET /connz`.
///
/// A protocol because the control API must not reach into reactor state (it does not even import
/// the reactor): the daemon, which wires both, implements it; the control API authenticates,
/// routes, sorts, limits and formats.
public protocol ControlIntrospection: Sendable {
    /// The whole `/metrics` body: Prometheus text exposition format 0.0.4, UTF-8.
    func metricsExposition() async -> [UInt8]

    /// Every open data-port connection and the recently closed ones, in any order.
    func connections() async -> ConnectionsView
}

/// The data port's connections as an operator sees them (`GET /connz`, like nats-server's).
public struct ConnectionsView: Sendable {
    public var open: [Connection]
    public var recentlyClosed: [ClosedConnection]

    public init(open: [Connection], recentlyClosed: [ClosedConnection]) {
        self.open = open
        self.recentlyClosed = recentlyClosed
    }

    /// One open connection.
    public struct Connection: Sendable {
        public var id: UInt64
        /// `host:port`, or the socket path for the Unix listener.
        public var peer: String
        /// The name the client gave in HELLO (empty before it).
        public var clientName: String
        public var state: String
        public var reactorThread: Int
        public var uptimeMilliseconds: Int64
        /// Sids of the streams it receives, and of those it only publishes to.
        public var subscribed: [String]
        public var attached: [String]
        public var messagesDelivered: UInt64
        public var messagesDropped: UInt64
        public var bytesWritten: UInt64
        public var framesReceived: UInt64
        /// Bytes waiting in its out-buffer: a subscriber that keeps this high is the slow one.
        public var pendingBytes: Int
        public var outBufferAllocated: Int

        public init(
            id: UInt64, peer: String, clientName: String, state: String, reactorThread: Int,
            uptimeMilliseconds: Int64, subscribed: [String], attached: [String], messagesDelivered: UInt64,
            messagesDropped: UInt64, bytesWritten: UInt64, framesReceived: UInt64, pendingBytes: Int,
            outBufferAllocated: Int
        ) {
            self.id = id
            self.peer = peer
            self.clientName = clientName
            self.state = state
            self.reactorThread = reactorThread
            self.uptimeMilliseconds = uptimeMilliseconds
            self.subscribed = subscribed
            self.attached = attached
            self.messagesDelivered = messagesDelivered
            self.messagesDropped = messagesDropped
            self.bytesWritten = bytesWritten
            self.framesReceived = framesReceived
            self.pendingBytes = pendingBytes
            self.outBufferAllocated = outBufferAllocated
        }
    }

    /// A connection that closed recently, with why.
    public struct ClosedConnection: Sendable {
        public var id: UInt64
        public var peer: String
        public var clientName: String
        public var reason: String
        public var closedAgoMilliseconds: Int64
        public var messagesDelivered: UInt64
        public var messagesDropped: UInt64

        public init(
            id: UInt64, peer: String, clientName: String, reason: String, closedAgoMilliseconds: Int64,
            messagesDelivered: UInt64, messagesDropped: UInt64
        ) {
            self.id = id
            self.peer = peer
            self.clientName = clientName
            self.reason = reason
            self.closedAgoMilliseconds = closedAgoMilliseconds
            self.messagesDelivered = messagesDelivered
            self.messagesDropped = messagesDropped
        }
    }
}
