import Glibc
import TernCore
import TernWire

extension ReactorThread {
    /// Dispatches one complete frame. Throws only for connection-level (fatal) violations;
    /// request-level problems are answered with a non-fatal ERROR here.
    func handleFrame(_ connection: Connection, header: FrameHeader, body: UnsafeRawBufferPointer) throws(WireError) {
        try ClientFrameRules.check(header.type, helloAccepted: connection.state != .awaitingHello)
        switch header.type {
        case .hello:
            try hello(connection, Frame.decode(header: header, body: body))
        case .publish:
            // processFrames collects runs itself; a PUBLISH arriving here is a run of one.
            var run = PublishRun()
            collectPublish(connection, try PublishView(header: header, body: body), into: &run)
            flush(&run)
        case .subscribe:
            guard case .subscribe(let request) = try Frame.decode(header: header, body: body) else { return }
            subscribe(connection, request)
        case .unsubscribe:
            guard case .unsubscribe(let requestID, let streamID) = try Frame.decode(header: header, body: body) else { return }
            unsubscribe(connection, requestID: requestID, streamID: streamID)
        case .ping:
            guard case .ping(let opaque) = try Frame.decode(header: header, body: body) else { return }
            sendControl(connection, .pong(opaque))
        case .pong:
            _ = try Frame.decode(header: header, body: body)
            connection.pingSentAt = nil
        case .welcome, .subscribed, .unsubscribed, .published, .message, .dropped, .streamEnded, .error:
            break  // refused by ClientFrameRules
        }
    }

    private func hello(_ connection: Connection, _ frame: Frame) throws(WireError) {
        guard case .hello(let hello) = frame else { return }
        let version = try ClientFrameRules.version(for: hello)
        if let credentials = configuration.credentials, !credentials.current.accepts(token: hello.token) {
            throw WireError(.authFailed, hello.token.isEmpty ? "this server requires a token in HELLO" : "wrong token")
        }
        connection.clientName = hello.clientName
        connection.state = .open
        sendControl(
            connection,
            .welcome(
                .init(
                    version: version, maxPayload: UInt32(broker.limits.maxPayload),
                    maxFrameBody: UInt32(configuration.maxFrameBody),
                    maxSubscriptions: UInt32(configuration.maxSubscriptionsPerConnection),
                    pingIntervalMilliseconds: UInt32(configuration.pingIntervalMilliseconds),
                    serverName: configuration.serverName)))
    }

    // MARK: Publish (the hot request)

    /// Validates one PUBLISH and adds it to `run`, the consecutive PUBLISH frames to one stream;
    /// the run is appended to the ring under one lock when it ends (`flush`). A request that
    /// fails is answered after the run before it is flushed, so answers keep request order.
    ///
    /// `run` is a local of the caller, not thread state: inout locals need no runtime
    /// exclusivity checks, and this is the one path every message takes.
    func collectPublish(_ connection: Connection, _ request: PublishView, into run: inout PublishRun) {
        if run.connection !== connection || run.streamID != request.streamID {
            flush(&run)
            guard let stream = publishTarget(connection, streamID: request.streamID) else {
                answerError(connection, requestID: request.requestID, .notSubscribed, "stream \(request.streamID) is not subscribed or attached on this connection")
                return
            }
            run.bind(connection: connection, stream: stream)
        }
        do {
            try broker.validate(payload: request.payload)
        } catch {
            flush(&run)
            answerError(connection, requestID: request.requestID, error.wireCode, error.message)
            return
        }
        run.append(request.payload, requestID: request.requestID, ack: request.ack)
        if run.isFull { flush(&run) }
    }

    /// Appends the collected run, answers its acknowledgements, and publishes singly what the
    /// stream's rate limit refused (each gets its own answer). Must run before the read buffer
    /// the payloads point into is reused. The run stays bound to its stream and connection.
    func flush(_ run: inout PublishRun) {
        guard !run.payloads.isEmpty, let stream = run.stream, let connection = run.connection else { return }
        defer { run.clearMessages() }
        let outcome = run.payloads.withUnsafeBufferPointer { payloads in
            Result { () throws(BrokerError) in
                try broker.publish(to: stream, validatedPayloads: payloads, staging: stagingBuffer)
            }
        }
        let firstSequence: UInt64
        let accepted: Int
        switch outcome {
        case .success(let published):
            (firstSequence, accepted) = published
        case .failure(let error):
            for request in run.requests {
                answerError(connection, requestID: request.requestID, error.wireCode, error.message)
            }
            return
        }
        if accepted > 0 { notePublished(stream, bytes: run.frameBytes(accepted)) }
        if accepted == run.payloads.count && !run.anyAck { return }
        for (offset, request) in run.requests.enumerated() {
            // An answer's write may have closed the connection: nothing more for or from it.
            guard connection.state == .open else { return }
            if offset < accepted {
                guard request.ack else { continue }
                sendControl(
                    connection,
                    .published(.init(requestID: request.requestID, streamID: stream.id, sidPrefix: stream.sidPrefix, sequence: firstSequence + UInt64(offset))))
            } else {
                publishSingly(connection, stream, requestID: request.requestID, ack: request.ack, payload: run.payloads[offset])
            }
        }
    }

    /// The stream a connection publishes to by id: the last one it used, else one of its own.
    private func publishTarget(_ connection: Connection, streamID: UInt32) -> BrokerStream? {
        if let cached = connection.lastPublishTarget, cached.id == streamID { return cached }
        guard let subscription = connection.subscriptions[streamID] else { return nil }
        connection.lastPublishTarget = subscription.stream
        return subscription.stream
    }

