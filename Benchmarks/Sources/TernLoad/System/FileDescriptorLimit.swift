import Glibc

/// Raises the soft RLIMIT_NOFILE to the hard limit, so a run can hold thousands of sockets.
public enum FileDescriptorLimit {
    /// Returns the soft limit now in force.
    @discardableResult
    static func raiseToHardLimit() -> UInt64 {
        var limit = rlimit()
        guard getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 0 }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &raised) == 0 { return UInt64(raised.rlim_cur) }
        }
        return UInt64(limit.rlim_cur)
    }

    /// Raises the limit and fails clearly if `count` descriptors still would not fit.
    public static func require(_ count: Int) throws {
        let limit = raiseToHardLimit()
        if limit > 0 && UInt64(count) > limit {
            throw BenchError("this run needs \(count) file descriptors; the limit is \(limit) (raise `ulimit -Hn`)")
        }
    }
}
