import NIOCore
import TernWire

extension AsyncConnectionCore {
    // MARK: Requests

    func subscribe(_ name: String) async throws -> TernSubscription {
        try await waitUntilOpen()
        let id = newRequestID()
        return try await withCheckedThrowingContinuation { continuation in
            pending[id] = .subscribe(name, continuation)
            send(.subscribe(.init(requestID: id, stream: name)))
            armTimeout(id)
        }
    }

    func publish(_ name: String, payload: [UInt8], ack: Bool) async throws -> UInt64? {
        try await waitUntilOpen()
        let streamID: UInt32
        if let subscribed = subscriptions.first(where: { $0.name == name && routes[$0.streamID] === $0 }) {
            streamID = subscribed.streamID  // attaching would switch it to publish-only
        } else if let id = attached[name] {
            streamID = id
        } else {
            guard
                case .subscribed(let answer) = try await request({
                    .subscribe(.init(requestID: $0, stream: name, attachOnly: true))
                })
            else { throw TernClientError.protocolViolation("SUBSCRIBE answered without SUBSCRIBED") }
            attached[name] = answer.streamID
            streamID = answer.streamID
        }
        guard ack else {
            send(.publish(.init(requestID: 0, streamID: streamID, payload: payload)))
            return nil
        }
        guard
            case .published(let published) = try await request({
                .publish(.init(requestID: $0, streamID: streamID, payload: payload, ack: true))
            })
        else { throw TernClientError.protocolViolation("PUBLISH answered without PUBLISHED") }
        return published.sequence
    }

    func request(_ make: (UInt32) -> Frame) async throws -> Frame {
        try await waitUntilOpen()
        let id = newRequestID()
        let frame = make(id)
        return try await withCheckedThrowingContinuation { continuation in
            pending[id] = .request(continuation)
            send(frame)
            armTimeout(id)
        }
    }

    func newRequestID() -> UInt32 {
        nextRequestID = nextRequestID == UInt32.max ? 1 : nextRequestID + 1
        return nextRequestID
    }

    func send(_ frame: Frame) {
        guard let channel else { return }
        channel.writeAndFlush(channel.allocator.buffer(bytes: frame.encoded()), promise: nil)
    }

    // MARK: Subscriptions' lifetime

    /// The iterator of subscription `key` took `count` events.
    func taken(_ key: Int, _ count: Int) {
        guard let subscription = subscriptions.first(where: { $0.key == key }) else { return }
        subscription.buffered = max(0, subscription.buffered - count)
        resumeReadingIfDrained()
    }

    /// Subscription `key`'s stream terminated (its consuming task was cancelled, or it finished):
    /// leave the stream on the server too.
    func released(_ key: Int) {
        guard let (subscription, routed) = forget(key) else { return }
        if isOpen && routed { send(.unsubscribe(requestID: 0, streamID: subscription.streamID)) }
    }

    /// Leaves subscription `key`'s stream and waits for UNSUBSCRIBED; its iteration ends (nil)
    /// at once, and nothing of it is restored after a reconnect. While the connection is down
    /// there is nothing to leave on the server.
    func unsubscribe(_ key: Int) async throws {
        guard let (subscription, routed) = forget(key) else { return }
        subscription.continuation.finish()
        guard isOpen && routed else { return }
        let streamID = subscription.streamID
        let answer = try await request { .unsubscribe(requestID: $0, streamID: streamID) }
        guard case .unsubscribed = answer else {
            throw TernClientError.protocolViolation("UNSUBSCRIBE answered without UNSUBSCRIBED")
        }
    }

    /// Stops routing subscription `key` (its lanes too). Returns it if it was live, and whether
    /// the current socket had it subscribed (not: a restore is still on its way).
    private func forget(_ key: Int) -> (SubscriptionState, routed: Bool)? {
        guard let subscription = subscriptions.first(where: { $0.key == key }) else { return nil }
        subscriptions.removeAll { $0 === subscription }
        let routed = routes[subscription.streamID] === subscription
        if routed { routes[subscription.streamID] = nil }
        laneRoutes = laneRoutes.filter { $0.value.0 !== subscription }
        resumeReadingIfDrained()
        return (subscription, routed)
    }

    /// Keeps a shared-memory subscription until it ends, or ends it now if this connection
    /// already has; then starts its thread (so its `disown` cannot come first).
    func adopt(_ reader: MappedSubscriptionThread) {
        if closing {
            reader.stop(throwing: terminal)
        } else {
            mappedReaders[ObjectIdentifier(reader)] = reader
        }
        reader.start()
    }

    /// A shared-memory subscription ended.
    func disown(_ reader: MappedSubscriptionThread) {
        mappedReaders[ObjectIdentifier(reader)] = nil
    }
}
