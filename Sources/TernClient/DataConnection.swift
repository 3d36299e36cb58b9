import TernWire

/// A blocking client for a ternd data port (protocol.md): subscribe to streams, publish to them,
/// and read what the server pushes.
///
/// ```swift
/// let connection = try DataConnection("127.0.0.1:7400")
/// let prices = try connection.subscribe("prices")
/// try connection.publish(streamID: prices.streamID, payload: #"{"px":1}"#, ack: true)
/// while let frame = try connection.nextFrame(timeout: .seconds(1)) {
///     if case .message(let message) = frame { print(message.sequence) }
/// }
/// ```
///
/// Requests (`subscribe`, `unsubscribe`, acknowledged `publish`) wait for their answer. Frames the
/// server pushes meanwhile (MESSAGE, DROPPED, STREAM_ENDED, ERROR for other requests) are queued
/// and handed out by `nextFrame` in arrival order, so nothing is lost. PING is answered for you.
///
/// Unacknowledged publishes are only buffered; they leave when the buffer reaches
/// `autoFlushBytes`, on `flush()`, or whenever the connection waits for the server. Batching is
/// what lets one publisher push millions of small messages per second.
///
/// A connection is used from one thread at a time; it is deliberately not `Sendable`. Call
/// `close()` when done: dropping the last reference closes the socket without sending what is
/// still buffered.
public final class DataConnection {
    public let endpoint: DataEndpoint
    /// The server's WELCOME: protocol version and the limits it enforces.
    public let welcome: Frame.Welcome
    /// How long `subscribe`, `unsubscribe` and acknowledged `publish` wait for their answer.
    public var requestTimeout: Duration = .seconds(10)
    /// Buffered publishes are sent once at least this many bytes are waiting.
    public var autoFlushBytes = 256 << 10

    let transport: FrameTransport
    /// Shared-memory subscriptions (protocol version 3 on the Unix socket): tried first by
    /// `subscribe` while true; a server that refuses them turns it off for the connection.
    public private(set) var usesSharedMemory: Bool
    /// How `nextFrame` waits for a mapped ring when it has nothing to hand out.
    public var sharedMemoryIdle: SharedMemoryIdle = .park(spins: 1000)
    /// Mapped rings by stream id.
    var rings: [UInt32: MappedRing] = [:]
    /// Streams that receive MESSAGE frames over the socket (not mapped).
    var socketSubscriptions: Set<UInt32> = []
    /// When `nextFrame` last looked at the socket while rings kept it busy.
    var lastSocketCheck = ContinuousClock.now
    var queuedEvents: [Frame] = []
    private var queuedHead = 0
    /// The request id given to the most recent request, for matching a later ERROR frame to an
    /// unacknowledged publish.
    public private(set) var lastRequestID: UInt32 = 0

    /// Connects to `address` (`host:port`, or a Unix socket path) and performs the handshake.
    public convenience init(
        _ address: String,
        clientName: String = "tern-client",
        token: String = "",
        timeout: Duration = .seconds(10),
        maxVersion: UInt16 = WireLimits.protocolVersion,
        sharedMemory: Bool = true
    ) throws {
        try self.init(
            endpoint: DataEndpoint(parsing: address),
            clientName: clientName,
            token: token,
            timeout: timeout,
            maxVersion: maxVersion,
            sharedMemory: sharedMemory
        )
    }

