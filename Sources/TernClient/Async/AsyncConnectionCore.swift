import NIOCore
import NIOPosix
import TernWire

/// The state behind a `TernAsyncConnection`: one socket at a time (a NIO channel), requests
/// matched to answers, subscriptions routed by stream id, reconnect and resume. An actor: frames
/// from the channel and calls from tasks are handled one at a time, and nothing here blocks.
actor AsyncConnectionCore {
    let client: TernAsyncClient
    private(set) var version: UInt16 = 1
    private(set) var reconnects = 0
    private var channel: (any Channel)?
    private var isOpen = false
    private var everOpened = false
    private var closing = false
    private var terminal: (any Error)?
    private var nextRequestID: UInt32 = 0
    private var pending: [UInt32: Pending] = [:]
    private var subscriptions: [SubscriptionState] = []
    private var routes: [UInt32: SubscriptionState] = [:]
    /// Lanes (version 3, cluster) by lane id: their subscription and sid prefix.
    private var laneRoutes: [UInt32: (SubscriptionState, SidPrefix)] = [:]
    /// Streams attached for publishing on the current socket, by the name used.
    private var attached: [String: UInt32] = [:]
    private var openWaiters: [UInt64: CheckedContinuation<Void, any Error>] = [:]
    private var nextWaiterID: UInt64 = 0
    private var nextSubscriptionKey = 0
    /// Reading the socket is paused: a subscription holds more than `maxPending` events.
    private var readingPaused = false
    /// SUBSCRIBEs whose caller gave up waiting: a late SUBSCRIBED is undone with UNSUBSCRIBE.
    private var abandoned: Set<UInt32> = []

    private enum Pending {
        case request(CheckedContinuation<Frame, any Error>)
        case subscribe(String, CheckedContinuation<TernSubscription, any Error>)
        /// A subscription restored after a reconnect, with RESUME (true) or SUBSCRIBE.
        case restore(SubscriptionState, resuming: Bool)
    }

    /// One subscription's routing and position; touched only inside the actor.
    private final class SubscriptionState {
        let key: Int
        let name: String
        /// Events yielded and not yet taken by the iterator (counted in batches, see `taken`).
        var buffered = 0
        let continuation: AsyncThrowingStream<SubscriptionEvent, any Error>.Continuation
        var streamID: UInt32 = 0
        var sidPrefix = SidPrefix(value: 0)
        var streamSid = ""
        var nextSequence: UInt64 = 1
        var lastSequence: UInt64 = 0
        /// Set between a RESUME's SUBSCRIBED and its RESUMED.
        var resumedAfter: UInt64?
        /// The sequence a resume continues after.
        var position: UInt64 { lastSequence > 0 ? lastSequence : nextSequence - 1 }

        init(key: Int, name: String, continuation: AsyncThrowingStream<SubscriptionEvent, any Error>.Continuation) {
            self.key = key
            self.name = name
            self.continuation = continuation
        }
    }

    init(client: TernAsyncClient) { self.client = client }

    // MARK: Lifetime

    /// Connects, serves, reconnects; returns when closed or cancelled, throws when it gives up.
    func run() async throws {
        var failures = 0
        while true {
            var error: any Error = TernClientError.connectionClosed("the server closed the connection")
            do { try await session() } catch let thrown { error = thrown }
            dropSession(error)
            if closing || Task.isCancelled {
                finishAll(nil)
                return
            }
            failures = everOpened && failures == 0 ? 1 : failures + 1
            let permanent =
                (error as? TernClientError)?.errorCode.map { [.authFailed, .unsupportedVersion].contains($0) } ?? false
            let exhausted = client.reconnect.maxAttempts.map { failures > $0 } ?? false
            if !everOpened || permanent || !client.reconnect.enabled || exhausted {
                finishAll(error)
                throw error
            }
            do { try await Task.sleep(for: client.reconnect.delay(attempt: failures)) } catch {
                finishAll(nil)
                return
            }
        }
    }

    /// One socket: connect, HELLO, restore subscriptions, then handle frames until it closes.
    private func session() async throws {
        let (frames, sink) = AsyncThrowingStream<Frame, any Error>.makeStream()
        let channel = try await connect(forwardingTo: sink)
        self.channel = channel
        defer { channel.close(promise: nil) }
        send(
            .hello(
                .init(
                    minVersion: WireLimits.minimumProtocolVersion,
                    maxVersion: client.maxVersion,
                    clientName: client.clientName,
                    token: client.token
                )
            )
        )
        var iterator = frames.makeAsyncIterator()
        switch try await iterator.next() {
        case .welcome(let welcome)?: opened(welcome)
        case .error(let error)?: throw TernClientError.server(error)
        case let other?: throw TernClientError.protocolViolation("expected WELCOME, got \(other.type)")
        case nil: throw TernClientError.connectionClosed("no WELCOME")
        }
        while let frame = try await iterator.next() {
            dispatch(frame)
            if case .error(let error) = frame, error.fatal { throw TernClientError.server(error) }
        }
    }

    private func connect(
        forwardingTo sink: AsyncThrowingStream<Frame, any Error>.Continuation
    ) async throws -> any Channel {
        let address: SocketAddress
        switch client.endpoint {
        case .tcp(let host, let port): address = try SocketAddress.makeAddressResolvingHost(host, port: Int(port))
        case .unix(let path): address = try SocketAddress(unixDomainSocketPath: path)
        }
        let milliseconds =
            client.connectTimeout.components.seconds * 1000 + client.connectTimeout.components.attoseconds
            / 1_000_000_000_000_000
        var bootstrap = ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.milliseconds(milliseconds))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandlers(
                        ByteToMessageHandler(ServerFrameDecoder()),
                        FrameForwarder(sink: sink)
                    )
                }
            }
        if case .tcp = client.endpoint { bootstrap = bootstrap.channelOption(.tcpOption(.tcp_nodelay), value: 1) }
        do {
            return try await bootstrap.connect(to: address).get()
        } catch {
            throw TernClientError.connectionClosed("cannot connect to \(client.endpoint): \(error)")
        }
    }

    private func opened(_ welcome: Frame.Welcome) {
        version = welcome.version
        attached = [:]
        routes = [:]
        laneRoutes = [:]
        if everOpened { reconnects += 1 }
        for subscription in subscriptions {
            let id = newRequestID()
            let resuming = version >= 2
            pending[id] = .restore(subscription, resuming: resuming)
            armTimeout(id)
            if resuming {
                subscription.resumedAfter = subscription.position
                send(
                    .resume(
                        .init(
                            requestID: id,
                            sidPrefix: subscription.sidPrefix,
                            afterSequence: subscription.position,
                            stream: subscription.name
                        )
                    )
                )
            } else {
                send(.subscribe(.init(requestID: id, stream: subscription.name)))
            }
        }
        isOpen = true
        everOpened = true
        let waiters = openWaiters
        openWaiters = [:]
        for waiter in waiters.values { waiter.resume() }
    }

    private func dropSession(_ error: any Error) {
        isOpen = false
        readingPaused = false  // a new socket reads; the next delivery pauses it again if need be
        channel = nil
        let failed = pending
        pending = [:]
        for entry in failed.values {
            switch entry {
            case .request(let continuation): continuation.resume(throwing: error)
            case .subscribe(_, let continuation): continuation.resume(throwing: error)
            case .restore: break  // restored again on the next socket
            }
        }
    }

    private func finishAll(_ error: (any Error)?) {
        closing = true
        terminal = error ?? TernClientError.connectionClosed("the connection is closed")
        for subscription in subscriptions { subscription.continuation.finish(throwing: error) }
        subscriptions = []
        routes = [:]
        laneRoutes = [:]
        let waiters = openWaiters
        openWaiters = [:]
        for waiter in waiters.values { waiter.resume(throwing: terminal!) }
    }

    /// Ends the connection: the socket closes and every subscription finishes.
    func close() {
        closing = true
        channel?.close(promise: nil)
        finishAll(nil)
    }

    func waitUntilOpen() async throws {
        if isOpen { return }
        if let terminal { throw terminal }
        nextWaiterID += 1
        let id = nextWaiterID
        let timeout = client.requestTimeout
        // Reconnecting is rare and slow: a sleeping task per waiter is cheap enough.
        Task { [weak self] in
            try? await Task.sleep(for: timeout)
            await self?.expireWaiter(id)
        }
        try await withCheckedThrowingContinuation { openWaiters[id] = $0 }
    }

    private func expireWaiter(_ id: UInt64) {
        openWaiters.removeValue(forKey: id)?.resume(
            throwing: TernClientError.timedOut("not connected within \(client.requestTimeout)")
        )
    }

    /// Fails request `id` if it is still unanswered after the request timeout (an event-loop
    /// timer, no task per request).
    private func armTimeout(_ id: UInt32) {
        guard let channel else { return }
        let nanoseconds =
            client.requestTimeout.components.seconds * 1_000_000_000
            + client.requestTimeout.components.attoseconds / 1_000_000_000
        channel.eventLoop.scheduleTask(in: .nanoseconds(nanoseconds)) { [weak self] in
            Task { await self?.expire(id) }
        }
    }

    private func expire(_ id: UInt32) {
        guard let entry = pending.removeValue(forKey: id) else { return }
        let error = TernClientError.timedOut("no answer to request \(id) within \(client.requestTimeout)")
        switch entry {
        case .request(let continuation): continuation.resume(throwing: error)
        case .subscribe(_, let continuation):
            abandoned.insert(id)
            continuation.resume(throwing: error)
        case .restore:
            channel?.close(promise: nil)  // a server that does not answer: reconnect
        }
    }

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

    private func request(_ make: (UInt32) -> Frame) async throws -> Frame {
        try await waitUntilOpen()
        let id = newRequestID()
        let frame = make(id)
        return try await withCheckedThrowingContinuation { continuation in
            pending[id] = .request(continuation)
            send(frame)
            armTimeout(id)
        }
    }

    private func newRequestID() -> UInt32 {
        nextRequestID = nextRequestID == UInt32.max ? 1 : nextRequestID + 1
        return nextRequestID
    }

    private func send(_ frame: Frame) {
        guard let channel else { return }
        channel.writeAndFlush(channel.allocator.buffer(bytes: frame.encoded()), promise: nil)
    }

    // MARK: Frames from the server

    private func dispatch(_ frame: Frame) {
        switch frame {
        case .message(let message):
            if let (subscription, prefix) = laneRoutes[message.streamID] {
                // A lane (cluster, version 3): another node's messages, with that node's sids.
                deliver(subscription, .message(message, messageSid: prefix.messageSid(sequence: message.sequence)))
                return
            }
            guard let subscription = routes[message.streamID] else { return }
            subscription.lastSequence = message.sequence
            deliver(
                subscription,
                .message(message, messageSid: subscription.sidPrefix.messageSid(sequence: message.sequence))
            )
        case .lane(let lane):
            guard let subscription = routes[lane.streamID] else { return }
            laneRoutes[lane.laneID] = (subscription, lane.sidPrefix)
        case .dropped(let dropped):
            guard let subscription = routes[dropped.streamID] ?? laneRoutes[dropped.streamID]?.0 else { return }
            deliver(subscription, .dropped(count: dropped.count, reason: dropped.reason, rawReason: dropped.rawReason))
        case .subscribed(let subscribed):
            answer(subscribed.requestID, frame)
        case .resumed(let resumed):
            guard let subscription = routes[resumed.streamID], let after = subscription.resumedAfter else { return }
            subscription.resumedAfter = nil
            let restarted = resumed.outcome != .continued
            if restarted { subscription.lastSequence = 0 }
            deliver(
                subscription,
                .resubscribed(
                    .init(
                        lastSequence: after,
                        nextSequence: subscription.nextSequence,
                        serverRestarted: restarted,
                        resumed: true,
                        missed: restarted ? nil : 0
                    )
                )
            )
        case .unsubscribed(let requestID, _):
            answer(requestID, frame)
        case .published(let published):
            answer(published.requestID, frame)
        case .streamEnded(let streamID, let reason):
            // SHUTDOWN: the server stops, not the stream; the reconnect restores it.
            if reason == .shutdown && client.reconnect.enabled && !closing { return }
            attached = attached.filter { $0.value != streamID }
            guard let subscription = routes.removeValue(forKey: streamID) else { return }
            laneRoutes = laneRoutes.filter { $0.value.0 !== subscription }
            subscriptions.removeAll { $0 === subscription }
            subscription.continuation.finish(
                throwing: TernClientError.streamEnded(streamSid: subscription.streamSid, reason: reason)
            )
        case .error(let error):
            if !error.fatal { answer(error.requestID, frame) }
        case .ping(let opaque):
            send(.pong(opaque))
        default:
            break
        }
    }

    /// Hands an event to a subscription's iterator. Past `maxPending` events not yet taken the
    /// connection stops reading its socket, so the server, not this process, holds (and when
    /// its out-buffer is full, drops and counts) what a slow consumer cannot take.
    private func deliver(_ subscription: SubscriptionState, _ event: SubscriptionEvent) {
        subscription.continuation.yield(event)
        subscription.buffered += 1
        if subscription.buffered > client.maxPending && !readingPaused {
            readingPaused = true
            _ = channel?.setOption(ChannelOptions.autoRead, value: false)
        }
    }

    /// The iterator of subscription `key` took `count` events.
    func taken(_ key: Int, _ count: Int) {
        guard let subscription = subscriptions.first(where: { $0.key == key }) else { return }
        subscription.buffered = max(0, subscription.buffered - count)
        resumeReadingIfDrained()
    }

    /// Subscription `key`'s stream terminated (its consuming task was cancelled, or it finished):
    /// leave the stream on the server too.
    func released(_ key: Int) {
        guard let subscription = subscriptions.first(where: { $0.key == key }) else { return }
        subscriptions.removeAll { $0 === subscription }
        if routes[subscription.streamID] === subscription {
            routes[subscription.streamID] = nil
            if isOpen { send(.unsubscribe(requestID: 0, streamID: subscription.streamID)) }
        }
        resumeReadingIfDrained()
    }

    private func resumeReadingIfDrained() {
        guard readingPaused, subscriptions.allSatisfy({ $0.buffered <= client.maxPending / 2 }) else { return }
        readingPaused = false
        _ = channel?.setOption(ChannelOptions.autoRead, value: true)
    }

    private func answer(_ requestID: UInt32, _ frame: Frame) {
        guard let entry = pending.removeValue(forKey: requestID) else {
            if abandoned.remove(requestID) != nil, case .subscribed(let late) = frame {
                send(.unsubscribe(requestID: 0, streamID: late.streamID))  // nobody wants it any more
            }
            return
        }
        switch (entry, frame) {
        case (.request(let continuation), .error(let error)):
            continuation.resume(throwing: TernClientError.server(error))
        case (.request(let continuation), _):
            continuation.resume(returning: frame)
        case (.subscribe(let name, let continuation), .subscribed(let subscribed)):
            // Routed now, before the frames right behind the answer are handled.
            let (events, sink) = AsyncThrowingStream<SubscriptionEvent, any Error>.makeStream()
            nextSubscriptionKey += 1
            let key = nextSubscriptionKey
            let subscription = SubscriptionState(key: key, name: name, continuation: sink)
            sink.onTermination = { [weak self] _ in
                Task { await self?.released(key) }
            }
            subscription.streamID = subscribed.streamID
            subscription.sidPrefix = subscribed.sidPrefix
            subscription.streamSid = subscribed.streamSid
            subscription.nextSequence = subscribed.nextSequence
            subscriptions.append(subscription)
            routes[subscribed.streamID] = subscription
            continuation.resume(
                returning: TernSubscription(
                    streamSid: subscribed.streamSid,
                    uniqueName: subscribed.uniqueName,
                    streamID: subscribed.streamID,
                    nextSequence: subscribed.nextSequence,
                    events: events,
                    core: self,
                    key: key
                )
            )
        case (.subscribe(_, let continuation), .error(let error)):
            continuation.resume(throwing: TernClientError.server(error))
        case (.restore(let subscription, let resuming), .subscribed(let subscribed)):
            let since = subscription.position
            let restarted = subscribed.sidPrefix != subscription.sidPrefix
            subscription.streamID = subscribed.streamID
            subscription.sidPrefix = subscribed.sidPrefix
            subscription.streamSid = subscribed.streamSid
            subscription.nextSequence = subscribed.nextSequence
            routes[subscribed.streamID] = subscription
            if !resuming {
                if restarted { subscription.lastSequence = 0 }
                let missed = restarted ? nil : subscribed.nextSequence - min(since + 1, subscribed.nextSequence)
                deliver(
                    subscription,
                    .resubscribed(
                        .init(
                            lastSequence: since,
                            nextSequence: subscribed.nextSequence,
                            serverRestarted: restarted,
                            resumed: false,
                            missed: missed
                        )
                    )
                )
            }
        case (.restore(let subscription, _), .error(let error)):
            subscriptions.removeAll { $0 === subscription }
            subscription.continuation.finish(throwing: TernClientError.server(error))
        default:
            break
        }
    }
}

/// Hands decoded frames from the event loop to the connection's task; the end of the socket
/// (or an error) ends the stream.
private final class FrameForwarder: ChannelInboundHandler, Sendable {
    typealias InboundIn = Frame
    let sink: AsyncThrowingStream<Frame, any Error>.Continuation

    init(sink: AsyncThrowingStream<Frame, any Error>.Continuation) { self.sink = sink }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        sink.yield(unwrapInboundIn(data))
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        sink.finish(throwing: error)
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        sink.finish(throwing: TernClientError.connectionClosed("the server closed the connection"))
        context.fireChannelInactive()
    }
}
