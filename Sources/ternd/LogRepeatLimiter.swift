import TernCore

/// Keeps any one log statement from flooding the log: each call site (file and line) may write
/// `burst` lines at once and `perSecond` lines a second after that (a token bucket); lines past
/// that are counted, and the next line written from that call site says how many were skipped.
///
/// A client that can make ternd log (a fatal protocol error, a refused connection) can then
/// cost the log about one line a second, not one line per attempt.
final class LogRepeatLimiter: Sendable {
    static let shared = LogRepeatLimiter()

    let burst: Double
    let perSecond: Double
    /// Call sites remembered at most; past it the table starts afresh.
    static let maxCallSites = 4096

    private struct Site {
        var tokens: Double
        var updatedAt: UInt64
        var suppressed: UInt64 = 0
    }

    private let sites = Locked<[String: Site]>([:])

    init(burst: Double = 20, perSecond: Double = 1) {
        self.burst = burst
        self.perSecond = perSecond
    }

    /// Nil: drop this line. Otherwise the number of lines from this call site skipped since the
    /// last one written (usually 0).
    func admit(callSite: String, nanoseconds now: UInt64) -> UInt64? {
        sites.withLock { sites -> UInt64? in
            if sites.count >= Self.maxCallSites && sites[callSite] == nil { sites.removeAll(keepingCapacity: true) }
            var site = sites[callSite] ?? Site(tokens: burst, updatedAt: now)
            let elapsed = Double(now &- site.updatedAt) / 1e9
            site.tokens = min(burst, site.tokens + elapsed * perSecond)
            site.updatedAt = now
            guard site.tokens >= 1 else {
                site.suppressed += 1
                sites[callSite] = site
                return nil
            }
            site.tokens -= 1
            let skipped = site.suppressed
            site.suppressed = 0
            sites[callSite] = site
            return skipped
        }
    }
}
