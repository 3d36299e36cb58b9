import Foundation
import Logging
import NIOCore
import NIOPosix
import Synchronization
import TernAuth
import TernCore
import TernNATS

/// One ternd's membership of the cluster: the NATS connection, the registry bucket and its
/// change feed, the message backbone, and this node's heartbeat.
///
/// Start: connect, make sure the bucket exists, claim or read the cluster's identity, and read
/// the bucket once (`snapshot`); then the daemon builds its broker from the snapshot and
/// `attach`es it, after which every change in the bucket is applied to it.
public final class ClusterNode: Sendable {
    public let options: ClusterOptions
    public let store: ClusterStore
    public let backbone: MessageBackbone
    let connection: NATSConnection
    let bucket: KeyValueBucket
    let follower: RegistryFollower
    private let watch: Locked<KeyValueWatch?>
    private let group: MultiThreadedEventLoopGroup
    private let logger: Logger
    private let heartbeat = Locked<RepeatedTask?>(nil)
    private let startedAt = UnixTime.now()

    public struct Snapshot: Sendable {
        public var accountSid: String
        public var defaultServiceSid: String
        public var authToken: String
        public var keyRoot: [UInt8]
        public var services: [SyncService]
        public var streams: [StreamRecord]
        public var keys: [APIKey]
    }

    public init(options: ClusterOptions, logger: Logger) {
        self.options = options
        self.logger = logger
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        var natsOptions = NATSOptions(servers: options.servers)
        natsOptions.name = "ternd " + options.nodeName
        natsOptions.user = options.user
        natsOptions.password = options.password
        natsOptions.token = options.token
        natsOptions.tls = options.tls
        let watchBox = Locked<KeyValueWatch?>(nil)
        let followerBox = Locked<RegistryFollower?>(nil)
        // Each new reason once (attempts repeat every few hundred ms while NATS is unreachable).
        let lastReason = Locked<String?>(nil)
        connection = NATSConnection(
            options: natsOptions,
            eventLoop: group.next(),
            onAttemptFailed: { server, reason in
                let text = "\(server): \(reason)"
                guard
                    lastReason.withLock({ last in
                        defer { last = text }
                        return last != text
                    })
                else { return }
                logger.warning("cluster backbone: connecting to \(text)")
            },
            onStateChange: { up, reason in
                if up {
                    lastReason.withLock { $0 = nil }
                    logger.notice("cluster backbone connected")
                    // A new consumer replays the bucket: what changed while disconnected is applied.
                    if let watch = watchBox.withLock({ $0 }), let follower = followerBox.withLock({ $0 }) {
                        Self.restartFeed(watch, follower: follower, logger: logger)
                    }
                } else {
                    logger.error("cluster backbone lost (\(reason)); REST changes answer 503 until it returns")
                }
            }
        )
        bucket = KeyValueBucket(jetStream: JetStream(connection: connection), bucket: options.bucket)
        store = ClusterStore(bucket: bucket)
        backbone = MessageBackbone(connection: connection, bucket: options.bucket)
        let follower = RegistryFollower(store: store)
        self.follower = follower
        watch = watchBox
        followerBox.withLock { $0 = follower }
    }

    /// Starts the change feed again after a reconnect; JetStream may still be electing its
    /// leaders (servers that restarted), so a refusal is retried every half second while connected.
    private static func restartFeed(_ watch: KeyValueWatch, follower: RegistryFollower, logger: Logger) {
        follower.replayStarting()
        let connection = watch.bucket.jetStream.connection
        watch.start().whenFailure { error in
            guard connection.isConnected else { return }  // the next connect starts it again
            logger.warning("cluster registry feed not restarted yet (\(error)); retrying")
            connection.eventLoop.scheduleTask(in: .milliseconds(500)) {
                restartFeed(watch, follower: follower, logger: logger)
            }
        }
    }

    public var isConnected: Bool { connection.isConnected }
    public var currentServer: String? { connection.currentServer?.description }
    public var reconnects: Int { connection.reconnects }
    public var nodes: [NodeDocument] { follower.nodes }
    public var expiriesWritten: UInt64 { store.expiriesWritten.load(ordering: .relaxed) }

