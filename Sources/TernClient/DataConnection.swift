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

    private let transport: FrameTransport
    private var queuedEvents: [Frame] = []
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
        maxVersion: UInt16 = WireLimits.protocolVersion
    ) throws {
        try self.init(
            endpoint: DataEndpoint(parsing: address),
            clientName: clientName,
            token: token,
            timeout: timeout,
            maxVersion: maxVersion
        )
    }

    /// Connects to `endpoint` and performs the HELLO/WELCOME handshake.
    /// - Throws: `TernClientError.server` if the server refuses (e.g. `TOO_MANY_CONNECTIONS`,
    ///   `AUTH_FAILED`), `.timedOut` if no WELCOME arrives within `timeout`.
    ///   - token: the auth token, or an Access Token (protocol.md §4.15).
    ///   - maxVersion: the highest protocol version to offer (2: token refresh and expiry warnings).
    public init(
        endpoint: DataEndpoint,
        clientName: String = "tern-client",
        token: String = "",
        timeout: Duration = .seconds(10),
        maxVersion: UInt16 = WireLimits.protocolVersion
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
    }

    /// Sends what is buffered (best effort, for up to a second) and closes the socket.
    public func close() {
        if transport.isOpen { _ = try? transport.flush(until: Deadline(after: .seconds(1))) }
        transport.close()
    }

    // MARK: Requests

    /// Subscribes to a stream by sid (`TO…`) or unique name; with `attachOnly`, only attaches it
    /// for publishing. Either way the returned `streamID` is what `publish` and MESSAGE use.
    /// - Throws: `TernClientError.server` with `STREAM_NOT_FOUND`, `INVALID_STREAM_NAME`,
    ///   `ALREADY_SUBSCRIBED` or `TOO_MANY_SUBSCRIPTIONS`.
    public func subscribe(_ stream: String, attachOnly: Bool = false) throws -> Frame.Subscribed {
        let requestID = takeRequestID()
        transport.append(.subscribe(Frame.Subscribe(requestID: requestID, stream: stream, attachOnly: attachOnly)))
        let answer = try awaitAnswer(to: requestID, request: "SUBSCRIBE \(stream)")
        guard case .subscribed(let subscribed) = answer else { throw unexpected(answer, for: "SUBSCRIBE") }
        return subscribed
    }

    /// Leaves a stream; no frame for `streamID` arrives after this returns.
    public func unsubscribe(streamID: UInt32) throws {
        let requestID = takeRequestID()
        transport.append(.unsubscribe(requestID: requestID, streamID: streamID))
        let answer = try awaitAnswer(to: requestID, request: "UNSUBSCRIBE \(streamID)")
        guard case .unsubscribed = answer else { throw unexpected(answer, for: "UNSUBSCRIBE") }
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
    public func nextFrame(timeout: Duration? = nil) throws -> Frame? {
        if let queued = dequeueEvent() { return queued }
        let deadline = Deadline(after: timeout)
        while let frame = try transport.readFrame(until: deadline) {
            switch frame {
            case .message, .dropped, .streamEnded, .error, .tokenExpiring: return frame
            case .ping(let opaque): transport.append(.pong(opaque))
            default: continue  // a PONG, or the late answer to a request that timed out
            }
        }
        return nil
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
            case .tokenRefreshed(let answerID, _) where answerID == requestID: return frame
            case .error(let error) where error.requestID == requestID || error.fatal:
                throw TernClientError.server(error)
            case .message, .dropped, .streamEnded, .error, .tokenExpiring: queuedEvents.append(frame)
            case .ping(let opaque): transport.append(.pong(opaque))
            default: continue
            }
        }
    }

    private func dequeueEvent() -> Frame? {
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
