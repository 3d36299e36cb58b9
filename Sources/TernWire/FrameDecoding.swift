extension Frame {
    /// Decodes one frame body whose header was already validated by `FrameHeader.parse`.
    ///
    /// Protocol violations throw `WireError` with the code the server sends back. Unknown values
    /// a client must accept from newer servers (protocol.md §5.1: ERROR codes, DROPPED and
    /// STREAM_ENDED reasons, RESUMED outcomes) decode to the nearest known one, the raw value
    /// kept where the frame has room for it.
    public static func decode(header: FrameHeader, body: UnsafeRawBufferPointer) throws(WireError) -> Frame {
        var reader = WireReader(body)
        let frame: Frame
        switch header.type {
        case .hello:
            frame = .hello(
                Hello(
                    minVersion: try reader.readU16("min_version"),
                    maxVersion: try reader.readU16("max_version"),
                    clientName: try reader.readString("client_name", limit: WireLimits.maxClientNameBytes),
                    token: try reader.readString("token", limit: WireLimits.maxTokenBytes)
                )
            )
        case .welcome:
            frame = .welcome(
                Welcome(
                    version: try reader.readU16("version"),
                    maxPayload: try reader.readU32("max_payload"),
                    maxFrameBody: try reader.readU32("max_frame_body"),
                    maxSubscriptions: try reader.readU32("max_subscriptions"),
                    pingIntervalMilliseconds: try reader.readU32("ping_interval_ms"),
                    serverName: try reader.readString("server_name", limit: Int(UInt16.max))
                )
            )
        case .subscribe:
            frame = .subscribe(
                Subscribe(
                    requestID: try reader.readU32("request_id"),
                    stream: try reader.readString("stream", limit: WireLimits.maxStreamFieldBytes),
                    attachOnly: header.flags & FrameFlags.attachOnly != 0
                )
            )
        case .subscribed:
            frame = .subscribed(
                Subscribed(
                    requestID: try reader.readU32("request_id"),
                    streamID: try reader.readU32("stream_id"),
                    sidPrefix: try reader.readBytes8("sid_prefix"),
                    nextSequence: try reader.readU64("next_sequence"),
                    streamSid: try reader.readString("stream_sid", limit: Int(UInt16.max)),
                    uniqueName: try reader.readString("unique_name", limit: Int(UInt16.max)),
                    attachOnly: header.flags & FrameFlags.attachOnly != 0
                )
            )
        case .unsubscribe:
            frame = .unsubscribe(requestID: try reader.readU32("request_id"), streamID: try reader.readU32("stream_id"))
        case .unsubscribed:
            frame = .unsubscribed(
                requestID: try reader.readU32("request_id"),
                streamID: try reader.readU32("stream_id")
            )
        case .publish:
            let view = try PublishView(header: header, body: body)
            return .publish(
                Publish(requestID: view.requestID, streamID: view.streamID, payload: Array(view.payload), ack: view.ack)
            )
        case .published:
            frame = .published(
                Published(
                    requestID: try reader.readU32("request_id"),
                    streamID: try reader.readU32("stream_id"),
                    sidPrefix: try reader.readBytes8("sid_prefix"),
                    sequence: try reader.readU64("sequence")
                )
            )
        case .message:
            let streamID = try reader.readU32("stream_id")
            let sequence = try reader.readU64("sequence")
            return .message(Message(streamID: streamID, sequence: sequence, payload: Array(reader.readRest())))
        case .dropped:
            let streamID = try reader.readU32("stream_id")
            let count = try reader.readU64("count")
            let rawReason = try reader.readU8("reason")
            // protocol.md §5.1: an unknown reason is still a loss of `count` messages.
            let reason = DropReason(rawValue: rawReason) ?? .slowConsumer
            frame = .dropped(Dropped(streamID: streamID, count: count, reason: reason, rawReason: rawReason))
        case .streamEnded:
            let streamID = try reader.readU32("stream_id")
            let rawReason = try reader.readU8("reason")
            // protocol.md §5.1: an unknown reason still ends the stream.
            let reason = StreamEndReason(rawValue: rawReason) ?? .deleted
            frame = .streamEnded(streamID: streamID, reason: reason)
        case .error:
            let requestID = try reader.readU32("request_id")
            let rawCode = try reader.readU16("code")
            let message = try reader.readString("message", limit: WireLimits.maxErrorMessageBytes)
            let fatal = header.flags & FrameFlags.fatal != 0
            // An unknown code is kept as the nearest generic one so old clients survive new servers.
            let code = ErrorCode(rawValue: rawCode) ?? (fatal ? .malformedFrame : .invalidPayload)
            frame = .error(
                ErrorFrame(requestID: requestID, code: code, rawCode: rawCode, message: message, fatal: fatal)
            )
        case .resume:
            frame = .resume(
                Resume(
                    requestID: try reader.readU32("request_id"),
                    sidPrefix: try reader.readBytes8("sid_prefix"),
                    afterSequence: try reader.readU64("after_sequence"),
                    stream: try reader.readString("stream", limit: WireLimits.maxStreamFieldBytes)
                )
            )
        case .resumed:
            let requestID = try reader.readU32("request_id")
            let streamID = try reader.readU32("stream_id")
            let rawOutcome = try reader.readU8("outcome")
            // protocol.md §4.14: an unknown outcome means the client's sequence space is gone.
            let outcome = ResumeOutcome(rawValue: rawOutcome) ?? .restarted
            frame = .resumed(Resumed(requestID: requestID, streamID: streamID, outcome: outcome))
        case .subscribeShared:
            frame = .subscribeShared(
                requestID: try reader.readU32("request_id"),
                stream: try reader.readString("stream", limit: WireLimits.maxStreamFieldBytes)
            )
        case .ringMapped:
            frame = .ringMapped(
                RingMapped(
                    requestID: try reader.readU32("request_id"),
                    streamID: try reader.readU32("stream_id"),
                    headerBytes: try reader.readU32("header_bytes"),
                    ringBytes: try reader.readU64("ring_bytes"),
                    startPosition: try reader.readU64("start_position")
                )
            )
        case .ringLoss:
            frame = .ringLoss(
                requestID: try reader.readU32("request_id"),
                streamID: try reader.readU32("stream_id"),
                count: try reader.readU64("count")
            )
        case .lane:
            frame = .lane(
                Lane(
                    streamID: try reader.readU32("stream_id"),
                    laneID: try reader.readU32("lane_id"),
                    sidPrefix: try reader.readBytes8("sid_prefix"),
                    nextSequence: try reader.readU64("next_sequence")
                )
            )
        case .ping:
            frame = .ping(try reader.readU64("opaque"))
        case .pong:
            frame = .pong(try reader.readU64("opaque"))
        case .refreshToken:
            frame = .refreshToken(
                requestID: try reader.readU32("request_id"),
                token: try reader.readString("token", limit: WireLimits.maxTokenBytes)
            )
        case .tokenExpiring:
            frame = .tokenExpiring(
                TokenExpiring(
                    expiresAt: try reader.readU64("expires_at"),
                    remainingMilliseconds: try reader.readU32("remaining_ms")
                )
            )
        case .tokenRefreshed:
            frame = .tokenRefreshed(
                requestID: try reader.readU32("request_id"),
                expiresAt: try reader.readU64("expires_at")
            )
        }
        try reader.expectEnd(header.type)
        return frame
    }
}

