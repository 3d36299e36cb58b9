import NIOCore
import NIOPosix
import NIOSSL
import Synchronization

/// A NATS client connection over swift-nio: it connects to the first server of the list that
/// answers, reconnects across the list when the connection drops, and restores its
/// subscriptions each time. Publishes made while disconnected are dropped (the caller is told);
/// requests fail at once.
///
/// All state lives on one event loop; the public methods may be called from any thread.
/// Subscription handlers run on that event loop and must not block it.
public final class NATSConnection: @unchecked Sendable {
    public typealias Handler = @Sendable (NATSMessage) -> Void

    public let options: NATSOptions
    public let eventLoop: any EventLoop
    /// Called on the event loop whenever the connection becomes usable (true) or is lost (false,
    /// with the reason: the server's `-ERR`, a parse error, or the socket's end).
    public let onStateChange: @Sendable (Bool, String) -> Void
    /// Called on the event loop when an attempt fails before the server accepted CONNECT: the
    /// server and why (refused, TLS handshake or certificate, the server's `-ERR`).
    public let onAttemptFailed: @Sendable (NATSServerAddress, String) -> Void
    private let lastFailure = Mutex<String?>(nil)
    private let connectedFlag = Atomic<Bool>(false)
    private let reconnectCount = Atomic<Int>(0)
    private let currentServerIndex = Atomic<Int>(-1)

    // Event-loop state.
    private var channel: (any Channel)?
    private var handshakeDone = false
    private var closed = false
    private var nextServer = 0
    private var attemptsWithoutSuccess = 0
    private var pingsOut = 0
    private var pingTask: RepeatedTask?
    private var nextSid: UInt64 = 1
    private var subscriptions: [UInt64: (subject: String, handler: Handler)] = [:]
    private var requests = RequestMux()
    private var closeReason = ""

    public init(
        options: NATSOptions,
        eventLoop: any EventLoop,
        onAttemptFailed: @escaping @Sendable (NATSServerAddress, String) -> Void = { _, _ in },
        onStateChange: @escaping @Sendable (Bool, String) -> Void = { _, _ in }
    ) {
        self.options = options
        self.eventLoop = eventLoop
        self.onAttemptFailed = onAttemptFailed
        self.onStateChange = onStateChange
    }

    /// Why the last attempt that failed before CONNECT was answered failed, if one did.
    public var lastAttemptFailure: String? { lastFailure.withLock { $0 } }

    private func attemptFailed(_ server: NATSServerAddress, _ reason: String) {
        lastFailure.withLock { $0 = "\(server): \(reason)" }
        onAttemptFailed(server, reason)
    }

    /// True while a server accepted CONNECT and the connection is up.
    public var isConnected: Bool { connectedFlag.load(ordering: .acquiring) }
    /// How many times the connection was re-established after the first.
    public var reconnects: Int { reconnectCount.load(ordering: .relaxed) }
    /// The server in use, or nil while disconnected.
    public var currentServer: NATSServerAddress? {
        let index = currentServerIndex.load(ordering: .relaxed)
        return isConnected && index >= 0 ? options.servers[index] : nil
    }

    /// Starts connecting (and reconnecting, until `close`).
    public func start() {
        eventLoop.execute { self.connectNext() }
    }

    /// Waits until connected or `timeout` passed; true if connected.
    public func waitUntilConnected(timeout: Duration) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while !isConnected {
            if ContinuousClock.now >= deadline { return false }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return true
    }

    /// Closes for good: no more reconnects; pending requests fail.
    public func close() {
        eventLoop.execute {
            self.closed = true
            self.pingTask?.cancel()
            self.requests.failAll(NATSError.closed)
            _ = self.channel?.close()
        }
    }

    // MARK: Publishing and subscribing

    /// Publishes one message; false (on the event loop) if disconnected, so the message was dropped.
    @discardableResult
    public func publish(
        subject: String,
        replyTo: String? = nil,
        headers: NATSHeaders? = nil,
        payload: [UInt8]
    ) -> EventLoopFuture<Bool> {
        eventLoop.submit {
            guard let channel = self.channel, self.handshakeDone else { return false }
            var buffer = channel.allocator.buffer(capacity: payload.count + subject.count + 32)
            NATSCommand.publish(subject: subject, replyTo: replyTo, headers: headers, payload: payload, into: &buffer)
            channel.writeAndFlush(buffer, promise: nil)
            return true
        }
    }

    /// Writes already-encoded publishes (a batch built by the caller); false if disconnected.
    public func writeEncoded(_ buffer: ByteBuffer) -> Bool {
        eventLoop.preconditionInEventLoop()
        guard let channel, handshakeDone else { return false }
        channel.writeAndFlush(buffer, promise: nil)
        return true
    }

