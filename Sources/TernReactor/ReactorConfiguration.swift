import TernCore
import TernWire

/// Data-plane settings. Each limit has a `ternd` flag and a documented error (protocol.md §6).
public struct ReactorConfiguration: Sendable {
    /// Reactor threads (each with its own epoll); connections stay on the thread that accepted them.
    public var threads: Int = 2
    /// Largest frame body accepted (`max_frame_body`); beyond it: FRAME_TOO_LARGE, connection closed.
    public var maxFrameBody: Int = 8192
    /// Open data-port connections across all threads; beyond it: TOO_MANY_CONNECTIONS.
    public var maxConnections: Int = 65536
    /// Streams one connection may subscribe to or attach; beyond it: TOO_MANY_SUBSCRIPTIONS.
    public var maxSubscriptionsPerConnection: Int = 1024
    /// Message bytes waiting per connection before its messages are dropped (DROPPED reason 1).
    public var outBufferBytes: Int = 1 << 20
    /// Time a new connection has to send HELLO; then HANDSHAKE_TIMEOUT.
    public var handshakeTimeoutMilliseconds: Int = 10_000
    /// Silence after which the server sends PING; as long again without a reply: IDLE_TIMEOUT. 0 = off.
    public var pingIntervalMilliseconds: Int = 30_000
    /// Bytes one reactor thread copies out of a ring per batch (one write per subscriber per batch).
    public var batchBytes: Int = 256 * 1024
    /// Bytes a reactor thread may read from publishers in one loop turn before it delivers, as
    /// long as no stream has a batch waiting. Under load from publishers to many streams, a larger
    /// budget means more messages per subscriber write; it bounds the delay a turn adds. TCP data
    /// connections get a receive buffer of this size, so that the backlog is there to read
    /// (when `net.core.rmem_max` allows it; else they keep the kernel's autotuning).
    public var readBudgetBytes: Int = 4 << 20
    /// Idle strategy: after a turn, poll epoll without blocking for up to this many microseconds
    /// before sleeping in `epoll_wait` (Aeron's backoff idle strategy; 0 = sleep at once). Saves
    /// the wake-up (scheduler latency) of a message that arrives within the spin, for a core kept
    /// busy while traffic keeps arriving.
    public var idleSpinMicroseconds: Int = 0
    /// When set, HELLO must carry the account's auth token as `token` (else AUTH_FAILED).
    public var credentials: CredentialsHolder?
    /// Seconds of clock difference allowed on an Access Token's `nbf` and `exp`.
    public var tokenClockSkewSeconds: Int = 10
    /// How long before its token expires a version-2 connection gets TOKEN_EXPIRING.
    public var tokenExpiryWarningMilliseconds: Int = 60_000
    /// Shown in WELCOME.
    public var serverName: String = "ternd"

    public init() {}

    public func problems(maxPayload: Int) -> [String] {
        var problems: [String] = []
        if threads < 1 || threads > 64 { problems.append("threads must be between 1 and 64 (got \(threads))") }
        if maxFrameBody < maxPayload + WireLimits.frameBodySlack {
            problems.append(
                "max frame (\(maxFrameBody)) must be at least max payload + \(WireLimits.frameBodySlack) (\(maxPayload + WireLimits.frameBodySlack))"
            )
        }
        if outBufferBytes < maxFrameBody + WireLimits.headerSize {
            problems.append(
                "out-buffer (\(outBufferBytes)) must hold at least one full frame (\(maxFrameBody + WireLimits.headerSize))"
            )
        }
        if readBudgetBytes < 64 * 1024 { problems.append("read budget (\(readBudgetBytes)) must be at least 64K") }
        if idleSpinMicroseconds < 0 || idleSpinMicroseconds > 1_000_000 {
            problems.append("idle spin must be between 0 and 1000000 microseconds (got \(idleSpinMicroseconds))")
        }
        if maxConnections < 1 { problems.append("max connections must be at least 1") }
        if maxSubscriptionsPerConnection < 1 { problems.append("max subscriptions must be at least 1") }
        if handshakeTimeoutMilliseconds < 1 { problems.append("handshake timeout must be positive") }
        if pingIntervalMilliseconds < 0 { problems.append("ping interval must not be negative") }
        if tokenClockSkewSeconds < 0 || tokenClockSkewSeconds > 3600 {
            problems.append("token clock skew must be between 0 and 3600 seconds")
        }
        if tokenExpiryWarningMilliseconds < 0 { problems.append("token expiry warning must not be negative") }
        return problems
    }
}
