import TernAuth
import TernCore
import TernWire

/// The data-port protocol as a synchronous state machine: bytes a connection sent go in
/// (`receive`), answers and errors come out through the data plane's writes, and the connection's
/// state moves awaiting HELLO → open → closing (→ closed). No descriptors, no threads, no clock
/// of its own: the loop, or the embedded harness, calls it.
///
/// One per reactor thread; the per-connection state lives in `Connection`.
final class DataPortSession {
    /// The plane owns this session and outlives it. `unowned(unsafe)`: a checked `unowned`
    /// reference costs an atomic retain and release on every use, and this one is used per message.
    unowned(unsafe) let plane: DataPlane
    let broker: Broker
    let configuration: ReactorConfiguration
    let splitter: FrameSplitter
    /// Where publish runs are encoded before they are copied into a ring.
    let ringWriter = RingWriter()
    /// The buffers of the PUBLISH run, kept between calls so their capacity is reused.
    var parkedPublishRun = PublishRun.withCapacity()

    init(plane: DataPlane) {
        self.plane = plane
        broker = plane.broker
        configuration = plane.configuration
        splitter = FrameSplitter(maxBody: plane.configuration.maxFrameBody)
    }

    // MARK: Input

    /// Handles every complete frame in `bytes`; returns how many bytes were consumed (the rest
    /// is the start of a frame, to be given again with more). Runs of PUBLISH frames are
    /// collected and appended together; any other frame, an error or the end of `bytes` (whose
    /// memory the caller reuses) ends the run first.
    func receive(_ bytes: UnsafeRawBufferPointer, from connection: Connection) -> Int {
        var run = PublishRun()
        swap(&run, &parkedPublishRun)
        var framesReceived: UInt64 = 0
        defer {
            appendRun(&run)
            run.unbind()
            swap(&run, &parkedPublishRun)
            connection.framesReceived += framesReceived
        }
        var offset = 0
        while connection.state == .awaitingHello || connection.state == .open {
            let slice: FrameSplitter.Slice
            do {
                guard let next = try splitter.next(in: bytes, at: offset) else { break }
                slice = next
            } catch {
                appendRun(&run)
                reject(connection, error, bytes: bytes, at: offset)
                return bytes.count
            }
            framesReceived += 1
            let body = UnsafeRawBufferPointer(rebasing: bytes[slice.bodyStart..<slice.end])
            do {
                if slice.header.type == .publish && connection.state == .open {
                    collectPublish(connection, try PublishView(header: slice.header, body: body), into: &run)
                } else {
                    // It may change what the connection may publish to: the run starts afresh.
                    appendRun(&run)
                    run.unbind()
                    try handleFrame(connection, header: slice.header, body: body)
                }
            } catch {
                appendRun(&run)
                reject(connection, error, bytes: bytes, at: offset)
                return bytes.count
            }
            offset = slice.end
        }
        return offset
    }

    /// The peer closed its side inside a frame: tell it why its last frame is lost.
    func endedInsideFrame(_ connection: Connection, leftover: Int) {
        plane.counters.recordRejected(.malformedFrame)
        fail(
            connection,
            requestID: 0,
            .malformedFrame,
            "connection closed inside a frame (\(leftover) bytes of it received)"
        )
    }

    /// Dispatches one complete frame other than a PUBLISH on an open connection (those go to
    /// runs). Throws only for connection-level (fatal) violations; request-level problems are
    /// answered with a non-fatal ERROR here.
    private func handleFrame(
        _ connection: Connection,
        header: FrameHeader,
        body: UnsafeRawBufferPointer
    ) throws(WireError) {
        try ClientFrameRules.check(
            header.type,
            helloAccepted: connection.state != .awaitingHello,
            version: connection.state == .awaitingHello ? WireLimits.protocolVersion : connection.version
        )
        switch header.type {
        case .hello:
            try hello(connection, Frame.decode(header: header, body: body))
        case .subscribe:
            guard case .subscribe(let request) = try Frame.decode(header: header, body: body) else { return }
            subscribe(connection, request)
        case .unsubscribe:
            guard case .unsubscribe(let requestID, let streamID) = try Frame.decode(header: header, body: body) else {
                return
            }
            unsubscribe(connection, requestID: requestID, streamID: streamID)
        case .ping:
            guard case .ping(let opaque) = try Frame.decode(header: header, body: body) else { return }
            plane.sendControl(connection, .pong(opaque))
        case .pong:
            _ = try Frame.decode(header: header, body: body)
            connection.pingSentAt = nil
        case .refreshToken:
            guard case .refreshToken(let requestID, let token) = try Frame.decode(header: header, body: body) else {
                return
            }
            refresh(connection, requestID: requestID, token: token)
        case .resume:
            guard case .resume(let request) = try Frame.decode(header: header, body: body) else { return }
            resume(connection, request)
        case .subscribeShared:
            guard case .subscribeShared(let requestID, let stream) = try Frame.decode(header: header, body: body)
            else { return }
            subscribeShared(connection, requestID: requestID, name: stream)
        case .ringLoss:
            guard case .ringLoss(let requestID, let streamID, let count) = try Frame.decode(header: header, body: body)
            else { return }
            ringLoss(connection, requestID: requestID, streamID: streamID, count: count)
        case .publish, .welcome, .subscribed, .unsubscribed, .published, .message, .dropped, .streamEnded, .error,
            .tokenExpiring, .tokenRefreshed, .resumed, .ringMapped, .lane:
            // PUBLISH on an open connection never comes here (`receive` collects it into a run);
            // before HELLO, and server frames always, `ClientFrameRules` refused it above.
            break
        }
    }