    /// Subscribes `subject`; the subscription is restored after every reconnect until
    /// `unsubscribe`. Returns its sid.
    public func subscribe(_ subject: String, handler: @escaping Handler) -> EventLoopFuture<UInt64> {
        eventLoop.submit {
            let sid = self.nextSid
            self.nextSid += 1
            self.subscriptions[sid] = (subject, handler)
            if let channel = self.channel, self.handshakeDone {
                var buffer = channel.allocator.buffer(capacity: subject.count + 32)
                NATSCommand.subscribe(subject: subject, sid: sid, into: &buffer)
                channel.writeAndFlush(buffer, promise: nil)
            }
            return sid
        }
    }

    public func unsubscribe(_ sid: UInt64) {
        eventLoop.execute {
            guard self.subscriptions.removeValue(forKey: sid) != nil else { return }
            if let channel = self.channel, self.handshakeDone {
                var buffer = channel.allocator.buffer(capacity: 32)
                NATSCommand.unsubscribe(sid: sid, into: &buffer)
                channel.writeAndFlush(buffer, promise: nil)
            }
        }
    }

    /// Publishes with a reply subject and waits for the first answer.
    public func request(
        subject: String,
        headers: NATSHeaders? = nil,
        payload: [UInt8],
        timeout: TimeAmount = .seconds(2)
    ) -> EventLoopFuture<NATSMessage> {
        eventLoop.flatSubmit {
            guard let channel = self.channel, self.handshakeDone else {
                return self.eventLoop.makeFailedFuture(NATSError.notConnected)
            }
            let promise = self.eventLoop.makePromise(of: NATSMessage.self)
            let token = self.requests.add(promise)
            let timer = self.eventLoop.scheduleTask(in: timeout) {
                self.requests.fail(token, NATSError.timeout(subject))
            }
            promise.futureResult.whenComplete { _ in timer.cancel() }
            var buffer = channel.allocator.buffer(capacity: payload.count + subject.count + 64)
            NATSCommand.publish(
                subject: subject,
                replyTo: self.requests.replySubject(token),
                headers: headers,
                payload: payload,
                into: &buffer
            )
            channel.writeAndFlush(buffer, promise: nil)
            return promise.futureResult
        }
    }

    /// A subject no one else uses, for a reply or a push consumer's deliveries.
    public func newInbox() -> String { "_INBOX." + RequestMux.randomToken() }

    // MARK: Connecting

