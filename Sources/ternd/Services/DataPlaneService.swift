import Foundation
import Logging
import ServiceLifecycle
import TernReactor

/// The reactor threads as a service. They are started before the group (so the data port serves
/// by the time the ready line is printed); on graceful shutdown, or if the group is cancelled,
/// they stop accepting, deliver what is buffered within the shutdown grace, tell subscribers
/// STREAM_ENDED (SHUTDOWN) and are joined, on a thread of their own so that no cooperative
/// thread blocks on it.
struct DataPlaneService: Service {
    let reactor: Reactor
    let graceMilliseconds: Int
    let logger: Logger

    func run() async throws {
        // Returns on graceful shutdown, throws on cancellation: the reactor stops either way.
        try? await gracefulShutdown()
        logger.info("shutting down: delivering buffered frames (at most \(graceMilliseconds) ms)")
        let reactor = reactor
        let grace = graceMilliseconds
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            Thread {
                reactor.stop(graceMilliseconds: grace)
                done.resume()
            }.start()
        }
        logger.info("data plane stopped")
    }
}
