import Glibc

/// CLOCK_MONOTONIC, for every timer, rate and interval in the daemon: the data plane's timers and
/// metrics, publish rate limits, log-repeat windows, status rates. One place, so they all agree.
/// (Not `Clock`, which would shadow `Swift.Clock`.)
public enum MonotonicTime {
    @inline(__always)
    public static func nanoseconds() -> UInt64 {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return UInt64(spec.tv_sec) &* 1_000_000_000 &+ UInt64(spec.tv_nsec)
    }

    public static func milliseconds() -> Int64 {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return Int64(spec.tv_sec) * 1000 + Int64(spec.tv_nsec) / 1_000_000
    }

    /// Seconds, for rates over intervals.
    public static func seconds() -> Double { Double(nanoseconds()) / 1e9 }
}
