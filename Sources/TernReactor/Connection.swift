import TernAuth
import TernCore
import TernWire

/// One data-port client: its protocol state, subscriptions, out-buffer and counters. Lives on
/// one reactor thread for its whole life and is only touched there. Its bytes go out through
/// `io`; nothing here knows whether that is a socket.
final class Connection {
    enum State {
        /// Accepted; only HELLO is acceptable.
        case awaitingHello
        case open
        /// A fatal error or shutdown: no more input is read; pending output is flushed, then closed.
        case closing
        case closed
    }

    /// A stream this connection subscribed to (delivering) or attached (publishing only).
    struct Subscription {
        let stream: BrokerStream
        /// Receives MESSAGE frames over the socket.
        var delivering: Bool
        /// Reads the stream's ring from shared memory (SUBSCRIBE_SHARED); `delivering` is false.
        var mapped = false
        /// The connection's token grants PUBLISH here (always true without a token): decided
        /// once at SUBSCRIBE, so PUBLISH never looks at grants.
        var mayPublish = true
        /// Cluster mode: for a lane, the id of its stream (the subscription that brought it); else 0.
        var laneOf: UInt32 = 0
        /// Messages lost since the last DROPPED notice, by reason.
        var droppedSlow: UInt64 = 0
        var droppedLapped: UInt64 = 0
        var droppedNotRetained: UInt64 = 0
        var hasPendingDrops: Bool { droppedSlow > 0 || droppedLapped > 0 || droppedNotRetained > 0 }
    }

    /// The reactor's key for it: the socket's descriptor (a made-up slot in the embedded harness).
    let fd: Int32
    let io: any ConnectionIO
    let id: UInt64
    let peer: String
    let acceptedAt: Int64
    var state: State = .awaitingHello
    var clientName = ""
    /// The protocol version agreed in WELCOME.
    var version: UInt16 = 1
    /// The Access Token the connection opened (or last refreshed) with, if any. Boxed: most
    /// connections have none, and inline it would add about 150 bytes to every idle connection.
    var token: ConnectionToken?
    var accessToken: AccessToken? { token?.accessToken }
    /// Last time any bytes arrived (monotonic ms), for the idle check.
    var lastHeard: Int64
    var pingSentAt: Int64?
    /// When the connection entered `closing`, to bound the final flush.
    var closingSince: Int64 = 0
    var closeReason = ""
    /// False after a write hit EAGAIN; EPOLLOUT (edge-triggered) sets it again.
    var writable = true
    /// The peer shut down its sending side (EPOLLRDHUP/HUP seen): read until end-of-file.
    var peerClosed = false
    /// Already in the thread's flush list for this iteration.
    var queuedForFlush = false
    /// Already in the thread's read-again list (input left unread to stay fair to others).
    var queuedForRead = false
    /// Bytes of a frame that straddled two reads; usually empty.
    var pendingInput: [UInt8] = []
    var outbound: OutboundBuffer
    var subscriptions: [UInt32: Subscription] = [:] {
        didSet { lastPublishTarget = nil }
    }
    /// The stream of the last PUBLISH, so a run of publishes to one stream skips the lookup.
    /// Any change to `subscriptions` clears it.
    var lastPublishTarget: BrokerStream?
    /// Streams with drops not yet reported in a DROPPED frame.
    var streamsWithDrops = 0
    /// Descriptors (duplicates, owned here) to pass with the output byte at `position` (counted
    /// in `bytesWritten`): a RING_MAPPED frame that could not be written at once.
    var pendingDescriptors: [(position: UInt64, descriptor: Int32)] = []

    // Counters for the connections view and metrics.
    var messagesDelivered: UInt64 = 0
    var messagesDropped: UInt64 = 0
    var bytesWritten: UInt64 = 0
    var framesReceived: UInt64 = 0

    init(fd: Int32, io: any ConnectionIO, id: UInt64, peer: String, now: Int64, outBufferBytes: Int) {
        self.fd = fd
        self.io = io
        self.id = id
        self.peer = peer
        acceptedAt = now
        lastHeard = now
        outbound = OutboundBuffer(limit: outBufferBytes)
    }

    /// " as <identity>" for logs, when the connection presented an Access Token.
    var identityNote: String {
        guard let accessToken else { return "" }
        return " as \(accessToken.identity) with key \(accessToken.keySid)"
    }

    /// Subscriptions the client made (lanes come with them and do not count).
    var streamCount: Int { subscriptions.values.reduce(0) { $0 + ($1.laneOf == 0 ? 1 : 0) } }

    /// The lanes that came with the subscription of stream `streamID`.
    func lanes(of streamID: UInt32) -> [UInt32] {
        subscriptions.compactMap { $0.value.laneOf == streamID ? $0.key : nil }
    }

    /// Records `count` lost messages for a subscription, to be reported with DROPPED.
    func recordDrop(streamID: UInt32, count: UInt64, reason: DropReason) {
        guard count > 0, var subscription = subscriptions[streamID] else { return }
        if !subscription.hasPendingDrops { streamsWithDrops += 1 }
        switch reason {
        case .slowConsumer: subscription.droppedSlow += count
        case .lapped: subscription.droppedLapped += count
        case .notRetained: subscription.droppedNotRetained += count
        case .ringLapped: subscription.droppedLapped += count
        }
        messagesDropped += count
        subscriptions[streamID] = subscription
    }
}

/// A connection's verified Access Token and its expiry watch.
final class ConnectionToken {
    let accessToken: AccessToken
    /// Monotonic ms at which the token (with the clock skew) expires.
    let deadline: Int64
    /// TOKEN_EXPIRING was sent for this token.
    var warned = false

    init(_ accessToken: AccessToken, deadline: Int64) {
        self.accessToken = accessToken
        self.deadline = deadline
    }
}