    /// Connects to `endpoint` and performs the HELLO/WELCOME handshake.
    /// - Throws: `TernClientError.server` if the server refuses (e.g. `TOO_MANY_CONNECTIONS`,
    ///   `AUTH_FAILED`), `.timedOut` if no WELCOME arrives within `timeout`.
    ///   - token: the auth token, or an Access Token (protocol.md §4.15).
    ///   - maxVersion: the highest protocol version to offer (2: token refresh and expiry warnings;
    ///     3: shared-memory subscriptions).
    ///   - sharedMemory: on a Unix socket with version 3, `subscribe` maps the stream's ring and
    ///     reads messages from shared memory (protocol.md §4.16); false keeps every message on
    ///     the socket.
    public init(
        endpoint: DataEndpoint,
        clientName: String = "tern-client",
        token: String = "",
        timeout: Duration = .seconds(10),
        maxVersion: UInt16 = WireLimits.protocolVersion,
        sharedMemory: Bool = true
    ) throws {
        let transport = FrameTransport(fd: try SocketCalls.connect(to: endpoint))
        transport.append(
            .hello(
                Frame.Hello(
                    minVersion: WireLimits.minimumProtocolVersion,
                    maxVersion: maxVersion,
                    clientName: clientName,
                    token: token
                )
            )
        )
        guard let reply = try transport.readFrame(until: Deadline(after: timeout)) else {
            throw TernClientError.timedOut("no WELCOME from \(endpoint) within \(timeout)")
        }
        switch reply {
        case .welcome(let welcome): self.welcome = welcome
        case .error(let error): throw TernClientError.server(error)
        default: throw TernClientError.protocolViolation("expected WELCOME, got \(reply.type)")
        }
        self.endpoint = endpoint
        self.transport = transport
        if case .unix = endpoint, sharedMemory, welcome.version >= 3 {
            usesSharedMemory = true
        } else {
            usesSharedMemory = false
        }
    }

    /// Sends what is buffered (best effort, for up to a second) and closes the socket.
    public func close() {
        if transport.isOpen { _ = try? transport.flush(until: Deadline(after: .seconds(1))) }
        transport.close()
        rings.removeAll()
    }

    // MARK: Requests

    /// Subscribes to a stream by sid (`TO…`) or unique name; with `attachOnly`, only attaches it
    /// for publishing. Either way the returned `streamID` is what `publish` and MESSAGE use.
    /// - Throws: `TernClientError.server` with `STREAM_NOT_FOUND`, `INVALID_STREAM_NAME`,
    ///   `ALREADY_SUBSCRIBED` or `TOO_MANY_SUBSCRIPTIONS`.
    ///
    /// On a Unix socket (version 3, `sharedMemory` on) a subscription maps the stream's ring and
    /// `nextFrame` reads its messages from shared memory; a server that refuses
    /// (`SHARED_MEMORY_UNAVAILABLE`) gets a plain SUBSCRIBE instead, here and from then on.
    public func subscribe(_ stream: String, attachOnly: Bool = false) throws -> Frame.Subscribed {
        if !attachOnly && usesSharedMemory {
            do {
                return try subscribeShared(stream)
            } catch TernClientError.server(let error) where error.code == .sharedMemoryUnavailable {
                usesSharedMemory = false
            }
        }
        let requestID = takeRequestID()
        transport.append(.subscribe(Frame.Subscribe(requestID: requestID, stream: stream, attachOnly: attachOnly)))
        let answer = try awaitAnswer(to: requestID, request: "SUBSCRIBE \(stream)")
        guard case .subscribed(let subscribed) = answer else { throw unexpected(answer, for: "SUBSCRIBE") }
        if attachOnly {
            socketSubscriptions.remove(subscribed.streamID)
        } else {
            socketSubscriptions.insert(subscribed.streamID)
        }
        rings[subscribed.streamID] = nil
        return subscribed
    }

    /// SUBSCRIBE_SHARED: SUBSCRIBED, then RING_MAPPED with the ring's descriptor.
    private func subscribeShared(_ stream: String) throws -> Frame.Subscribed {
        let requestID = takeRequestID()
        transport.append(.subscribeShared(requestID: requestID, stream: stream))
        let answer = try awaitAnswer(to: requestID, request: "SUBSCRIBE_SHARED \(stream)")
        guard case .subscribed(let subscribed) = answer else { throw unexpected(answer, for: "SUBSCRIBE_SHARED") }
        let mappedAnswer = try awaitAnswer(to: requestID, request: "SUBSCRIBE_SHARED \(stream)")
        guard case .ringMapped(let mapped) = mappedAnswer else {
            throw unexpected(mappedAnswer, for: "SUBSCRIBE_SHARED")
        }
        guard let descriptor = transport.takeDescriptor() else {
            throw TernClientError.protocolViolation("RING_MAPPED arrived without a descriptor")
        }
        let reader = try SharedRingReader(descriptor: descriptor, mapped: mapped, nextSequence: subscribed.nextSequence)
        rings[subscribed.streamID] = MappedRing(reader: reader)
        socketSubscriptions.remove(subscribed.streamID)
        return subscribed
    }

