extension Frame {
    public var type: FrameType {
        switch self {
        case .hello: return .hello
        case .welcome: return .welcome
        case .subscribe: return .subscribe
        case .subscribed: return .subscribed
        case .unsubscribe: return .unsubscribe
        case .unsubscribed: return .unsubscribed
        case .publish: return .publish
        case .published: return .published
        case .message: return .message
        case .dropped: return .dropped
        case .streamEnded: return .streamEnded
        case .error: return .error
        case .ping: return .ping
        case .pong: return .pong
        case .refreshToken: return .refreshToken
        case .tokenExpiring: return .tokenExpiring
        case .tokenRefreshed: return .tokenRefreshed
        case .resume: return .resume
        case .resumed: return .resumed
        case .subscribeShared: return .subscribeShared
        case .ringMapped: return .ringMapped
        case .ringLoss: return .ringLoss
        case .lane: return .lane
        }
    }

    /// The complete frame, header included.
    public func encoded() -> [UInt8] {
        var out = [UInt8]()
        encode(into: &out)
        return out
    }

    /// Appends the complete frame, header included, to `out`.
    public func encode(into out: inout [UInt8]) {
        var body = WireWriter()
        var flags: UInt8 = 0
        switch self {
        case .hello(let hello):
            body.u16(hello.minVersion)
            body.u16(hello.maxVersion)
            body.string(hello.clientName, limit: WireLimits.maxClientNameBytes)
            body.string(hello.token, limit: WireLimits.maxTokenBytes)
        case .welcome(let welcome):
            body.u16(welcome.version)
            body.u32(welcome.maxPayload)
            body.u32(welcome.maxFrameBody)
            body.u32(welcome.maxSubscriptions)
            body.u32(welcome.pingIntervalMilliseconds)
            body.string(welcome.serverName, limit: Int(UInt16.max))
        case .subscribe(let subscribe):
            if subscribe.attachOnly { flags |= FrameFlags.attachOnly }
            body.u32(subscribe.requestID)
            body.string(subscribe.stream, limit: Int(UInt16.max))
        case .subscribed(let subscribed):
            if subscribed.attachOnly { flags |= FrameFlags.attachOnly }
            body.u32(subscribed.requestID)
            body.u32(subscribed.streamID)
            body.bytes8(subscribed.sidPrefix)
            body.u64(subscribed.nextSequence)
            body.string(subscribed.streamSid, limit: Int(UInt16.max))
            body.string(subscribed.uniqueName, limit: Int(UInt16.max))
        case .unsubscribe(let requestID, let streamID), .unsubscribed(let requestID, let streamID):
            body.u32(requestID)
            body.u32(streamID)
        case .publish(let publish):
            if publish.ack { flags |= FrameFlags.ack }
            body.u32(publish.requestID)
            body.u32(publish.streamID)
            body.raw(publish.payload)
        case .published(let published):
            body.u32(published.requestID)
            body.u32(published.streamID)
            body.bytes8(published.sidPrefix)
            body.u64(published.sequence)
        case .message(let message):
            body.u32(message.streamID)
            body.u64(message.sequence)
            body.raw(message.payload)
        case .dropped(let dropped):
            body.u32(dropped.streamID)
            body.u64(dropped.count)
            body.u8(dropped.rawReason)
        case .streamEnded(let streamID, let reason):
            body.u32(streamID)
            body.u8(reason.rawValue)
        case .error(let error):
            if error.fatal { flags |= FrameFlags.fatal }
            body.u32(error.requestID)
            body.u16(error.rawCode)
            body.string(error.message, limit: WireLimits.maxErrorMessageBytes)
        case .ping(let opaque), .pong(let opaque):
            body.u64(opaque)
        case .refreshToken(let requestID, let token):
            body.u32(requestID)
            body.string(token, limit: WireLimits.maxTokenBytes)
        case .tokenExpiring(let expiring):
            body.u64(expiring.expiresAt)
            body.u32(expiring.remainingMilliseconds)
        case .tokenRefreshed(let requestID, let expiresAt):
            body.u32(requestID)
            body.u64(expiresAt)
        case .resume(let resume):
            body.u32(resume.requestID)
            body.bytes8(resume.sidPrefix)
            body.u64(resume.afterSequence)
            body.string(resume.stream, limit: Int(UInt16.max))
        case .resumed(let resumed):
            body.u32(resumed.requestID)
            body.u32(resumed.streamID)
            body.u8(resumed.outcome.rawValue)
        case .subscribeShared(let requestID, let stream):
            body.u32(requestID)
            body.string(stream, limit: Int(UInt16.max))
        case .ringMapped(let mapped):
            body.u32(mapped.requestID)
            body.u32(mapped.streamID)
            body.u32(mapped.headerBytes)
            body.u64(mapped.ringBytes)
            body.u64(mapped.startPosition)
        case .ringLoss(let requestID, let streamID, let count):
            body.u32(requestID)
            body.u32(streamID)
            body.u64(count)
        case .lane(let lane):
            body.u32(lane.streamID)
            body.u32(lane.laneID)
            body.bytes8(lane.sidPrefix)
            body.u64(lane.nextSequence)
        }
        var header = WireWriter(capacity: WireLimits.headerSize)
        header.u32(UInt32(body.bytes.count))
        header.u8(type.rawValue)
        header.u8(flags)
        header.u16(0)
        out.append(contentsOf: header.bytes)
        out.append(contentsOf: body.bytes)
    }
}