    /// Connects, prepares the bucket and reads it; throws if that does not succeed within the
    /// start timeout.
    public func start() async throws -> Snapshot {
        connection.start()
        let deadline = ContinuousClock.now + options.startTimeout
        guard await connection.waitUntilConnected(timeout: options.startTimeout) else {
            let last = connection.lastAttemptFailure.map { " (last attempt: \($0))" } ?? ""
            throw ClusterError("no NATS server of \(options.servers) answered within \(options.startTimeout)\(last)")
        }
        // JetStream may still be electing its leaders in a cluster that just started: retry.
        var lastError: (any Error)?
        var identity: IdentityDocument?
        while ContinuousClock.now < deadline {
            do {
                try await bucket.ensure(replicas: options.replicas).get()
                identity = try await claimIdentity()
                break
            } catch {
                lastError = error
                try await Task.sleep(for: .milliseconds(250))
            }
        }
        guard let identity else {
            throw ClusterError("the registry bucket is not available: \(lastError.map { "\($0)" } ?? "timeout")")
        }
        let snapshot = try await readBucket()
        return Snapshot(
            accountSid: identity.accountSid,
            defaultServiceSid: identity.defaultServiceSid,
            authToken: identity.authToken,
            keyRoot: identity.keyRootBytes,
            services: snapshot.services,
            streams: snapshot.streams,
            keys: snapshot.keys
        )
    }

    /// The cluster's identity: the first node to start creates it (atomically), the others read it.
    private func claimIdentity() async throws -> IdentityDocument {
        let fresh = IdentityDocument(
            accountSid: Sid.generate(.account),
            defaultServiceSid: Sid.generate(.service),
            authToken: Credentials.generateToken(),
            keyRoot: Data(KeySecret.generateRoot()).base64EncodedString()
        )
        do {
            _ = try await bucket.create(ClusterKey.identity, ClusterJSON.encode(fresh)).get()
            logger.notice("created the cluster's identity: account \(fresh.accountSid); auth token \(fresh.authToken)")
            return fresh
        } catch KeyValueError.exists {
            guard let entry = try await bucket.get(ClusterKey.identity).get(),
                let identity = ClusterJSON.decode(IdentityDocument.self, entry.value)
            else { throw ClusterError("the bucket's identity is unreadable") }
            return identity
        }
    }

    private func readBucket() async throws -> RegistryFollower.Snapshot {
        let follower = self.follower
        let newWatch = KeyValueWatch(bucket: bucket) { follower.receive($0) }
        watch.withLock { $0 = newWatch }
        try await newWatch.start().get()
        return await withCheckedContinuation { continuation in
            follower.whenSnapshot { continuation.resume(returning: $0) }
        }
    }

    /// Hands the broker to the backbone and the change feed; call once the broker is built.
    public func attach(_ broker: Broker, credentials: CredentialsHolder?) {
        backbone.attach(broker)
        follower.attach(broker, credentials: credentials)
    }

    /// Writes this node's heartbeat now and every `interval` (`tern cluster status` reads them).
    public func startHeartbeat(interval: TimeAmount = .seconds(1), document: @escaping @Sendable () -> NodeDocument) {
        let key = ClusterKey.node(options.nodeName)
        let bucket = self.bucket
        let task = connection.eventLoop.scheduleRepeatedTask(initialDelay: .zero, delay: interval) { _ in
            guard self.connection.isConnected else { return }
            _ = bucket.put(key, ClusterJSON.encode(document()))
        }
        heartbeat.withLock { $0 = task }
    }

    /// The heartbeat document for this node.
    public func nodeDocument(control: String, data: String, streams: Int, connections: Int) -> NodeDocument {
        NodeDocument(
            node: options.nodeName,
            control: control,
            data: data,
            startedAt: startedAt.milliseconds,
            heartbeatAt: UnixTime.now().milliseconds,
            streams: streams,
            connections: connections
        )
    }

    /// Stops the heartbeat, removes this node's entry, closes the connection.
    public func shutdown() {
        heartbeat.withLock { $0?.cancel() }
        if connection.isConnected {
            _ = try? bucket.delete(ClusterKey.node(options.nodeName)).wait()
        }
        connection.close()
        try? group.syncShutdownGracefully()
    }
}

public struct ClusterError: Error, CustomStringConvertible, Sendable {
    public var description: String
    init(_ description: String) { self.description = description }
}
