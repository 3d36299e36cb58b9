import Foundation
import Logging
import ServiceLifecycle
import TernCluster
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
        // Before anything else: systemd's sockets, validated by name, kind and exposure.
        let activated = try SystemdListeners.take()
        try SystemdListeners.validate(activated)
        try checkExposure(of: activated)

        let state = try StateFolder(path: settings.stateDirectory)
        // Single node: SQLite in the state folder. Cluster: the registry bucket, no SQLite.
        let opened = try await openState(state, logger: logger)
        let (broker, identity, store, cluster) = (opened.broker, opened.identity, opened.store, opened.cluster)
        // Runs after the service group below has finished, i.e. after both ports have stopped writing.
        defer {
            store?.store.close()
            cluster?.shutdown()
        }

        let credentials =
            settings.authRequired
            ? CredentialsHolder(Credentials(accountSid: identity.accountSid, authToken: identity.authToken)) : nil
        cluster?.attach(broker, credentials: credentials)
        var reactorConfiguration = settings.reactor
        reactorConfiguration.credentials = credentials
        let reactor = try Reactor(broker: broker, configuration: reactorConfiguration, logger: logger)
        let data = try openDataListeners(activated: activated, state: state)
        for listener in data.all { try reactor.addListener(listener) }
        reactor.start()  // stopped by DataPlaneService, however the group ends
        let status = StatusReporter(broker: broker, reactor: reactor)

        let control = ControlServer(
            broker: broker,
            configuration: ControlAPIConfiguration(
                host: settings.controlListen.host,
                port: settings.controlListen.port,
                adoptedSocket: activated[SystemdListeners.Name.control]?.first,
                publicBaseURL: settings.publicURL,
                credentials: credentials,
                persistAuthToken: { token in
                    if let cluster {
                        try cluster.store.saveAuthToken(token)
                        return
                    }
                    try store?.saveIdentity(
                        StoredIdentity(
                            accountSid: identity.accountSid,
                            defaultServiceSid: identity.defaultServiceSid,
                            authToken: token
                        )
                    )
                },
                introspection: DaemonIntrospection(broker: broker, reactor: reactor, store: store, cluster: cluster),
                connectionLimits: settings.control
            ),
            logger: logger,
            onBound: { bound in
                // Every listener accepts now: the data port's were bound before the group started.
                let controlAddress = ListenAddress(host: bound.host, port: bound.port)
                logger.info(
                    "serving",
                    metadata: [
                        "data": "\(data.tcpAddress)", "control": "\(controlAddress)", "unix": "\(data.unixAddress)",
                    ]
                )
                print(
                    "ternd ready data=\(data.tcpAddress) control=\(controlAddress) unix=\(data.unixAddress) "
                        + "service=\(identity.defaultServiceSid) account=\(identity.accountSid)"
                )
                fflush(nil)
                if let cluster {
                    let (control, dataAddress) = ("\(controlAddress)", data.tcpAddress)
                    cluster.startHeartbeat {
                        cluster.nodeDocument(
                            control: control,
                            data: dataAddress,
                            streams: broker.streamCount,
                            connections: reactor.statistics.openConnections
                        )
                    }
                }
                notifier.ready(status: status.line())
            }
        )

        let reloadSignals = await ReloadService.trapping(stallOnUSR1: settings.debugStallOnUSR1)
        // Started together; on SIGTERM/SIGINT shut down in reverse order: STOPPING=1 first, the
        // timers, then the data plane (delivering what is buffered), the control port last.
        var configuration = ServiceGroupConfiguration(
            services: [
                .init(service: control, serviceName: "control port"),
                .init(
                    service: DataPlaneService(
                        reactor: reactor,
                        graceMilliseconds: settings.shutdownGraceMilliseconds,
                        logger: logger
                    ),
                    serviceName: "data plane"
                ),
                .init(service: ExpiryService(broker: broker), serviceName: "expiry"),
                .init(
                    service: WatchdogService(notifier: notifier, reactor: reactor, logger: logger),
                    serviceName: "watchdog"
                ),
                .init(
                    service: ReloadService(
                        signals: reloadSignals,
                        notifier: notifier,
                        status: status,
                        reactor: reactor,
                        stallOnUSR1: settings.debugStallOnUSR1,
                        reload: { reload(broker: broker, logger: logger) },
                        logger: logger
                    ),
                    serviceName: "reload"
                ),
                .init(
                    service: StatusService(
                        notifier: notifier,
                        status: status,
                        intervalMilliseconds: settings.statusIntervalMilliseconds,
                        logger: logger
                    ),
                    serviceName: "status"
                ),
            ],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger
        )
        configuration.maximumGracefulShutdownDuration = .milliseconds(
            settings.shutdownGraceMilliseconds + Self.shutdownMarginMilliseconds
        )
        try await ServiceGroup(configuration: configuration).run()
        if data.ownsUnixPath, let path = data.unixPath { unlink(path) }
        logger.info("stopped")
    }

    /// Time past the shutdown grace for the control port's requests in flight and the joins.
    static let shutdownMarginMilliseconds = 5_000

    /// Applies the loopback rule to systemd's sockets as `DaemonSettings` applies it to the flags.
    private func checkExposure(of activated: [String: [Int32]]) throws {
        var problems: [String] = []
        for (name, fds) in activated.sorted(by: { $0.key < $1.key }) {
            for fd in fds {
                let address = try ListenerAddress(of: fd)
                if let problem = DaemonSettings.exposureProblem(
                    "socket-activated '\(name)' socket (fd \(fd))",
                    address,
                    isLocalOnly: address.isLocalOnly,
                    authRequired: settings.authRequired
                ) {
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
                logger.error(
                    "reload refused: max payload \(new.limits.maxPayload) does not fit the running max frame \(settings.reactor.maxFrameBody)"
                )
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
                "reloaded: log level \(new.logLevel), max payload \(live.maxPayload), publish rate \(live.publishRatePerSecond)/s"
            )
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
