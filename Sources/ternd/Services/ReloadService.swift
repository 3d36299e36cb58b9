import Logging
import ServiceLifecycle
import TernReactor
import TernSystemd
import UnixSignals

/// SIGHUP: `RELOADING=1`, re-read flags, config file and environment, apply what can change live,
/// `READY=1`. With `--debug-stall-on-usr1`, SIGUSR1 stalls reactor thread 0 (the watchdog test).
struct ReloadService: Service {
    /// Trapped before the daemon reports READY (`trapping(stallOnUSR1:)`): a SIGHUP that came
    /// between READY and this service's first turn would otherwise kill ternd (the default action).
    let signals: UnixSignalsSequence
    let notifier: SystemdNotifier
    let status: StatusReporter
    let reactor: Reactor
    let stallOnUSR1: Bool
    let reload: @Sendable () -> Void
    let logger: Logger

    static func trapping(stallOnUSR1: Bool) async -> UnixSignalsSequence {
        await UnixSignalsSequence(trapping: stallOnUSR1 ? [.sighup, .sigusr1] : [.sighup])
    }

    func run() async throws {
        for await signal in signals.cancelOnGracefulShutdown() {
            if signal == .sigusr1 {
                logger.warning("stalling reactor thread 0 for 5 s (--debug-stall-on-usr1)")
                reactor.stallFirstThread(milliseconds: 5000)
                continue
            }
            notifier.reloading()
            reload()
            notifier.ready(status: status.line())
        }
    }
}