    /// Whether `streamID` is read from a mapped ring on this connection.
    public func isMapped(streamID: UInt32) -> Bool { rings[streamID] != nil }

    /// The mapped ring of `streamID`, for reading it directly (`SharedRingReader.next()` hands
    /// out frames without copying them into `Frame`s). Reading it and calling `nextFrame` for the
    /// same stream split the messages between them. Holding it keeps the mapping alive after
    /// the subscription ends.
    public func mappedRing(streamID: UInt32) -> SharedRingReader? { rings[streamID]?.reader }

    /// Leaves a stream; no frame for `streamID` arrives after this returns.
    public func unsubscribe(streamID: UInt32) throws {
        let requestID = takeRequestID()
        transport.append(.unsubscribe(requestID: requestID, streamID: streamID))
        let answer = try awaitAnswer(to: requestID, request: "UNSUBSCRIBE \(streamID)")
        guard case .unsubscribed = answer else { throw unexpected(answer, for: "UNSUBSCRIBE") }
        rings[streamID] = nil
        socketSubscriptions.remove(streamID)
    }

    /// Publishes `payload` (a JSON object) to a stream this connection subscribed or attached.
    ///
    /// - Parameter ack: wait for PUBLISHED and return the message sid (`TZ…`). Without it the
    ///   frame is buffered and the call returns nil at once; a refusal then arrives later as an
    ///   `.error` frame from `nextFrame` whose `requestID` is `lastRequestID` of that publish.
    @discardableResult
    public func publish(streamID: UInt32, payload: UnsafeRawBufferPointer, ack: Bool = false) throws -> String? {
        let requestID = takeRequestID()
        transport.appendPublish(requestID: requestID, streamID: streamID, payload: payload, ack: ack)
        if ack {
            let answer = try awaitAnswer(to: requestID, request: "PUBLISH to \(streamID)")
            guard case .published(let published) = answer else { throw unexpected(answer, for: "PUBLISH") }
            return published.messageSid
        }
        if transport.output.readableCount >= autoFlushBytes { try transport.flush(until: .never) }
        return nil
    }

    @discardableResult
    public func publish(streamID: UInt32, payload: [UInt8], ack: Bool = false) throws -> String? {
        try payload.withUnsafeBytes { try publish(streamID: streamID, payload: $0, ack: ack) }
    }

    @discardableResult
    public func publish(streamID: UInt32, payload: String, ack: Bool = false) throws -> String? {
        var text = payload
        return try text.withUTF8 { try publish(streamID: streamID, payload: UnsafeRawBufferPointer($0), ack: ack) }
    }

    /// Replaces the connection's Access Token before it expires (version 2; answer the
    /// `.tokenExpiring` frame `nextFrame` hands out with this). Returns the new `exp`.
    /// - Throws: `TernClientError.server` with the token's error (`TOKEN_EXPIRED`,
    ///   `TOKEN_SIGNATURE_INVALID`, `REFRESH_REFUSED`, …; not fatal: the old token stays).
    @discardableResult
    public func refreshToken(_ token: String) throws -> UInt64 {
        let requestID = takeRequestID()
        transport.append(.refreshToken(requestID: requestID, token: token))
        let answer = try awaitAnswer(to: requestID, request: "REFRESH_TOKEN")
        guard case .tokenRefreshed(_, let expiresAt) = answer else { throw unexpected(answer, for: "REFRESH_TOKEN") }
        return expiresAt
    }

    /// Sends every buffered frame.
    /// - Parameter timeout: how long to wait for the socket to take it all; nil waits as long as
    ///   needed. A server that stops reading makes this throw `.timedOut` instead of hanging.
    public func flush(timeout: Duration? = nil) throws {
        guard try transport.flush(until: Deadline(after: timeout)) else {
            throw TernClientError.timedOut("\(transport.output.readableCount) bytes still unsent after \(timeout!)")
        }
    }

