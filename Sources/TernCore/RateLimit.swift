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
        last = MonotonicTime.nanoseconds()
    }

    /// Takes one token if there is one.
    mutating func take() -> Bool {
        let now = MonotonicTime.nanoseconds()
        tokens = min(burst, tokens + Double(now &- last) * rate / 1e9)
        last = now
        guard tokens >= 1 else { return false }
        tokens -= 1
        return true
    }
}
