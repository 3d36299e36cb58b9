import Foundation
import Logging
import ServiceLifecycle
import TernReactor

/// The reactor threads as a service: started with the group; on graceful shutdown they stop
/// accepting, deliver what is buffered within the shutdown grace, tell subscribers STREAM_ENDED
/// (SHUTDOWN) and are joined, on a thread of their own so no cooperative thread blocks on it.
struct DataPlaneService: Service {
    let reactor: Reactor
    let graceMilliseconds: Int
    let logger: Logger

    func run() async throws {
        reactor.start()
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
