import TernCore
import TernWire

extension DataPortSession {
    // MARK: Publish (the hot request)

    /// Validates one PUBLISH and adds it to `run`, the consecutive PUBLISH frames to one stream;
    /// the run is appended to the ring under one lock when it ends (`appendRun`). A request that
    /// fails is answered after the run before it is flushed, so answers keep request order.
    ///
    /// `run` is a local of the caller, not thread state: inout locals need no runtime
    /// exclusivity checks, and this is the one path every message takes.
    func collectPublish(_ connection: Connection, _ request: PublishView, into run: inout PublishRun) {
        if run.connection !== connection || run.streamID != request.streamID {
            appendRun(&run)
            guard let stream = publishTarget(connection, streamID: request.streamID) else {
                if let subscription = connection.subscriptions[request.streamID], subscription.laneOf == 0 {
                    answerError(
                        connection,
                        requestID: request.requestID,
                        .publishNotGranted,
                        "the connection's Access Token does not grant publishing to stream \(request.streamID)"
                    )
                } else {
                    answerError(
                        connection,
                        requestID: request.requestID,
                        .notSubscribed,
                        "stream \(request.streamID) is not subscribed or attached on this connection"
                    )
                }
                return
            }
            run.bind(connection: connection, stream: stream)
        }
        do {
            try broker.validate(payload: request.payload.bytes)
        } catch {
            appendRun(&run)
            answerError(connection, requestID: request.requestID, error.wireCode, error.message)
            return
        }
        run.append(request)
        if run.isFull { appendRun(&run) }
    }

