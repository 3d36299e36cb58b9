import Logging
import ServiceLifecycle
import TernReactor
import TernSystemd

/// `WATCHDOG=1` at half of systemd's `WatchdogSec`, only while every reactor thread turns its
/// loop: a stuck thread stops the pings and systemd restarts the daemon. Idle without a watchdog.
struct WatchdogService: Service {
    let notifier: SystemdNotifier
    let reactor: Reactor
    let logger: Logger

    func run() async throws {
        guard let every = notifier.watchdogPingInterval else {
            try? await gracefulShutdown()
            return
        }
        let limit = max(
            Int64(every.components.seconds * 1000 + every.components.attoseconds / 1_000_000_000_000_000),
            1000
        )
        let (notifier, reactor, logger) = (notifier, reactor, logger)
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                if reactor.threadsAreTurning(withinMilliseconds: limit) {
                    notifier.watchdog()
                } else {
                    logger.error("a reactor thread is not turning; withholding the watchdog ping")
                }
                try await Task.sleep(for: every)
            }
        }
    }
}
