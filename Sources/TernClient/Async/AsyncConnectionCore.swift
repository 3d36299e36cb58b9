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
    var channel: (any Channel)?
    var isOpen = false
    var everOpened = false
    /// A socket opened since the last failure: the reconnect attempts start again from one.
    var openedSinceFailure = false
    var closing = false
    var terminal: (any Error)?
    var nextRequestID: UInt32 = 0
    var pending: [UInt32: Pending] = [:]
    var subscriptions: [SubscriptionState] = []
    var routes: [UInt32: SubscriptionState] = [:]
    /// Lanes (version 3, cluster) by lane id: their subscription and sid prefix.
    var laneRoutes: [UInt32: (SubscriptionState, SidPrefix)] = [:]
    /// Streams attached for publishing on the current socket, by the name used.
    var attached: [String: UInt32] = [:]
    var openWaiters: [UInt64: CheckedContinuation<Void, any Error>] = [:]
    var nextWaiterID: UInt64 = 0
    var nextSubscriptionKey = 0
    /// Reading the socket is paused: a subscription holds more than `maxPending` events.
    var readingPaused = false
    /// SUBSCRIBEs whose caller gave up waiting: a late SUBSCRIBED is undone with UNSUBSCRIBE.
    var abandoned: Set<UInt32> = []
    /// Shared-memory subscriptions, each on a connection and thread of its own: they end with
    /// this connection.
    var mappedReaders: [ObjectIdentifier: MappedSubscriptionThread] = [:]

    enum Pending {
        case request(CheckedContinuation<Frame, any Error>)
        case subscribe(String, CheckedContinuation<TernSubscription, any Error>)
        /// A subscription restored after a reconnect, with RESUME (true) or SUBSCRIBE.
        case restore(SubscriptionState, resuming: Bool)
    }

    /// One subscription's routing and position; touched only inside the actor.
    final class SubscriptionState {
        let key: Int
        let name: String
        /// Events yielded and not yet taken by the iterator (counted in batches, see `taken`).
        var buffered = 0
        let continuation: AsyncThrowingStream<SubscriptionEvent, any Error>.Continuation
        var streamID: UInt32
        var streamSid: String
        var position: StreamPosition
        /// Set between a RESUME's SUBSCRIBED and its RESUMED.
        var resumedAfter: UInt64?

        init(
            key: Int,
            name: String,
            continuation: AsyncThrowingStream<SubscriptionEvent, any Error>.Continuation,
            subscribed: Frame.Subscribed
        ) {
            self.key = key
            self.name = name
            self.continuation = continuation
            streamID = subscribed.streamID
            streamSid = subscribed.streamSid
            position = StreamPosition(subscribed)
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
            // Attempts count from the last connection that opened (protocol.md §7.5).
            if openedSinceFailure { failures = 0 }
            openedSinceFailure = false
            failures += 1
            if !everOpened || !client.reconnect.allowsAttempt(failures, after: error) {
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
    func session() async throws {
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

    func connect(
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

    func opened(_ welcome: Frame.Welcome) {
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
                subscription.resumedAfter = subscription.position.reached
                send(
                    .resume(
                        .init(
                            requestID: id,
                            sidPrefix: subscription.position.sidPrefix,
                            afterSequence: subscription.position.reached,
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
        openedSinceFailure = true
        let waiters = openWaiters
        openWaiters = [:]
        for waiter in waiters.values { waiter.resume() }
    }

    func dropSession(_ error: any Error) {
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

    func finishAll(_ error: (any Error)?) {
        closing = true
        terminal = error ?? TernClientError.connectionClosed("the connection is closed")
        for subscription in subscriptions { subscription.continuation.finish(throwing: error) }
        subscriptions = []
        routes = [:]
        laneRoutes = [:]
        for reader in mappedReaders.values { reader.stop(throwing: error) }
        mappedReaders = [:]
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

    func expireWaiter(_ id: UInt64) {
        openWaiters.removeValue(forKey: id)?.resume(
            throwing: TernClientError.timedOut("not connected within \(client.requestTimeout)")
        )
    }

    /// Fails request `id` if it is still unanswered after the request timeout (an event-loop
    /// timer, no task per request).
    func armTimeout(_ id: UInt32) {
        guard let channel else { return }
        let nanoseconds =
            client.requestTimeout.components.seconds * 1_000_000_000
            + client.requestTimeout.components.attoseconds / 1_000_000_000
        channel.eventLoop.scheduleTask(in: .nanoseconds(nanoseconds)) { [weak self] in
            Task { await self?.expire(id) }
        }
    }

    func expire(_ id: UInt32) {
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
