import TernWire

/// What iterating a `TernSubscription` yields, in the order the server sent it.
public enum SubscriptionEvent: Sendable, Equatable {
    /// A message; `messageSid` is its Twilio sid (`TZ` + hex(sid prefix ‖ sequence)).
    case message(Frame.Message, messageSid: String)
    /// `count` messages were lost (`rawReason` as on the wire; 3 is NOT_RETAINED after a resume).
    case dropped(count: UInt64, reason: DropReason, rawReason: UInt8)
    /// The client reconnected and subscribed again (before any message of the new connection).
    case resubscribed(Resubscription)
}

/// How a subscription came back after a reconnect.
public struct Resubscription: Sendable, Equatable {
    /// Where the subscription was before the break: the newest sequence it had received or
    /// counted lost (in a `dropped` event, or in an earlier `missed`); for a subscription that
    /// has seen nothing, the sequence before its first.
    public var lastSequence: UInt64
    /// The first sequence the new subscription covers.
    public var nextSequence: UInt64
    /// The daemon restarted (the stream's sid prefix changed): what the old run published after
    /// `lastSequence` cannot be counted.
    public var serverRestarted: Bool
    /// Resumed with RESUME (protocol version 2): nothing is lost but what `dropped` events count.
    public var resumed: Bool
    /// Messages lost that no `dropped` event counts; nil when unknown (a restart).
    public var missed: UInt64?
}

/// Reconnect with jittered exponential backoff: `initialDelay` doubling up to `maxDelay`, each
/// wait a random 50–100 % of it.
public struct ReconnectPolicy: Sendable {
    public var enabled: Bool
    public var initialDelay: Duration
    public var maxDelay: Duration
    /// Attempts in a row before giving up; nil: forever.
    public var maxAttempts: Int?

    public init(
        enabled: Bool = true,
        initialDelay: Duration = .milliseconds(100),
        maxDelay: Duration = .seconds(5),
        maxAttempts: Int? = nil
    ) {
        self.enabled = enabled
        self.initialDelay = initialDelay
        self.maxDelay = maxDelay
        self.maxAttempts = maxAttempts
    }

    public static let never = ReconnectPolicy(enabled: false)

    /// Whether reconnect attempt number `attempt` (1 after a working connection broke) may be
    /// made after `error`: refusals that a retry cannot change (`AUTH_FAILED`,
    /// `UNSUPPORTED_VERSION`) end it, as do `maxAttempts` and `enabled` false.
    func allowsAttempt(_ attempt: Int, after error: any Error) -> Bool {
        let permanent: Set<ErrorCode> = [.authFailed, .unsupportedVersion]
        if let code = (error as? TernClientError)?.errorCode, permanent.contains(code) { return false }
        return enabled && (maxAttempts.map { attempt <= $0 } ?? true)
    }

    func delay(attempt: Int) -> Duration {
        var delay = initialDelay
        for _ in 1..<max(1, min(attempt, 30)) where delay < maxDelay { delay *= 2 }
        return min(delay, maxDelay) * Double.random(in: 0.5...1.0)
    }
}

/// A subscription's events as an `AsyncSequence`. It ends when the stream ends (throwing
/// `TernClientError.streamEnded`), when the connection is closed, or with the connection's
/// error when it is lost for good.
public struct TernSubscription: AsyncSequence, Sendable {
    public typealias Element = SubscriptionEvent
    /// The stream's sid (`TO…`), unique name (empty if none) and server-wide id, and the first
    /// sequence the subscription covered (from SUBSCRIBED; a reconnect may change the id).
    public let streamSid: String
    public let uniqueName: String
    public let streamID: UInt32
    public let nextSequence: UInt64
    let events: AsyncThrowingStream<SubscriptionEvent, any Error>
    let core: AsyncConnectionCore
    let key: Int
    /// Set for a shared-memory subscription: the thread that reads its ring.
    var mapped: MappedSubscriptionThread? = nil

    /// Whether the messages come from the stream's ring in shared memory (protocol version 3).
    public var isMapped: Bool { mapped != nil }

    /// Leaves the stream: the iteration ends (`next()` returns nil) and, once this returns, the
    /// server has stopped sending it. A mapped subscription instead closes its own connection as
    /// soon as its thread looks (within a quarter of a second while connected; a reconnect in
    /// progress finishes its current step first). It is not restored after a reconnect. Cancelling the task
    /// that iterates it leaves the stream too, without waiting; merely breaking out of
    /// `for try await` does not.
    public func unsubscribe() async throws {
        if let mapped {
            mapped.stop(throwing: nil)
        } else {
            try await core.unsubscribe(key)
        }
    }

    public func makeAsyncIterator() -> Iterator {
        Iterator(inner: events.makeAsyncIterator(), core: core, key: key, mapped: mapped)
    }

    /// Tells the connection, every `reportEvery` events, how many were taken, so it can stop and
    /// restart reading its socket (`TernAsyncClient.maxPending`) at one actor call per batch.
    public struct Iterator: AsyncIteratorProtocol {
        var inner: AsyncThrowingStream<SubscriptionEvent, any Error>.AsyncIterator
        let core: AsyncConnectionCore
        let key: Int
        let mapped: MappedSubscriptionThread?
        var taken = 0
        static let reportEvery = 256

        public mutating func next() async throws -> SubscriptionEvent? {
            let event = try await inner.next()
            if let mapped {
                mapped.taken(1)
                return event
            }
            taken += 1
            if taken >= Self.reportEvery || event == nil {
                let count = taken
                taken = 0
                await core.taken(key, count)
            }
            return event
        }
    }
}
