import Foundation
import Logging
import TernControl
import TernCore
import TernReactor
import TernStore
import TernSystemd

/// The daemon's lifecycle: open state, bind (or adopt systemd's sockets), serve, report to
/// systemd, reload on SIGHUP, and shut down in order on SIGTERM.
struct Daemon {
    let settings: DaemonSettings

    func run() async throws {
        DaemonLogHandler.levelSwitch.level = settings.logLevel
        let logger = Logger(label: "ternd")
        let notifier = SystemdNotifier()
        // Before anything else: systemd's sockets, validated by name and kind.
        let activated = try SystemdListeners.take()
        try SystemdListeners.validate(activated)
        try checkExposure(of: activated)
        let signals = ProcessSignals([SIGTERM, SIGINT, SIGHUP] + (settings.debugStallOnUSR1 ? [SIGUSR1] : []))

        let state = try StateFolder(path: settings.stateDirectory)
        let (sqlite, identity) = try state.open(logger: logger)
        // Runs after the task group below has finished, i.e. after both ports have stopped writing.
        defer { sqlite.close() }
        let store = ObservedStore(sqlite, logger: logger)
        let broker = try Broker(
            limits: settings.limits, accountSid: identity.accountSid, defaultServiceSid: identity.defaultServiceSid,
            services: try sqlite.loadServices(), store: store)
        let restored = try broker.restore(sqlite.loadStreams())
        logger.info("restored \(restored.restored) streams, deleted \(restored.expired) that expired while ternd was down")

        let credentials =
            settings.authRequired
            ? CredentialsHolder(Credentials(accountSid: identity.accountSid, authToken: identity.authToken)) : nil
        var reactorConfiguration = settings.reactor
        reactorConfiguration.credentials = credentials
        let reactor = try Reactor(broker: broker, configuration: reactorConfiguration, logger: logger)
        let data = try openDataListeners(activated: activated, state: state)
        for listener in data.all { try reactor.addListener(listener) }
        reactor.start()

        let control = ControlServer(
            broker: broker,
            configuration: ControlAPIConfiguration(
                host: settings.controlListen.host, port: settings.controlListen.port,
                adoptedSocket: activated[SystemdListeners.Name.control]?.first, publicBaseURL: settings.publicURL,
                credentials: credentials,
                persistAuthToken: { token in
                    try store.saveIdentity(
                        StoredIdentity(
                            accountSid: identity.accountSid, defaultServiceSid: identity.defaultServiceSid, authToken: token))
                },
                introspection: DaemonIntrospection(broker: broker, reactor: reactor, store: store),
                connectionLimits: settings.control),
            logger: logger)
        let boundControlPort = AsyncStream.makeStream(of: ControlListenAddress.self)

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
            var boundAddress: ControlListenAddress?
            for await address in boundControlPort.stream { boundAddress = address }
            guard let bound = boundAddress else {
                reactor.stop(graceMilliseconds: 0)
                try await group.next()
                throw StateError("the control port \(settings.controlListen) could not be opened")
            }
            let controlAddress = ListenAddress(host: bound.host, port: bound.port)
            logger.info(
                "serving",
                metadata: ["data": "\(data.tcpAddress)", "control": "\(controlAddress)", "unix": "\(data.unixAddress)"])
            print(
                "ternd ready data=\(data.tcpAddress) control=\(controlAddress) unix=\(data.unixAddress) "
                    + "service=\(identity.defaultServiceSid) account=\(identity.accountSid)")
            fflush(nil)
            let status = StatusReporter(broker: broker, reactor: reactor)
            notifier.ready(status: status.line())

            // Expired streams are deleted within a fifth of a second; each pass only looks at the
            // front of the broker's expiry heap.
            group.addTask {
                while !Task.isCancelled {
                    broker.expireDue()
                    try? await Task.sleep(for: .milliseconds(200))
                }
            }
            group.addTask {
                while !Task.isCancelled {
                    try? await Task.sleep(for: .milliseconds(settings.statusIntervalMilliseconds))
                    let line = status.line()
                    notifier.status(line)
                    logger.debug("status: \(line)")
                }
            }
            if let every = notifier.watchdogPingInterval {
                // Ping only while every reactor thread turns its loop: a stuck thread stops the
                // pings and systemd restarts the daemon.
                let limit = Int64(every.components.seconds * 1000 + every.components.attoseconds / 1_000_000_000_000_000)
                group.addTask {
                    while !Task.isCancelled {
                        if reactor.threadsAreTurning(withinMilliseconds: max(limit, 1000)) {
                            notifier.watchdog()
                        } else {
                            logger.error("a reactor thread is not turning; withholding the watchdog ping")
                        }
                        try? await Task.sleep(for: every)
                    }
                }
            }

            for await signal in signals.events {
                if signal == SIGHUP {
                    notifier.reloading()
                    reload(broker: broker, logger: logger)
                    notifier.ready(status: status.line())
                    continue
                }
                if signal == SIGUSR1 {
                    logger.warning("stalling reactor thread 0 for 5 s (--debug-stall-on-usr1)")
                    reactor.stallFirstThread(milliseconds: 5000)
                    continue
                }
                logger.info("signal \(signal): shutting down")
                break
            }
            notifier.stopping()
            group.cancelAll()
            reactor.stop(graceMilliseconds: settings.shutdownGraceMilliseconds)
            logger.info("data plane stopped")
        }
        if data.ownsUnixPath, let path = data.unixPath { unlink(path) }
        logger.info("stopped")
    }

    /// Applies the loopback rule to systemd's sockets as `DaemonSettings` applies it to the flags.
    private func checkExposure(of activated: [String: [Int32]]) throws {
        var problems: [String] = []
        for (name, fds) in activated.sorted(by: { $0.key < $1.key }) {
            for fd in fds {
                let address = try ListenerAddress(of: fd)
                if let problem = DaemonSettings.exposureProblem(
                    "socket-activated '\(name)' socket (fd \(fd))", address, isLocalOnly: address.isLocalOnly,
                    authRequired: settings.authRequired)
                {
                    problems.append(problem)
                }
            }
        }
        if !problems.isEmpty { throw StateError(problems.joined(separator: "\n")) }
    }

    /// The data-port listeners: adopted from systemd where it passed them, bound otherwise.
    private func openDataListeners(activated: [String: [Int32]], state: StateFolder) throws -> DataListeners {
        var listeners = DataListeners()
        if let fds = activated[SystemdListeners.Name.data] {
            listeners.tcp = try fds.map { try ListeningSocket.adopt(fd: $0) }
        } else {
            listeners.tcp = [try ListeningSocket.tcp(host: settings.dataListen.host, port: settings.dataListen.port)]
        }
        if let fds = activated[SystemdListeners.Name.dataUnix] {
            listeners.unix = try fds.map { try ListeningSocket.adopt(fd: $0) }
            // systemd owns the socket file and keeps it for the next start.
            listeners.ownsUnixPath = false
        } else if let configured = settings.unixSocketPath {
            let path = configured.isEmpty ? state.defaultSocketPath : configured
            listeners.unix = [try ListeningSocket.unix(path: path)]
            listeners.ownsUnixPath = true
        }
        return listeners
    }

    /// SIGHUP: re-reads flags, the config file and the environment, and applies what can change
    /// while serving (log level, payload limit, publish rate). Other changes need a restart and
    /// are logged as such; an invalid configuration changes nothing.
    private func reload(broker: Broker, logger: Logger) {
        do {
            let new = try Ternd.currentSettings()
            guard new.limits.maxPayload + 64 <= settings.reactor.maxFrameBody else {
                logger.error("reload refused: max payload \(new.limits.maxPayload) does not fit the running max frame \(settings.reactor.maxFrameBody)")
                return
            }
            var live = broker.limits
            live.maxPayload = new.limits.maxPayload
            live.publishRatePerSecond = new.limits.publishRatePerSecond
            live.publishBurst = new.limits.publishBurst
            try broker.reload(limits: live)
            DaemonLogHandler.levelSwitch.level = new.logLevel
            let restartOnly = new.restartOnlyDifferences(from: settings)
            if !restartOnly.isEmpty {
                logger.warning("reload: these changes need a restart: \(restartOnly.joined(separator: ", "))")
            }
            logger.notice(
                "reloaded: log level \(new.logLevel), max payload \(live.maxPayload), publish rate \(live.publishRatePerSecond)/s")
        } catch {
            logger.error("reload refused, configuration unchanged: \(error)")
        }
    }
}

/// The data-port listening sockets of one run.
struct DataListeners {
    var tcp: [ListeningSocket] = []
    var unix: [ListeningSocket] = []
    /// False when systemd passed the Unix socket: its file is not ours to remove.
    var ownsUnixPath = false

    var all: [ListeningSocket] { tcp + unix }
    var tcpAddress: String { tcp.map(\.address).joined(separator: ",") }
    var unixAddress: String { unix.isEmpty ? "none" : unix.map(\.address).joined(separator: ",") }
    var unixPath: String? { unix.first?.address }
}
