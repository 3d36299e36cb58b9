import Logging
import ServiceLifecycle
import TernSystemd

/// `STATUS=` lines to systemd (and the log, at debug) every `--status-interval`; `STOPPING=1` as
/// soon as the group begins to shut down (it is the last service, so the first one told).
struct StatusService: Service {
    let notifier: SystemdNotifier
    let status: StatusReporter
    let intervalMilliseconds: Int
    let logger: Logger

    func run() async throws {
        let (notifier, status, interval, logger) = (notifier, status, intervalMilliseconds, logger)
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try await Task.sleep(for: .milliseconds(interval))
                let line = status.line()
                notifier.status(line)
                logger.debug("status: \(line)")
            }
        }
        notifier.stopping()
    }
}
