/// The frame types of protocol versions 1 to 3 (protocol.md, section 4). A type of a later version
/// (`sinceVersion`) than the connection's is `UNKNOWN_FRAME_TYPE` there.
///
/// Client-to-server types live in `0x01...0x7f`, server-to-client types in `0x81...0xff`;
/// `ping` and `pong` travel both ways.
public enum FrameType: UInt8, Sendable, CaseIterable {
    case hello = 0x01
    case subscribe = 0x02
    case unsubscribe = 0x03
    case publish = 0x04
    case ping = 0x05
    case pong = 0x06
    /// Version 2: continue a subscription after the last sequence the client saw.
    case resume = 0x07
    /// Version 2: a new Access Token for a live connection.
    case refreshToken = 0x08
    /// Version 3: subscribe by mapping the stream's ring read-only (Unix socket only, §4.16).
    case subscribeShared = 0x0a
    /// Version 3: a shared-memory reader reports messages it lost to lapping (§4.18).
    case ringLoss = 0x0b
    case welcome = 0x81
    case subscribed = 0x82
    case unsubscribed = 0x83
    case published = 0x84
    case message = 0x85
    case dropped = 0x86
    case streamEnded = 0x87
    case error = 0x88
    /// Version 2: the connection's Access Token expires soon.
    case tokenExpiring = 0x89
    /// Version 2: the answer to REFRESH_TOKEN.
    case tokenRefreshed = 0x8a
    /// Version 2: the answer to RESUME.
    case resumed = 0x8b
    /// Version 3: follows the SUBSCRIBED that answers SUBSCRIBE_SHARED; carries the ring's
    /// memfd as SCM_RIGHTS (§4.17).
    case ringMapped = 0x8e
    /// Version 3 (cluster): a lane of a subscribed stream, the messages published on another node.
    case lane = 0x8c

    /// The flag bits this type defines; any other bit set makes the frame malformed.
    @inlinable
    public var definedFlags: UInt8 {
        switch self {
        case .subscribe, .subscribed: return FrameFlags.attachOnly
        case .publish: return FrameFlags.ack
        case .error: return FrameFlags.fatal
        default: return 0
        }
    }

    /// Whether a client may send this type (`ping`/`pong` go both ways).
    public var isClientToServer: Bool { rawValue < 0x80 }

    /// The protocol version that introduced this type; on a connection of a lower version it is
    /// as unknown as an undefined type.
    public var sinceVersion: UInt16 {
        switch self {
        case .resume, .resumed, .refreshToken, .tokenExpiring, .tokenRefreshed: return 2
        case .subscribeShared, .ringLoss, .ringMapped, .lane: return 3
        default: return 1
        }
    }

    /// The largest body a frame of this type may have whatever the server's `max_frame_body`:
    /// HELLO and REFRESH_TOKEN carry tokens of up to `maxTokenBytes`, and must fit before the
    /// client knows the limit.
    public var fixedBodyAllowance: Int {
        switch self {
        case .hello: return WireLimits.maxHelloBody
        case .refreshToken: return WireLimits.maxRefreshTokenBody
        default: return 0
        }
    }
}

/// Flag bits, named per frame type. They share bit 0 because no type defines two flags yet.
public enum FrameFlags {
    /// SUBSCRIBE / SUBSCRIBED: attach for publishing, without receiving messages.
    public static let attachOnly: UInt8 = 0x01
    /// PUBLISH: answer with PUBLISHED.
    public static let ack: UInt8 = 0x01
    /// ERROR: the server closes the connection after this frame.
    public static let fatal: UInt8 = 0x01
}