    private func hello(_ connection: Connection, _ frame: Frame) throws(WireError) {
        guard case .hello(let hello) = frame else { return }
        let version = try ClientFrameRules.version(for: hello)
        if AccessToken.looksLikeJWT(hello.token) {
            // An Access Token is verified whether or not the server requires auth: its grants narrow.
            adopt(try verify(hello.token), on: connection)
            plane.logger.debug(
                "connection \(connection.id) (\(connection.peer)\(connection.identityNote)): Access Token accepted"
            )
        } else if let credentials = configuration.credentials, !credentials.current.accepts(token: hello.token) {
            throw WireError(.authFailed, hello.token.isEmpty ? "this server requires a token in HELLO" : "wrong token")
        }
        connection.clientName = hello.clientName
        connection.version = version
        connection.state = .open
        plane.sendControl(
            connection,
            .welcome(
                .init(
                    version: version,
                    maxPayload: UInt32(broker.limits.maxPayload),
                    maxFrameBody: UInt32(configuration.maxFrameBody),
                    maxSubscriptions: UInt32(configuration.maxSubscriptionsPerConnection),
                    pingIntervalMilliseconds: UInt32(configuration.pingIntervalMilliseconds),
                    serverName: configuration.serverName
                )
            )
        )
    }

    // MARK: Answers

    /// A request-level error: the connection stays open.
    func answerError(_ connection: Connection, requestID: UInt32, _ code: ErrorCode, _ message: String) {
        plane.counters.recordRejected(code)
        plane.sendControl(connection, .error(.init(requestID: requestID, code: code, message: message)))
    }

    /// A protocol violation: one exit for all of them, logging a snippet of the offending bytes.
    private func reject(_ connection: Connection, _ error: WireError, bytes: UnsafeRawBufferPointer, at offset: Int) {
        let snippet = bytes[offset..<min(bytes.count, offset + 16)].map { String($0, radix: 16) }.joined(separator: " ")
        plane.logger.info(
            "closing connection \(connection.id) (\(connection.peer)\(connection.identityNote)): \(error) [bytes: \(snippet)]"
        )
        plane.counters.recordRejected(error.code)
        fail(connection, requestID: 0, error.code, error.message)
    }

    /// A fatal error: send it, stop reading, close once flushed (or after `fatalCloseGrace`).
    ///
    /// The state moves to `closing` before the ERROR is written: that write may find the peer
    /// gone and close the connection, and nothing after it may move a closed connection back
    /// (that once closed the fd twice and counted the close twice, disabling `--max-connections`).
    func fail(_ connection: Connection, requestID: UInt32, _ code: ErrorCode, _ message: String) {
        guard connection.state == .open || connection.state == .awaitingHello else { return }
        beginClosing(connection, reason: "\(code.name): \(message)")
        plane.sendControl(connection, .error(.init(requestID: requestID, code: code, message: message, fatal: true)))
        if connection.state == .closing { plane.flush(connection) }
    }

    /// Stops reading from `connection` and leaves its streams; it closes once its out-buffer is
    /// written (or its grace runs out).
    func beginClosing(_ connection: Connection, reason: String) {
        connection.state = .closing
        connection.closingSince = plane.now()
        connection.closeReason = reason
        plane.fanOut.leaveAll(connection)
    }
}
