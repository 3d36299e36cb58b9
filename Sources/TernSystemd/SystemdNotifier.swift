import CSystemd
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Service state reports to systemd (`sd_notify`) for a `Type=notify` unit with `WatchdogSec=`.
///
/// Every method is a no-op when `NOTIFY_SOCKET` is absent (not started by systemd, or started
/// by a test without a notify socket), so the daemon calls them unconditionally.
///
/// Thread-safe: sends are serialized by a lock, because libsystemd reads the environment on
/// every call and the daemon reports from several threads (startup, the status timer, the
/// watchdog check, the signal handler). The environment is left in place (`unset_environment`
/// is 0) so later reports still find the socket.
public final class SystemdNotifier: Sendable {
    /// `NOTIFY_SOCKET` was set at creation: reports go somewhere.
    public let isEnabled: Bool

    /// The watchdog timeout systemd enforces (`WatchdogSec=`, passed as `WATCHDOG_USEC`), or nil
    /// when the watchdog is off or meant for another process (`WATCHDOG_PID`).
    ///
    /// Ping with `watchdog()` at `watchdogPingInterval` (half of this), as sd_watchdog_enabled(3)
    /// recommends, so one late ping does not get the service killed.
    public let watchdogInterval: Duration?

    private let sendLock = Mutex(())

    public init() {
        isEnabled = getenv("NOTIFY_SOCKET") != nil
        var microseconds: UInt64 = 0
        if sd_watchdog_enabled(0, &microseconds) > 0, microseconds > 0 {
            watchdogInterval = .microseconds(Int64(clamping: microseconds))
        } else {
            watchdogInterval = nil
        }
    }

    /// Half of `watchdogInterval`: how often `watchdog()` should be called. Nil when off.
    public var watchdogPingInterval: Duration? { watchdogInterval.map { $0 / 2 } }

    /// `READY=1`: startup is complete. Send only once the state is open and every listener
    /// accepts; systemd starts dependent units and stops waiting on `TimeoutStartSec=` here.
    /// An optional status line goes in the same datagram.
    @discardableResult
    public func ready(status: String? = nil) -> Bool {
        send("READY=1" + (status.map { "\nSTATUS=" + Self.singleLine($0) } ?? ""))
    }

    /// `STATUS=…`: a one-line, free-form state shown by `systemctl status`.
    /// Newlines are replaced by spaces: each datagram line is a separate assignment.
    @discardableResult
    public func status(_ text: String) -> Bool {
        send("STATUS=" + Self.singleLine(text))
    }

    /// `STOPPING=1`: shutdown has begun (on SIGTERM), so systemd shows "deactivating" and does
    /// not treat the coming exit as a failure.
    @discardableResult
    public func stopping() -> Bool {
        send("STOPPING=1")
    }

    /// `RELOADING=1` with `MONOTONIC_USEC=` (the current `CLOCK_MONOTONIC` time), as systemd 253+
    /// requires for `Type=notify-reload` to match the reload to this message. Follow it with
    /// `ready()` once the new configuration is in effect.
    @discardableResult
    public func reloading() -> Bool {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        let microseconds = UInt64(now.tv_sec) * 1_000_000 + UInt64(now.tv_nsec) / 1_000
        return send("RELOADING=1\nMONOTONIC_USEC=\(microseconds)")
    }

    /// `WATCHDOG=1`: proof of life. Call it only from a check that proves the work is progressing
    /// (the reactor threads turning), not from a plain timer, or a hung daemon stays "healthy".
    @discardableResult
    public func watchdog() -> Bool {
        send("WATCHDOG=1")
    }

    /// Sends one datagram. Returns true if it was sent; false when disabled or on error
    /// (the daemon keeps serving: a lost report must not take it down).
    @discardableResult
    public func send(_ state: String) -> Bool {
        guard isEnabled else { return false }
        return sendLock.withLock { _ in sd_notify(0, state) > 0 }
    }

    private static func singleLine(_ text: String) -> String {
        String(text.map { $0.isNewline ? " " : $0 })
    }
}
