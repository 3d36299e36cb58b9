import Foundation
import Logging
import TernControl
import TernCore
import TernReactor

/// The daemon's lifecycle: open state, bind, serve, and shut down in order on a signal.
struct Daemon {
    let settings: DaemonSettings

    func run() async throws {
        var logger = Logger(label: "ternd")
        logger.logLevel = settings.logLevel
        let signals = ShutdownSignal()

        let state = try StateFolder(path: settings.stateDirectory)
        let (store, identity) = try state.open(logger: logger)
        // Runs after the task group below has finished, i.e. after both ports have stopped writing.
        defer { store.close() }
        let broker = try Broker(
            limits: settings.limits, accountSid: identity.accountSid, defaultServiceSid: identity.defaultServiceSid,
            services: try store.loadServices(), store: store)
        let restored = try broker.restore(store.loadStreams())
        logger.info("restored \(restored.restored) streams, deleted \(restored.expired) that expired while ternd was down")

        let reactor = try Reactor(broker: broker, configuration: settings.reactor, logger: logger)
        let dataSocket = try ListeningSocket.tcp(host: settings.dataListen.host, port: settings.dataListen.port)
        try reactor.addListener(dataSocket)
        var unixAddress = "none"
        if let configured = settings.unixSocketPath {
            let path = configured.isEmpty ? state.defaultSocketPath : configured
            let unixSocket = try ListeningSocket.unix(path: path)
            try reactor.addListener(unixSocket)
            unixAddress = unixSocket.address
        }
        reactor.start()

        let control = ControlServer(
            broker: broker,
            configuration: ControlAPIConfiguration(
                host: settings.controlListen.host, port: settings.controlListen.port, publicBaseURL: settings.publicURL),
            logger: logger)
        let boundControlPort = AsyncStream.makeStream(of: Int.self)

        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                do {
                    try await control.run(onBound: { port in
                        boundControlPort.continuation.yield(port)
                        boundControlPort.continuation.finish()
                    })
                } catch {
                    boundControlPort.continuation.finish()
                    throw error
                }
            }
            var boundPort: Int?
            for await port in boundControlPort.stream { boundPort = port }
            guard let controlPort = boundPort else {
                reactor.stop(graceMilliseconds: 0)
                try await group.next()
                throw StateError("the control port \(settings.controlListen) could not be opened")
            }
            let controlAddress = ListenAddress(host: settings.controlListen.host, port: controlPort)
            logger.info(
                "serving", metadata: ["data": "\(dataSocket.address)", "control": "\(controlAddress)", "unix": "\(unixAddress)"])
            print(
                "ternd ready data=\(dataSocket.address) control=\(controlAddress) unix=\(unixAddress) "
                    + "service=\(identity.defaultServiceSid) account=\(identity.accountSid)")
            fflush(nil)

            // Expired streams are deleted within a fifth of a second; each pass only looks at the
            // front of the broker's expiry heap.
            group.addTask {
                while !Task.isCancelled {
                    broker.expireDue()
                    try? await Task.sleep(for: .milliseconds(200))
                }
            }

            let signal = await signals.wait()
            logger.info("signal \(signal): shutting down")
            group.cancelAll()
            reactor.stop(graceMilliseconds: settings.shutdownGraceMilliseconds)
            logger.info("data plane stopped")
        }
        if let path = settings.unixSocketPath { unlink(path.isEmpty ? state.defaultSocketPath : path) }
        logger.info("stopped")
    }
}