    // MARK: Pushed frames

    /// The next frame the server pushed: `.message`, `.dropped`, `.streamEnded`, `.tokenExpiring`, or `.error`
    /// (a refused unacknowledged publish, or a fatal error just before the server closes).
    /// Returns nil if none arrives within `timeout` (nil waits forever; `.zero` only looks at
    /// what is already received). Buffered publishes are sent while waiting.
    /// - Throws: `TernClientError.connectionClosed` once the server has closed the connection.
    ///
    /// Messages of mapped streams come from shared memory as `.message` frames too; a lap there
    /// comes as `.dropped` with reason `RING_LAPPED` (and is reported to the server with
    /// RING_LOSS). Their STREAM_ENDED comes after the ring's last message.
    public func nextFrame(timeout: Duration? = nil) throws -> Frame? {
        if let queued = dequeueEvent() { return queued }
        let deadline = Deadline(after: timeout)
        if !rings.isEmpty { return try nextFrameWithRings(until: deadline) }
        while let frame = try transport.readFrame(until: deadline) {
            if let event = route(frame) { return event }
        }
        return nil
    }

    /// What a frame read from the socket means for `nextFrame`: the event to hand out, or nil
    /// (answered here, or held back until a mapped ring is drained).
    func route(_ frame: Frame) -> Frame? {
        switch frame {
        case .streamEnded(let streamID, _) where rings[streamID] != nil:
            rings[streamID]?.pendingEnd = frame
            return nil
        case .streamEnded(let streamID, _):
            socketSubscriptions.remove(streamID)
            return frame
        case .message, .dropped, .error, .tokenExpiring: return frame
        case .ping(let opaque):
            transport.append(.pong(opaque))
            return nil
        default: return nil  // a PONG, or the late answer to a request that timed out
        }
    }

    /// Hands the socket to the caller, for driving it from an event loop of your own.
    ///
    /// Buffered output is sent first. The returned descriptor is nonblocking and past the
    /// handshake; `unreadBytes` were received but not yet parsed (they start on a frame
    /// boundary). Queued frames are discarded. The connection is closed afterwards.
    public func detach() throws -> (fileDescriptor: Int32, unreadBytes: [UInt8]) {
        try transport.flush(until: .never)
        queuedEvents.removeAll()
        queuedHead = 0
        return transport.detach()
    }

    // MARK: Internals

    private func takeRequestID() -> UInt32 {
        lastRequestID &+= 1
        if lastRequestID == 0 { lastRequestID = 1 }
        return lastRequestID
    }

    /// Reads until the answer to `requestID` arrives, queueing pushed frames for `nextFrame`.
    private func awaitAnswer(to requestID: UInt32, request: String) throws -> Frame {
        let deadline = Deadline(after: requestTimeout)
        while true {
            guard let frame = try transport.readFrame(until: deadline) else {
                throw TernClientError.timedOut("no answer to \(request) within \(requestTimeout)")
            }
            switch frame {
            case .subscribed(let answer) where answer.requestID == requestID: return frame
            case .unsubscribed(let answerID, _) where answerID == requestID: return frame
            case .published(let answer) where answer.requestID == requestID: return frame
            case .ringMapped(let answer) where answer.requestID == requestID: return frame
            case .tokenRefreshed(let answerID, _) where answerID == requestID: return frame
            case .error(let error) where error.requestID == requestID || error.fatal:
                throw TernClientError.server(error)
            default: if let event = route(frame) { queuedEvents.append(event) }
            }
        }
    }

    func dequeueEvent() -> Frame? {
        guard queuedHead < queuedEvents.count else { return nil }
        let frame = queuedEvents[queuedHead]
        queuedHead += 1
        if queuedHead == queuedEvents.count {
            queuedEvents.removeAll(keepingCapacity: true)
            queuedHead = 0
        }
        return frame
    }

    private func unexpected(_ frame: Frame, for request: String) -> TernClientError {
        .protocolViolation("unexpected \(frame.type) in answer to \(request)")
    }
}
