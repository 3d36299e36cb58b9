/// One decoded frame with owned fields: what clients and tests work with.
///
/// The server's hot path does not build these for PUBLISH or MESSAGE; it uses `PublishView` and
/// `MessageFrame`, which never copy the payload.
public enum Frame: Equatable, Sendable {
    case hello(Hello)
    case welcome(Welcome)
    case subscribe(Subscribe)
    case subscribed(Subscribed)
    case unsubscribe(requestID: UInt32, streamID: UInt32)
    case unsubscribed(requestID: UInt32, streamID: UInt32)
    case publish(Publish)
    case published(Published)
    case message(Message)
    case dropped(Dropped)
    case streamEnded(streamID: UInt32, reason: StreamEndReason)
    case error(ErrorFrame)
    case ping(UInt64)
    case pong(UInt64)
    /// Version 2 (protocol.md §4.15).
    case refreshToken(requestID: UInt32, token: String)
    case tokenExpiring(TokenExpiring)
    case tokenRefreshed(requestID: UInt32, expiresAt: UInt64)

    /// TOKEN_EXPIRING: the connection's token expires at `expiresAt` (Unix seconds), in
    /// `remainingMilliseconds` by the server's clock.
    public struct TokenExpiring: Equatable, Sendable {
        public var expiresAt: UInt64
        public var remainingMilliseconds: UInt32

        public init(expiresAt: UInt64, remainingMilliseconds: UInt32) {
            self.expiresAt = expiresAt
            self.remainingMilliseconds = remainingMilliseconds
        }
    }
    case resume(Resume)
    case resumed(Resumed)
    /// Version 3 (protocol.md §4.16-4.18): shared-memory subscriptions.
    case subscribeShared(requestID: UInt32, stream: String)
    case ringMapped(RingMapped)
    case ringLoss(requestID: UInt32, streamID: UInt32, count: UInt64)

    /// Version 3: the ring of a stream subscribed with SUBSCRIBE_SHARED. The frame's bytes carry
    /// the ring's memfd (SCM_RIGHTS); the codec sees only the fields.
    public struct RingMapped: Equatable, Sendable {
        public var requestID: UInt32
        public var streamID: UInt32
        /// Bytes before the ring's first byte in the mapping (the control block).
        public var headerBytes: UInt32
        /// Bytes of frame storage after the header (a power of two).
        public var ringBytes: UInt64
        /// The ring position of the first frame this subscription reads (sequence `next_sequence`).
        public var startPosition: UInt64

        public init(requestID: UInt32, streamID: UInt32, headerBytes: UInt32, ringBytes: UInt64, startPosition: UInt64)
        {
            self.requestID = requestID
            self.streamID = streamID
            self.headerBytes = headerBytes
            self.ringBytes = ringBytes
            self.startPosition = startPosition
        }
    }

    /// Version 3 (protocol.md §4.20).
    case lane(Lane)

    /// LANE: the messages of stream `streamID` published on another cluster node arrive as
    /// MESSAGE frames with `laneID`, their sids built from `sidPrefix`, from `nextSequence` on.
    public struct Lane: Equatable, Sendable {
        public var streamID: UInt32
        public var laneID: UInt32
        public var sidPrefix: SidPrefix
        public var nextSequence: UInt64

        public init(streamID: UInt32, laneID: UInt32, sidPrefix: SidPrefix, nextSequence: UInt64) {
            self.streamID = streamID
            self.laneID = laneID
            self.sidPrefix = sidPrefix
            self.nextSequence = nextSequence
        }
    }

    public struct Hello: Equatable, Sendable {
        public var minVersion: UInt16
        public var maxVersion: UInt16
        public var clientName: String
        public var token: String

        public init(minVersion: UInt16 = 1, maxVersion: UInt16 = 1, clientName: String, token: String = "") {
            self.minVersion = minVersion
            self.maxVersion = maxVersion
            self.clientName = clientName
            self.token = token
        }
    }

    public struct Welcome: Equatable, Sendable {
        public var version: UInt16
        public var maxPayload: UInt32
        public var maxFrameBody: UInt32
        public var maxSubscriptions: UInt32
        public var pingIntervalMilliseconds: UInt32
        public var serverName: String

        public init(
            version: UInt16,
            maxPayload: UInt32,
            maxFrameBody: UInt32,
            maxSubscriptions: UInt32,
            pingIntervalMilliseconds: UInt32,
            serverName: String
        ) {
            self.version = version
            self.maxPayload = maxPayload
            self.maxFrameBody = maxFrameBody
            self.maxSubscriptions = maxSubscriptions
            self.pingIntervalMilliseconds = pingIntervalMilliseconds
            self.serverName = serverName
        }
    }

    public struct Subscribe: Equatable, Sendable {
        public var requestID: UInt32
        public var stream: String
        /// Attach for publishing only: no MESSAGE frames.
        public var attachOnly: Bool

        public init(requestID: UInt32, stream: String, attachOnly: Bool = false) {
            self.requestID = requestID
            self.stream = stream
            self.attachOnly = attachOnly
        }
    }

    public struct Subscribed: Equatable, Sendable {
        public var requestID: UInt32
        public var streamID: UInt32
        public var sidPrefix: SidPrefix
        public var nextSequence: UInt64
        public var streamSid: String
        public var uniqueName: String
        public var attachOnly: Bool

