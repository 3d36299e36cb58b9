import Hummingbird
import Logging
import TernCore

/// The Twilio Sync Streams compatible REST API, served by Hummingbird.
///
/// It reaches the broker only through `Broker`'s public API, never into reactor state.
/// Requests are answered by `ControlResponder`, which routes by path itself so that unknown paths
/// and wrong methods get Twilio error bodies (404/20404, 405/20004) like every other error.
public struct ControlServer: Sendable {
    private let broker: Broker
    private let configuration: ControlAPIConfiguration
    private let logger: Logger

    public init(broker: Broker, configuration: ControlAPIConfiguration, logger: Logger) {
        self.broker = broker
        self.configuration = configuration
        self.logger = logger
    }

    /// Binds, calls `onBound` with the bound port once listening, then serves until the calling
    /// task is cancelled (or a surrounding swift-service-lifecycle group shuts down gracefully).
    ///
    /// Throws if the address cannot be bound; `onBound` is not called then. Cancellation is a
    /// normal stop: the function returns without throwing.
    public func run(onBound: @escaping @Sendable (Int) -> Void) async throws {
        let api = ControlAPI(broker: broker, configuration: configuration, logger: logger)
        let application = Application(
            responder: ControlResponder(api: api),
            configuration: ApplicationConfiguration(
                address: .hostname(configuration.host, port: configuration.port), serverName: nil),
            onServerRunning: { channel in onBound(channel.localAddress?.port ?? 0) },
            logger: logger)
        do {
            try await application.run()
        } catch is CancellationError {
            return
        }
    }
}
