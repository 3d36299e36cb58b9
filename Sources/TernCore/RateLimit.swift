#if canImport(Glibc)
import Glibc
#endif

/// A token bucket for one stream's publishes: `rate` per second on average, bursts up to `burst`.
/// Lives inside the stream's publish lock, so it needs no synchronisation of its own.
struct TokenBucket {
    let rate: Double
    let burst: Double
    private var tokens: Double
    private var last: UInt64

    init(rate: Double, burst: Double) {
        self.rate = rate
        self.burst = burst
        tokens = burst
        last = Self.nanoseconds()
    }

    /// Takes one token if there is one.
    mutating func take() -> Bool {
        let now = Self.nanoseconds()
        tokens = min(burst, tokens + Double(now &- last) * rate / 1e9)
        last = now
        guard tokens >= 1 else { return false }
        tokens -= 1
        return true
    }

    private static func nanoseconds() -> UInt64 {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec)
    }
}
