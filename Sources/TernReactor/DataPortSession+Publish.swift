import TernCore
import TernWire

extension DataPortSession {
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
}
