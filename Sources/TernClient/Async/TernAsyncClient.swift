import Foundation
import NIOCore
import NIOPosix
import TernWire

/// The async data-port client: structured, `Sendable`, on swift-nio (no thread of its own, never
/// blocking the cooperative pool).
///
/// ```swift
/// let client = TernAsyncClient(endpoint: try DataEndpoint(parsing: "127.0.0.1:7400"))
/// try await client.withConnection { connection in
///     for try await event in try await connection.subscribe("prices") { … }
/// }
/// ```
///
/// The connection lives exactly as long as `withConnection`'s body: when the body returns or
/// throws, or the task running it is cancelled, the socket is closed and every subscription ends.
/// While it lives it reconnects with jittered backoff (`ReconnectPolicy`) and, on protocol
/// version 2, resumes each subscription right after the last sequence it received (protocol.md
/// §7.6); each subscription then yields `.resubscribed` with the exact gap.
public struct TernAsyncClient: Sendable {
    public var endpoint: DataEndpoint
    public var clientName: String
    public var token: String
    public var reconnect: ReconnectPolicy
    /// How long connecting and the handshake may take, each time.
    public var connectTimeout: Duration
    /// How long a request (subscribe, acknowledged publish) waits for its answer, and for the
    /// connection to be back while it reconnects; then it throws `TernClientError.timedOut`.
    public var requestTimeout: Duration
    /// The highest protocol version asked for in HELLO (3; 1 turns resume off).
    public var maxVersion: UInt16
    /// On a Unix socket, subscriptions map the stream's ring and read it from shared memory
    /// (protocol version 3), each through a blocking `DataConnection` on a thread of its own
    /// (swift-nio cannot receive the ring's descriptor). Such a subscription reconnects on its
    /// own with `reconnect`, but subscribes again rather than resuming: `.resubscribed` counts
    /// what it missed meanwhile in `missed` (unknown after a restart).
    public var sharedMemory: Bool
    /// Events one subscription may hold that its consumer has not taken; past it the connection
    /// stops reading its socket until the consumer has taken half, and the server drops (and
    /// reports with DROPPED) what does not fit its out-buffer. Memory stays bounded.
    public var maxPending: Int

    public init(
        endpoint: DataEndpoint,
        clientName: String = "tern-client-swift",
        token: String = "",
        reconnect: ReconnectPolicy = ReconnectPolicy(),
        connectTimeout: Duration = .seconds(10),
        requestTimeout: Duration = .seconds(10),
        maxVersion: UInt16 = WireLimits.protocolVersion,
        maxPending: Int = 16_384,
        sharedMemory: Bool = true
    ) {
        self.sharedMemory = sharedMemory
        self.requestTimeout = requestTimeout
        self.maxPending = maxPending
        self.endpoint = endpoint
        self.clientName = clientName
        self.token = token
        self.reconnect = reconnect
        self.connectTimeout = connectTimeout
        self.maxVersion = maxVersion
    }

    /// Connects, runs `body`, and closes. Throws the first connection's failure (a refused
    /// HELLO, nothing listening) if it never connected.
    public func withConnection<Result>(_ body: (TernAsyncConnection) async throws -> Result) async throws -> Result {
        let core = AsyncConnectionCore(client: self)
        let connection = TernAsyncConnection(core: core)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await core.run() }
            defer { group.cancelAll() }
            try await core.waitUntilOpen()
            let result = try await body(connection)
            await core.close()
            return result
        }
    }
}

/// One live connection inside `TernAsyncClient.withConnection`. Safe to share between tasks.
public final class TernAsyncConnection: Sendable {
    let core: AsyncConnectionCore

    init(core: AsyncConnectionCore) { self.core = core }

    /// The protocol version WELCOME chose on the current socket.
    public var version: UInt16 { get async { await core.version } }

    /// Subscribes to `stream` (sid, unique name or `<ServiceSid>/<name>`).
    /// - Throws: `TernClientError.server` with `STREAM_NOT_FOUND` and the other refusals.
    public func subscribe(_ stream: String) async throws -> TernSubscription {
        if core.client.sharedMemory, case .unix = core.client.endpoint, await core.version >= 3 {
            try await core.waitUntilOpen()  // a closed connection throws its end, as below
            let (client, core) = (core.client, core)
            // The blocking handshake and subscribe run off the cooperative pool.
            let mapped = try await withCheckedThrowingContinuation { continuation in
                Thread {
                    continuation.resume(
                        with: Result { try MappedSubscriptionThread.subscribe(stream, client: client, core: core) }
                    )
                }.start()
            }
            if let mapped, let reader = mapped.mapped {
                await core.adopt(reader)
                return mapped
            }
        }
        return try await core.subscribe(stream)
    }

    /// Publishes one JSON object; with `ack`, returns its sequence once accepted.
    @discardableResult
    public func publish(_ stream: String, payload: [UInt8], ack: Bool = true) async throws -> UInt64? {
        try await core.publish(stream, payload: payload, ack: ack)
    }

    /// Times the connection has been re-established.
    public var reconnects: Int { get async { await core.reconnects } }
}
