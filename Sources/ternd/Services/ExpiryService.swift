import ServiceLifecycle
import TernCore

/// Deletes expired streams within a fifth of a second; each pass only looks at the front of the
/// broker's expiry heap. It also frees the rings kept for resumes whose retention ran out.
struct ExpiryService: Service {
    static let interval: Duration = .milliseconds(200)
    let broker: Broker

    func run() async throws {
        let broker = broker
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                broker.expireDue()
                broker.releaseIdleRings()
                try await Task.sleep(for: Self.interval)
            }
        }
    }
}