        public init(
            requestID: UInt32,
            streamID: UInt32,
            sidPrefix: SidPrefix,
            nextSequence: UInt64,
            streamSid: String,
            uniqueName: String,
            attachOnly: Bool = false
        ) {
            self.requestID = requestID
            self.streamID = streamID
            self.sidPrefix = sidPrefix
            self.nextSequence = nextSequence
            self.streamSid = streamSid
            self.uniqueName = uniqueName
            self.attachOnly = attachOnly
        }
    }

    public struct Publish: Equatable, Sendable {
        public var requestID: UInt32
        public var streamID: UInt32
        public var payload: [UInt8]
        public var ack: Bool

        public init(requestID: UInt32, streamID: UInt32, payload: [UInt8], ack: Bool = false) {
            self.requestID = requestID
            self.streamID = streamID
            self.payload = payload
            self.ack = ack
        }
    }

    /// Version 2: subscribe and continue after the last sequence seen under `sidPrefix`.
    public struct Resume: Equatable, Sendable {
        public var requestID: UInt32
        /// The sid prefix the client saw `afterSequence` under (all zero if it saw none).
        public var sidPrefix: SidPrefix
        /// The last sequence the client saw; 0 asks for everything from sequence 1.
        public var afterSequence: UInt64
        public var stream: String

        public init(requestID: UInt32, sidPrefix: SidPrefix, afterSequence: UInt64, stream: String) {
            self.requestID = requestID
            self.sidPrefix = sidPrefix
            self.afterSequence = afterSequence
            self.stream = stream
        }
    }

    /// Version 2: follows the SUBSCRIBED that answers a RESUME and says how it resumed.
    public struct Resumed: Equatable, Sendable {
        public var requestID: UInt32
        public var streamID: UInt32
        public var outcome: ResumeOutcome

        public init(requestID: UInt32, streamID: UInt32, outcome: ResumeOutcome) {
            self.requestID = requestID
            self.streamID = streamID
            self.outcome = outcome
        }
    }

    public struct Published: Equatable, Sendable {
        public var requestID: UInt32
        public var streamID: UInt32
        public var sidPrefix: SidPrefix
        public var sequence: UInt64

        public init(requestID: UInt32, streamID: UInt32, sidPrefix: SidPrefix, sequence: UInt64) {
            self.requestID = requestID
            self.streamID = streamID
            self.sidPrefix = sidPrefix
            self.sequence = sequence
        }

        public var messageSid: String { sidPrefix.messageSid(sequence: sequence) }
    }

    public struct Message: Equatable, Sendable {
        public var streamID: UInt32
        public var sequence: UInt64
        public var payload: [UInt8]

        public init(streamID: UInt32, sequence: UInt64, payload: [UInt8]) {
            self.streamID = streamID
            self.sequence = sequence
            self.payload = payload
        }
    }

    public struct Dropped: Equatable, Sendable {
        public var streamID: UInt32
        public var count: UInt64
        /// The reason, or `slowConsumer` if this codec does not know the one on the wire: a loss
        /// of `count` messages all the same (protocol.md §5.1).
        public var reason: DropReason
        /// The reason exactly as on the wire, so newer reasons can still be shown.
        public var rawReason: UInt8

        public init(streamID: UInt32, count: UInt64, reason: DropReason, rawReason: UInt8? = nil) {
            self.streamID = streamID
            self.count = count
            self.reason = reason
            self.rawReason = rawReason ?? reason.rawValue
        }
    }

    public struct ErrorFrame: Equatable, Sendable {
        public var requestID: UInt32
        /// The code, or the nearest generic one if this codec does not know the code on the wire.
        public var code: ErrorCode
        /// The code exactly as on the wire, so newer codes can still be shown.
        public var rawCode: UInt16
        public var message: String
        public var fatal: Bool

        public init(requestID: UInt32, code: ErrorCode, message: String, fatal: Bool? = nil) {
            self.init(
                requestID: requestID,
                code: code,
                rawCode: code.rawValue,
                message: message,
                fatal: fatal ?? code.isFatal
            )
        }

        init(requestID: UInt32, code: ErrorCode, rawCode: UInt16, message: String, fatal: Bool) {
            self.requestID = requestID
            self.code = code
            self.rawCode = rawCode
            self.message = message
            self.fatal = fatal
        }
    }
}

/// Why a connection lost messages (DROPPED `reason`).
public enum DropReason: UInt8, Sendable {
    /// The connection's out-buffer was full.
    case slowConsumer = 1
    /// The server's reader fell a whole ring behind the publisher.
    case lapped = 2
    /// Version 2: a RESUME asked for messages the stream's ring no longer held.
    case notRetained = 3
    /// Version 3: a shared-memory reader was lapped in the mapped ring. The server never sends
    /// it; clients report such losses to their applications with this reason.
    case ringLapped = 5
}

/// How a RESUME was answered (RESUMED `outcome`, protocol version 2).
public enum ResumeOutcome: UInt8, Sendable {
    /// Same server run: the subscription continues right after the client's sequence.
    case continued = 1
    /// The sid prefix is not the stream's current one (the server restarted, or the client saw
    /// none): the subscription starts at sequence 1 of this run; what came before is unknown.
    case restarted = 2
}

/// Why a stream ended (STREAM_ENDED `reason`).
public enum StreamEndReason: UInt8, Sendable {
    case deleted = 1
    case expired = 2
    case shutdown = 3
    /// The connection's Access Token expired without a refresh (the connection then closes with
    /// ERROR `TOKEN_EXPIRED`, the same number).
    case tokenExpired = 13
    /// The API key that signed the connection's token was deleted (then ERROR `KEY_REVOKED`).
    case keyRevoked = 15
}
