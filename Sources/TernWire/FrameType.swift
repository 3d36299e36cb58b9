/// The frame types of protocol versions 1 and 2 (protocol.md, section 4). `resume` and `resumed`
/// exist in version 2 only: on a version-1 connection RESUME is `UNKNOWN_FRAME_TYPE`.
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
    case resume = 0x07
    case welcome = 0x81
    case subscribed = 0x82
    case unsubscribed = 0x83
    case published = 0x84
    case message = 0x85
    case dropped = 0x86
    case streamEnded = 0x87
    case error = 0x88
    case resumed = 0x8B

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

    /// The lowest protocol version that defines this type.
    public var sinceVersion: UInt16 { self == .resume || self == .resumed ? 2 : 1 }
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