    /// Appends the collected run, answers its acknowledgements, and publishes singly what the
    /// stream's rate limit refused (each gets its own answer). Must run before the read buffer
    /// the payloads point into is reused. The run stays bound to its stream and connection.
    func appendRun(_ run: inout PublishRun) {
        guard !run.payloads.isEmpty, let stream = run.stream, let connection = run.connection else { return }
        defer { run.clearMessages() }
        let outcome = Result { () throws(BrokerError) in
            try broker.publish(to: stream, validatedRun: run.payloads, writer: ringWriter)
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
        if accepted > 0 { plane.turn.note(stream, bytes: run.payloads.frameBytes(first: accepted)) }
        if accepted == run.payloads.count && !run.anyAck { return }
        for (offset, request) in run.requests.enumerated() {
            // An answer's write may have closed the connection: nothing more for or from it.
            guard connection.state == .open else { return }
            if offset < accepted {
                guard request.ack else { continue }
                plane.sendControl(
                    connection,
                    .published(
                        .init(
                            requestID: request.requestID,
                            streamID: stream.id,
                            sidPrefix: stream.sidPrefix,
                            sequence: firstSequence + UInt64(offset)
                        )
                    )
                )
            } else {
                run.payloads.withPayload(offset) { payload in
                    publishSingly(connection, stream, requestID: request.requestID, ack: request.ack, payload: payload)
                }
            }
        }
    }

    /// The stream a connection publishes to by id: the last one it used, else one of its own.
    private func publishTarget(_ connection: Connection, streamID: UInt32) -> BrokerStream? {
        if let cached = connection.lastPublishTarget, cached.id == streamID { return cached }
        guard let subscription = connection.subscriptions[streamID], subscription.mayPublish, subscription.laneOf == 0
        else { return nil }
        connection.lastPublishTarget = subscription.stream
        return subscription.stream
    }

    private func publishSingly(
        _ connection: Connection,
        _ stream: BrokerStream,
        requestID: UInt32,
        ack: Bool,
        payload: RawSpan
    ) {
        let sequence: UInt64
        do {
            sequence = try broker.publish(to: stream, payload: payload, wake: false)
        } catch {
            answerError(connection, requestID: requestID, error.wireCode, error.message)
            return
        }
        plane.turn.note(stream, bytes: MessageFrame.size(payloadCount: payload.byteCount))
        if ack {
            plane.sendControl(
                connection,
                .published(
                    .init(requestID: requestID, streamID: stream.id, sidPrefix: stream.sidPrefix, sequence: sequence)
                )
            )
        }
    }

    // MARK: Subscribe / unsubscribe

    func subscribe(_ connection: Connection, _ request: Frame.Subscribe) {
        let delivering = !request.attachOnly
        guard
            let (stream, mayPublish) = subscriptionTarget(
                connection,
                requestID: request.requestID,
                name: request.stream,
                delivering: delivering
            )
        else { return }
        joinAndAnswer(
            connection,
            stream,
            requestID: request.requestID,
            name: request.stream,
            delivering: delivering,
            mayPublish: mayPublish
        )
    }

    /// Joins the stream's fan-out and answers SUBSCRIBED: `next_sequence` is the stream's next, or
    /// the one after `resumingAfter` for a RESUME. False after answering STREAM_NOT_FOUND (the
    /// stream ended since it was looked up).
    @discardableResult
    private func joinAndAnswer(
        _ connection: Connection,
        _ stream: BrokerStream,
        requestID: UInt32,
        name: String,
        delivering: Bool,
        mayPublish: Bool,
        resumingAfter after: UInt64? = nil
    ) -> Bool {
        guard
            let nextSequence = plane.fanOut.join(
                connection,
                stream: stream,
                delivering: delivering,
                caughtUpPast: after
            )
        else {
            answerError(connection, requestID: requestID, .streamNotFound, "stream '\(name)' not found")
            return false
        }
        answerSubscribed(
            connection,
            stream,
            requestID: requestID,
            nextSequence: after.map { $0 + 1 } ?? nextSequence,
            attachOnly: !delivering,
            mayPublish: mayPublish
        )
        if delivering && connection.version >= 3 {
            for lane in stream.currentLanes { plane.fanOut.joinLane(connection, lane: lane, fromStart: false) }
        }
        return true
    }

    /// SUBSCRIBED for a stream the connection has just joined (any mode), after noting whether
    /// its Access Token lets it publish there.
    func answerSubscribed(
        _ connection: Connection,
        _ stream: BrokerStream,
        requestID: UInt32,
        nextSequence: UInt64,
        attachOnly: Bool = false,
        mayPublish: Bool
    ) {
        if !mayPublish { connection.subscriptions[stream.id]?.mayPublish = false }
        plane.sendControl(
            connection,
            .subscribed(
                .init(
                    requestID: requestID,
                    streamID: stream.id,
                    sidPrefix: stream.sidPrefix,
                    nextSequence: nextSequence,
                    streamSid: stream.sid,
                    uniqueName: stream.uniqueName ?? "",
                    attachOnly: attachOnly
                )
            )
        )
    }

    /// The stream a SUBSCRIBE, RESUME or SUBSCRIBE_SHARED names, once the connection may take it
    /// in that mode (leaving its other mode first), and whether the connection's Access Token
    /// lets it publish there; nil after answering the error (section 4.3's order). A mapped
    /// subscription needs the subscribe grant, as a delivering one does.
    func subscriptionTarget(
        _ connection: Connection,
        requestID: UInt32,
        name: String,
        delivering: Bool,
        mapped: Bool = false
    )
        -> (stream: BrokerStream, mayPublish: Bool)?
    {
        let stream: BrokerStream
        var mayPublish = true
        do {
            if let token = connection.accessToken {
                guard
                    let granted = try grantedStream(
                        connection,
                        token,
                        requestID: requestID,
                        name: name,
                        attachOnly: !delivering && !mapped
                    )
                else { return nil }
                (stream, mayPublish) = granted
            } else {
                stream = try broker.stream(named: name)
            }
        } catch {
            // INVALID_STREAM_NAME (empty, or a name over 320 scalars) or STREAM_NOT_FOUND.
            let code = error.wireCode
            answerError(
                connection,
                requestID: requestID,
                code,
                code == .streamNotFound ? "stream '\(name)' not found" : error.message
            )
            return nil
        }
        if let existing = connection.subscriptions[stream.id] {
            guard existing.delivering != (delivering && !mapped) || existing.mapped != mapped else {
                let mode = mapped ? "mapped" : delivering ? "subscribed" : "attached"
                answerError(
                    connection,
                    requestID: requestID,
                    .alreadySubscribed,
                    "stream '\(name)' is already \(mode) on this connection"
                )
                return nil
            }
            plane.fanOut.leave(connection, streamID: stream.id)
        } else if connection.streamCount >= configuration.maxSubscriptionsPerConnection {
            answerError(
                connection,
                requestID: requestID,
                .tooManySubscriptions,
                "a connection may hold at most \(configuration.maxSubscriptionsPerConnection) streams"
            )
            return nil
        }
        return (stream, mayPublish)
    }

    /// RESUME (version 2): subscribe, then replay from the ring what came after the client's
    /// sequence. SUBSCRIBED's `next_sequence` is the first sequence the resume covers, RESUMED
    /// says whether the sequence space is the client's, and the fan-out sends DROPPED for what
    /// the ring no longer holds before the first replayed frame.
    func resume(_ connection: Connection, _ request: Frame.Resume) {
        // Ahead is checked first: it must not cost the connection a subscription it holds.
        if let named = try? broker.stream(
            at: broker.address(of: request.stream, bareNamesIn: connection.accessToken?.serviceSid)
        ), named.sidPrefix == request.sidPrefix {
            // Grants come before RESUME_AHEAD: a token must not learn how far a stream it may not
            // read has got.
            if let token = connection.accessToken,
                grantCheck(
                    connection,
                    token,
                    stream: named,
                    requestID: request.requestID,
                    name: request.stream,
                    attachOnly: false
                ) == nil
            {
                return
            }
            let next = named.nextSequence
            guard request.afterSequence < next else {
                answerError(
                    connection,
                    requestID: request.requestID,
                    .resumeAhead,
                    "sequence \(request.afterSequence) is not yet published on stream '\(request.stream)' (next is \(next))"
                )
                return
            }
        }
        guard
            let (stream, mayPublish) = subscriptionTarget(
                connection,
                requestID: request.requestID,
                name: request.stream,
                delivering: true
            )
        else { return }
        let continued = stream.sidPrefix == request.sidPrefix
        let after = continued ? request.afterSequence : 0
        guard
            joinAndAnswer(
                connection,
                stream,
                requestID: request.requestID,
                name: request.stream,
                delivering: true,
                mayPublish: mayPublish,
                resumingAfter: after
            )
        else { return }
        plane.counters.add(1, to: .resumes)
        plane.sendControl(
            connection,
            .resumed(
                .init(requestID: request.requestID, streamID: stream.id, outcome: continued ? .continued : .restarted)
            )
        )
        plane.fanOut.replay(connection, stream: stream, after: after)
    }

    func unsubscribe(_ connection: Connection, requestID: UInt32, streamID: UInt32) {
        guard let subscription = connection.subscriptions[streamID], subscription.laneOf == 0 else {
            answerError(
                connection,
                requestID: requestID,
                .notSubscribed,
                "stream \(streamID) is not subscribed or attached on this connection"
            )
            return
        }
        for lane in connection.lanes(of: streamID) { plane.fanOut.sendDropNotices(connection, streamID: lane) }
        plane.fanOut.sendDropNotices(connection, streamID: streamID)
        plane.fanOut.leave(connection, streamID: streamID)
        plane.sendControl(connection, .unsubscribed(requestID: requestID, streamID: streamID))
    }

    // MARK: Timers

    /// Handshake timeout, PING and idle timeout, and the closing grace of one connection at `now`.
    /// While the server stops (`stopping`), the shutdown grace bounds the final flush instead.
    func checkTimers(_ connection: Connection, now: Int64, stopping: Bool) {
        switch connection.state {
        case .awaitingHello:
            if now - connection.acceptedAt >= Int64(configuration.handshakeTimeoutMilliseconds) {
                plane.counters.recordRejected(.handshakeTimeout)
                fail(
                    connection,
                    requestID: 0,
                    .handshakeTimeout,
                    "no HELLO within \(configuration.handshakeTimeoutMilliseconds) ms"
                )
            }
        case .open:
            if let token = connection.token, checkToken(connection, deadline: token.deadline, now: now) { return }
            let interval = Int64(configuration.pingIntervalMilliseconds)
            guard interval > 0 else { return }
            if let sentAt = connection.pingSentAt {
                if now - sentAt >= interval {
                    plane.counters.recordRejected(.idleTimeout)
                    fail(connection, requestID: 0, .idleTimeout, "no answer to PING within \(interval) ms")
                }
            } else if now - connection.lastHeard >= interval {
                connection.pingSentAt = now
                plane.sendControl(connection, .ping(UInt64(now)))
            }
        case .closing:
            if !stopping && now - connection.closingSince >= Self.fatalCloseGraceMilliseconds {
                plane.close(connection, reason: connection.closeReason)
            }
        case .closed:
            break
        }
    }

    /// How long a connection closed for a fatal error may take to read its ERROR before it is
    /// closed regardless.
    static let fatalCloseGraceMilliseconds: Int64 = 2_000
}
