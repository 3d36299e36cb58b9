#if canImport(Glibc)
import Glibc
#endif

/// The process's open-file limit, which bounds connections on both ports together.
enum FileDescriptorLimit {
    /// Descriptors kept for everything but client connections: listeners, epoll and eventfds,
    /// the store and its WAL, reserve descriptors, log output.
    static let reserved = 128
    /// The largest default for `--max-connections`.
    static let defaultDataConnectionsCap = 65536

    /// Raises the soft limit to the hard limit, as servers do at start (the soft limit is often
    /// 1024 for compatibility with `select`, which ternd does not use).
    static func raiseSoftLimitToHard() {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < limit.rlim_max else { return }
        limit.rlim_cur = limit.rlim_max
        _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    }

    /// The soft limit now in force.
    static var current: Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 1024 }
        return limit.rlim_cur == rlim_t.max ? Int.max : Int(clamping: limit.rlim_cur)
    }

    /// `--max-connections` when not given: what the limit leaves after the control port's
    /// connections and `reserved`, so that the data port refuses with TOO_MANY_CONNECTIONS before
    /// the process runs out of descriptors.
    static func defaultDataConnections(controlConnections: Int) -> Int {
        let left = current - controlConnections - reserved
        return min(defaultDataConnectionsCap, max(1, left))
    }
}