/// PUBLISH decoded in place: the payload points into the read buffer and is only valid while it is.
public struct PublishView {
    public var requestID: UInt32
    public var streamID: UInt32
    public var ack: Bool
    public var payload: UnsafeRawBufferPointer

    @inlinable
    public init(header: FrameHeader, body: UnsafeRawBufferPointer) throws(WireError) {
        var reader = WireReader(body)
        requestID = try reader.readU32("request_id")
        streamID = try reader.readU32("stream_id")
        ack = header.flags & FrameFlags.ack != 0
        payload = reader.readRest()
    }
}

/// The fixed part of a MESSAGE frame. The server writes it once per message, straight into the
/// stream's ring, followed by the payload; every subscriber then receives these same bytes.
public enum MessageFrame {
    /// Header and fixed body fields: 8 + 4 + 8 bytes.
    public static let prefixSize = WireLimits.headerSize + WireLimits.messageBodyOverhead
    /// Where `stream_id` (u32) sits in a MESSAGE frame.
    public static let streamIDOffset = WireLimits.headerSize
    /// Where `sequence` (u64) sits in a MESSAGE frame.
    public static let sequenceOffset = WireLimits.headerSize + 4

    /// The sequence of the MESSAGE frame that starts at `frameStart` in `bytes`.
    @inlinable
    public static func sequence(in bytes: UnsafeRawBufferPointer, frameStart: Int) -> UInt64 {
        UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: frameStart + sequenceOffset, as: UInt64.self))
    }

    /// Total frame size for a payload of `payloadCount` bytes.
    @inlinable
    public static func size(payloadCount: Int) -> Int { prefixSize + payloadCount }

    /// Writes the 20-byte prefix for a message of `payloadCount` bytes into `destination`.
    @inlinable
    public static func writePrefix(
        streamID: UInt32,
        sequence: UInt64,
        payloadCount: Int,
        to destination: UnsafeMutableRawPointer
    ) {
        FrameHeader.write(
            length: UInt32(WireLimits.messageBodyOverhead + payloadCount),
            type: .message,
            flags: 0,
            to: destination
        )
        destination.storeBytes(of: streamID.bigEndian, toByteOffset: streamIDOffset, as: UInt32.self)
        (destination + sequenceOffset).storeBytes(of: sequence.bigEndian, as: UInt64.self)
    }
}