    private func publishSingly(_ connection: Connection, _ stream: BrokerStream, requestID: UInt32, ack: Bool, payload: UnsafeRawBufferPointer) {
        let sequence: UInt64
        do {
            sequence = try broker.publish(to: stream, payload: payload, wake: false)
        } catch {
            answerError(connection, requestID: requestID, error.wireCode, error.message)
            return
        }
        notePublished(stream, bytes: MessageFrame.size(payloadCount: payload.count))
        if ack {
            sendControl(
                connection,
                .published(.init(requestID: requestID, streamID: stream.id, sidPrefix: stream.sidPrefix, sequence: sequence)))
        }
    }

    // MARK: Subscribe / unsubscribe

    private func subscribe(_ connection: Connection, _ request: Frame.Subscribe) {
        let stream: BrokerStream
        do {
            stream = try broker.stream(named: request.stream)
        } catch {
            // INVALID_STREAM_NAME (empty, or a name over 320 scalars) or STREAM_NOT_FOUND.
            let code = error.wireCode
            answerError(connection, requestID: request.requestID, code, code == .streamNotFound ? "stream '\(request.stream)' not found" : error.message)
            return
        }
        let delivering = !request.attachOnly
        if let existing = connection.subscriptions[stream.id] {
            guard existing.delivering != delivering else {
                answerError(connection, requestID: request.requestID, .alreadySubscribed, "stream '\(request.stream)' is already \(delivering ? "subscribed" : "attached") on this connection")
                return
            }
            leave(connection, streamID: stream.id)
        } else if connection.subscriptions.count >= configuration.maxSubscriptionsPerConnection {
            answerError(connection, requestID: request.requestID, .tooManySubscriptions, "a connection may hold at most \(configuration.maxSubscriptionsPerConnection) streams")
            return
        }
        guard let nextSequence = join(connection, stream: stream, delivering: delivering) else {
            answerError(connection, requestID: request.requestID, .streamNotFound, "stream '\(request.stream)' not found")
            return
        }
        sendControl(
            connection,
            .subscribed(
                .init(
                    requestID: request.requestID, streamID: stream.id, sidPrefix: stream.sidPrefix,
                    nextSequence: nextSequence, streamSid: stream.sid, uniqueName: stream.uniqueName ?? "",
                    attachOnly: request.attachOnly)))
    }

    private func unsubscribe(_ connection: Connection, requestID: UInt32, streamID: UInt32) {
        guard connection.subscriptions[streamID] != nil else {
            answerError(connection, requestID: requestID, .notSubscribed, "stream \(streamID) is not subscribed or attached on this connection")
            return
        }
        sendDropNotices(connection, streamID: streamID)
        leave(connection, streamID: streamID)
        sendControl(connection, .unsubscribed(requestID: requestID, streamID: streamID))
    }

    // MARK: Answers

    /// A request-level error: the connection stays open.
    func answerError(_ connection: Connection, requestID: UInt32, _ code: ErrorCode, _ message: String) {
        counters.recordRejected(code)
        sendControl(connection, .error(.init(requestID: requestID, code: code, message: message)))
    }

    /// A fatal error: send it, stop reading, close once flushed (or after `fatalCloseGrace`).
    ///
    /// The state moves to `closing` before the ERROR is written: that write may find the peer
    /// gone and close the connection, and nothing after it may move a closed connection back
    /// (that once closed the fd twice and counted the close twice, disabling `--max-connections`).
    func fail(_ connection: Connection, requestID: UInt32, _ code: ErrorCode, _ message: String) {
        guard connection.state == .open || connection.state == .awaitingHello else { return }
        connection.state = .closing
        connection.closingSince = Clock.milliseconds()
        connection.closeReason = "\(code.name): \(message)"
        leaveAll(connection)
        sendControl(connection, .error(.init(requestID: requestID, code: code, message: message, fatal: true)))
        if connection.state == .closing { flush(connection) }
    }

    /// Sends a control frame (anything but MESSAGE): straight to the socket when nothing is
    /// queued before it (so a connection that only ever got WELCOME and SUBSCRIBED never
    /// allocates an out-buffer), else queued. Queued control frames may exceed the message limit
    /// up to the hard limit; a client that lets even those pile up is closed.
    func sendControl(_ connection: Connection, _ frame: Frame) {
        guard connection.state != .closed else { return }
        var bytes: [UInt8] = []
        frame.encode(into: &bytes)
        var sent = 0
        if connection.outbound.isEmpty && connection.writable {
            let written = bytes.withUnsafeBytes { write(connection.fd, $0.baseAddress, $0.count) }
            if written == bytes.count {
                connection.bytesWritten += UInt64(written)
                counters.bytesOut.add(UInt64(written), ordering: .relaxed)
                if connection.state == .closing { flush(connection) }
                return
            }
            if written > 0 {
                sent = written
            } else if errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR {
                closeNow(connection, reason: "write failed: \(String(cString: strerror(errno)))")
                return
            }
            connection.writable = written < 0 && errno == EINTR
        }
        let appended = bytes[sent...].withUnsafeBytes { connection.outbound.append($0) }
        guard appended else {
            closeNow(connection, reason: "out-buffer hard limit reached with control frames pending")
            return
        }
        queueFlush(connection)
    }
}
