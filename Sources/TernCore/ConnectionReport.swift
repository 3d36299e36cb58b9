/// One open data-port connection, as `/connz` shows it: declared once, filled by the reactor,
/// formatted by the control port. (In the core because both use it and neither may import the
/// other.)
public struct ConnectionReport: Sendable {
    public var id: UInt64
    public var peer: String
    public var clientName: String
    /// The Access Token's `grants.identity` and signing key, for connections that presented one.
    public var identity: String?
    public var keySid: String?
    public var state: String
    public var reactorThread: Int
    public var uptimeMilliseconds: Int64
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

    public init(
        id: UInt64,
        peer: String,
        clientName: String,
        state: String,
        reactorThread: Int,
        uptimeMilliseconds: Int64,
        subscribed: [String],
        attached: [String],
        messagesDelivered: UInt64,
        messagesDropped: UInt64,
        bytesWritten: UInt64,
        framesReceived: UInt64,
        pendingBytes: Int,
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

extension ConnectionReport {
    /// The report with the connection's token identity.
    public func withIdentity(_ identity: String?, keySid: String?) -> ConnectionReport {
        var report = self
        report.identity = identity
        report.keySid = keySid
        return report
    }
}

/// A connection that closed recently, with why.
public struct ClosedConnectionReport: Sendable {
    public var id: UInt64
    public var peer: String
    public var clientName: String
    public var identity: String?
    public var reason: String
    public var closedAgoMilliseconds: Int64
    public var messagesDelivered: UInt64
    public var messagesDropped: UInt64

    public init(
        id: UInt64,
        peer: String,
        clientName: String,
        reason: String,
        closedAgoMilliseconds: Int64,
        messagesDelivered: UInt64,
        messagesDropped: UInt64,
        identity: String? = nil
    ) {
        self.id = id
        self.peer = peer
        self.clientName = clientName
        self.identity = identity
        self.reason = reason
        self.closedAgoMilliseconds = closedAgoMilliseconds
        self.messagesDelivered = messagesDelivered
        self.messagesDropped = messagesDropped
    }
}
