import TernWire

/// Limits the broker core enforces. Each has a `ternd` flag and an error code beside it.
public struct BrokerLimits: Sendable, Equatable {
    /// Largest message payload in bytes (Twilio: 4 KiB). Error: `PAYLOAD_TOO_LARGE` / REST 54006.
    public var maxPayload: Int = 4096
    /// Ring bytes per stream with subscribers; a power of two. Overrun: `DROPPED` reason `LAPPED`.
    public var ringBytes: Int = 1 << 20
    /// Seconds a stream's ring is kept after its last subscriber leaves, so a subscriber that
    /// comes back can resume from it (protocol version 2); 0 frees it at once. The ring is the
    /// resume window: `ringBytes` bounds what a resume can replay.
    public var resumeRetentionSeconds: Double = 60
    /// Rings live in sealed memfds that same-host readers may map read-only (protocol version 3,
    /// SUBSCRIBE_SHARED over the Unix socket). Off: SHARED_MEMORY_UNAVAILABLE, rings in private memory.
    public var sharedMemory = true
    /// Longest unique name (Twilio: 320). Error: `INVALID_STREAM_NAME` / REST 54302.
    public var maxUniqueNameLength: Int = 320
    /// Longest Ttl in seconds (Twilio: one year). Error: REST 54011.
    public var maxTtlSeconds: Int = 31_536_000

    /// Publishes per second per stream, on average; 0 = unlimited (Twilio: 30). Error: `RATE_LIMITED` / REST 54009.
    public var publishRatePerSecond: Double = 0
    /// Publishes a stream may make in a burst above the average rate.
    public var publishBurst: Double = 0

    public init() {}

    /// Twilio's documented limits: 4 KiB payloads, 30 messages per second per stream.
    public static var twilio: BrokerLimits {
        var limits = BrokerLimits()
        limits.maxPayload = 4096
        limits.publishRatePerSecond = 30
        limits.publishBurst = 30
        return limits
    }

    /// Problems with these settings, in words for an operator; empty when they are usable.
    public func problems() -> [String] {
        var problems: [String] = []
        if maxPayload < 2 { problems.append("max payload must be at least 2 bytes (\"{}\")") }
        if ringBytes & (ringBytes - 1) != 0 || ringBytes < 4096 {
            problems.append("ring bytes must be a power of two of at least 4096 (got \(ringBytes))")
        } else if MessageFrame.size(payloadCount: maxPayload) * 2 > ringBytes {
            problems.append(
                "ring bytes (\(ringBytes)) must hold at least two frames of the max payload (\(maxPayload))"
            )
        }
        if resumeRetentionSeconds < 0 { problems.append("resume retention must not be negative") }
        if publishRatePerSecond < 0 { problems.append("publish rate must not be negative") }
        if publishRatePerSecond > 0 && publishBurst < 1 {
            problems.append("publish burst must be at least 1 when a publish rate is set")
        }
        return problems
    }
}