    private func connectNext() {
        guard !closed, channel == nil else { return }
        let index = nextServer % options.servers.count
        nextServer += 1
        let server = options.servers[index]
        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(options.connectTimeout)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandlers(
                        ByteToMessageHandler(NATSDecoder()),
                        NATSInboundHandler(connection: self)
                    )
                }
            }
        bootstrap.connect(host: server.host, port: server.port).whenComplete { result in
            switch result {
            case .success(let channel):
                self.channel = channel
                self.currentServerIndex.store(index, ordering: .relaxed)
                self.handshakeDone = false
                channel.closeFuture.whenComplete { _ in self.channelClosed(channel) }
            case .failure(let error):
                self.attemptFailed(server, "\(error)")
                self.scheduleReconnect()
            }
        }
    }

    private func scheduleReconnect() {
        guard !closed else { return }
        attemptsWithoutSuccess += 1
        // A pause per attempt, longer once the whole list has been tried.
        let wait =
            attemptsWithoutSuccess % options.servers.count == 0 ? options.reconnectWait * 2 : options.reconnectWait
        eventLoop.scheduleTask(in: wait) { self.connectNext() }
    }

    private func channelClosed(_ closedChannel: any Channel) {
        guard channel === closedChannel else { return }
        channel = nil
        pingTask?.cancel()
        pingTask = nil
        requests.failAll(NATSError.notConnected)
        let reason = closeReason.isEmpty ? "connection closed" : closeReason
        closeReason = ""
        if handshakeDone {
            handshakeDone = false
            connectedFlag.store(false, ordering: .releasing)
            // Closed on purpose (`close`): not a loss to report.
            if !closed { onStateChange(false, reason) }
        } else if !closed {
            let index = currentServerIndex.load(ordering: .relaxed)
            attemptFailed(options.servers[max(0, index)], reason + " (before CONNECT was answered)")
        }
        scheduleReconnect()
    }

    // MARK: From the channel (on the event loop)

    func received(_ operation: NATSServerOperation, on channel: any Channel) {
        guard channel === self.channel else { return }
        switch operation {
        case .info(let json):
            guard !handshakeDone else { return }
            let overTLS: Bool
            do {
                overTLS = try startTLSIfNeeded(info: json, on: channel)
            } catch {
                closeReason = "\(error)"
                channel.close(promise: nil)
                return
            }
            var buffer = channel.allocator.buffer(capacity: 512)
            NATSCommand.connect(json: options.connectJSON(overTLS: overTLS), into: &buffer)
            requests.subscribeInbox(sid: 0, into: &buffer)
            for (sid, subscription) in subscriptions.sorted(by: { $0.key < $1.key }) {
                NATSCommand.subscribe(subject: subscription.subject, sid: sid, into: &buffer)
            }
            NATSCommand.ping(into: &buffer)
            channel.writeAndFlush(buffer, promise: nil)
        case .pong:
            if !handshakeDone {
                handshakeDone = true
                pingsOut = 0
                if attemptsWithoutSuccess >= 0 && connectedEver { reconnectCount.add(1, ordering: .relaxed) }
                connectedEver = true
                attemptsWithoutSuccess = 0
                connectedFlag.store(true, ordering: .releasing)
                startPinging(channel)
                closeReason = ""
                onStateChange(true, "")
            } else {
                pingsOut = 0
            }
        case .ping:
            var buffer = channel.allocator.buffer(capacity: 8)
            NATSCommand.pong(into: &buffer)
            channel.writeAndFlush(buffer, promise: nil)
        case .ok:
            break
        case .error(let text):
            // Authorization and protocol errors end the connection (the server closes it too);
            // permission errors on one subject do not.
            if !text.lowercased().hasPrefix("permissions violation") {
                closeReason = "server error: \(text)"
                channel.close(promise: nil)
            }
        case .message(let message):
            if message.sid == 0 {
                requests.deliver(message)
            } else if let subscription = subscriptions[message.sid] {
                subscription.handler(message)
            }
        }
    }

    private var connectedEver = false

    /// After the server's INFO (sent in the clear, as NATS does): puts a TLS handler in front of
    /// the pipeline when this connection wants TLS (`options.tls`, a `tls://` URL) or the server
    /// requires it; CONNECT and everything after go through it. True if TLS is on.
    private func startTLSIfNeeded(info: String, on channel: any Channel) throws -> Bool {
        let compact = info.filter { $0 != " " }
        let serverRequires = compact.contains("\"tls_required\":true")
        let serverOffers = serverRequires || compact.contains("\"tls_available\":true")
        let index = currentServerIndex.load(ordering: .relaxed)
        let server = options.servers[max(0, index)]
        let wanted = options.tls != nil || server.requiresTLS
        guard wanted || serverRequires else { return false }
        guard serverOffers else {
            throw NATSConnectionError("\(server) does not offer TLS, which this connection requires")
        }
        let context: NIOSSLContext
        if let configured = options.tls {
            context = configured.context
        } else {
            do {
                context = try NIOSSLContext(configuration: .makeClientConfiguration())
            } catch {
                throw NATSConnectionError("cannot make a TLS context: \(error)")
            }
        }
        // An IP address is checked against the certificate's IP entries (no SNI for it).
        let isAddress = server.host.allSatisfy { $0.isHexDigit || $0 == "." || $0 == ":" }
        do {
            let handler = try NIOSSLClientHandler(context: context, serverHostname: isAddress ? nil : server.host)
            try channel.pipeline.syncOperations.addHandler(handler, position: .first)
        } catch {
            throw NATSConnectionError("cannot start TLS with \(server): \(error)")
        }
        return true
    }

    private func startPinging(_ channel: any Channel) {
        pingTask?.cancel()
        pingTask = eventLoop.scheduleRepeatedTask(initialDelay: options.pingInterval, delay: options.pingInterval) {
            [weak channel] _ in
            guard let channel, channel === self.channel else { return }
            self.pingsOut += 1
            if self.pingsOut > self.options.maxPingsOut {
                self.closeReason = "no PONG to \(self.options.maxPingsOut) PINGs"
                channel.close(promise: nil)
                return
            }
            var buffer = channel.allocator.buffer(capacity: 8)
            NATSCommand.ping(into: &buffer)
            channel.writeAndFlush(buffer, promise: nil)
        }
    }

    func failed(_ channel: any Channel, _ error: any Error) {
        if channel === self.channel { closeReason = "\(error)" }
        channel.close(promise: nil)
    }
}

/// Why a connection attempt was given up (the text becomes the close reason).
struct NATSConnectionError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Errors of a `NATSConnection`'s requests.
public enum NATSError: Error, Sendable, Equatable, CustomStringConvertible {
    case notConnected
    case closed
    case timeout(String)
    case noResponders(String)

    public var description: String {
        switch self {
        case .notConnected: "not connected to NATS"
        case .closed: "the NATS connection was closed"
        case .timeout(let subject): "no answer on \(subject) in time"
        case .noResponders(let subject): "no responders on \(subject)"
        }
    }
}
