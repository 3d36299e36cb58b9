import Hummingbird
import Logging
import ServiceLifecycle
import TernCore

/// The Twilio Sync Streams compatible REST API, served by Hummingbird's HTTP/1.1 pipeline, plus
/// the operator's `/healthz`, `/metrics` and `/connz`; a swift-service-lifecycle `Service`.
///
/// It reaches the broker only through `Broker`'s public API, never into reactor state.
/// Requests are answered by `ControlResponder`, which routes by path itself so that unknown paths
/// and wrong methods get Twilio error bodies (404/20404, 405/20004) like every other error.
public struct ControlServer: Service {
    private let broker: Broker
    private let configuration: ControlAPIConfiguration
    private let logger: Logger
    private let onBound: @Sendable (ControlListenAddress) -> Void

    /// - Parameter onBound: called once the port accepts, with the address it listens on.
    public init(
        broker: Broker,
        configuration: ControlAPIConfiguration,
        logger: Logger,
        onBound: @escaping @Sendable (ControlListenAddress) -> Void = { _ in }
    ) {
        self.broker = broker
        self.configuration = configuration
        self.logger = logger
        self.onBound = onBound
    }

    /// Binds (or adopts `ControlAPIConfiguration.adoptedSocket`), calls `onBound`, then serves
    /// until graceful shutdown: then it stops accepting, lets requests in flight finish, closes
    /// idle keep-alive connections, and returns. Throws if the address cannot be bound or the
    /// adopted socket cannot be served (`onBound` is not called then).
    public func run() async throws {
        let api = ControlAPI(broker: broker, configuration: configuration, logger: logger)
        let server = ControlHTTPServer(
            listener: configuration.adoptedSocket.map { .adopted(fd: $0) }
                ?? .address(host: configuration.host, port: configuration.port),
            limits: configuration.connectionLimits,
            responder: ControlResponder(api: api),
            logger: logger,
            onListening: onBound
        )
        try await server.run()
    }
}
