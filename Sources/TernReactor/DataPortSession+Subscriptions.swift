import TernCore
import TernWire

extension DataPortSession {
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
}
