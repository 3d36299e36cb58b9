import Hummingbird
import Logging
import ServiceLifecycle
import TernCore

/// The Twilio Sync Streams compatible REST API, served by Hummingbird's HTTP/1.1 pipeline, plus
/// the operator's `/healthz`, `/metrics` and `/connz`.
///
/// It reaches the broker only through `Broker`'s public API, never into reactor state.
/// Requests are answered by `ControlResponder`, which routes by path itself so that unknown paths
/// and wrong methods get Twilio error bodies (404/20404, 405/20004) like every other error.
public struct ControlServer: Sendable {
    /// How long a stop waits for requests in flight before cutting them off.
    static let shutdownGrace: Duration = .seconds(5)

    private let broker: Broker
    private let configuration: ControlAPIConfiguration
    private let logger: Logger

    public init(broker: Broker, configuration: ControlAPIConfiguration, logger: Logger) {
        self.broker = broker
        self.configuration = configuration
        self.logger = logger
    }

    /// Binds (or adopts `ControlAPIConfiguration.adoptedSocket`), calls `onBound` with the
    /// listening address once accepting, then serves until the calling task is cancelled.
    ///
    /// Cancellation is a normal stop and returns without throwing: the server stops accepting,
    /// lets requests in flight finish (at most `shutdownGrace`), closes idle keep-alive
    /// connections, and only then returns. Throws if the address cannot be bound or the adopted
    /// socket cannot be served; `onBound` is not called then.
    public func run(onBound: @escaping @Sendable (ControlListenAddress) -> Void) async throws {
        let api = ControlAPI(broker: broker, configuration: configuration, logger: logger)
        let server = ControlHTTPServer(
            listener: configuration.adoptedSocket.map { .adopted(fd: $0) }
                ?? .address(host: configuration.host, port: configuration.port),
            limits: configuration.connectionLimits, responder: ControlResponder(api: api), logger: logger, onListening: onBound)
        // Cancelling the server outright drops connections mid-response; a graceful shutdown does
        // not. So the server runs in its own task, out of reach of the caller's cancellation, and
        // the caller's cancellation is turned into a graceful shutdown with a deadline.
        let group = ServiceGroup(
            services: [server], gracefulShutdownSignals: [], cancellationSignals: [], logger: logger)
        let serving = Task { try await group.run() }
        let outcome = await withTaskCancellationHandler {
            await serving.result
        } onCancel: {
            Task {
                await group.triggerGracefulShutdown()
                try? await Task.sleep(for: Self.shutdownGrace)
                serving.cancel()
            }
        }
        switch outcome {
        case .success, .failure(is CancellationError): return
        case .failure(let error): throw error
        }
    }
}
