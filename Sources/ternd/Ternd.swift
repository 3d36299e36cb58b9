import ArgumentParser
import Foundation
import Logging
import TernControl
import TernCore
import TernReactor

/// `ternd`: the Tern broker daemon. Every flag also reads `TERND_<NAME>` from the environment.
@main
struct Ternd: AsyncParsableCommand {
    static let version = "0.1.0"

    static let configuration = CommandConfiguration(
        commandName: "ternd",
        abstract: "Tern: a pub-sub broker with a Twilio Sync Streams REST API and a fast binary data port.",
        version: version
    )

    @Option(
        name: .customLong("state-dir"),
        help: "Folder for the daemon's state (default: $STATE_DIRECTORY, else ./ternd-state)."
    )
    var stateDirectory: String?

    @Option(name: .customLong("data-listen"), help: "Data port TCP address (HOST:PORT; port 0 picks one).")
    var dataListen = ListenAddress(host: "127.0.0.1", port: 7400)

    @Option(name: .customLong("control-listen"), help: "Control (REST) port address (HOST:PORT).")
    var controlListen = ListenAddress(host: "127.0.0.1", port: 7480)

    @Option(
        name: .customLong("unix-socket"),
        help: "Data port Unix socket path, or 'none' (default: <state-dir>/ternd.sock)."
    )
    var unixSocket: String?

    @Option(
        name: .customLong("public-url"),
        help: "Base URL used in REST responses (default: from the request's Host header)."
    )
    var publicURL: String?

    /// Half the cores: the workers Tern fans out to usually share the host, and a reactor thread
    /// per core takes their CPU (Benchmarks/RESULTS.md, "Both cores").
    @Option(help: "Reactor threads (default: half the cores, at least 1).")
    var threads: Int = max(1, ProcessInfo.processInfo.activeProcessorCount / 2)

    @Option(name: .customLong("max-payload"), help: "Largest message payload (PAYLOAD_TOO_LARGE / REST 54006).")
    var maxPayload = ByteCount(4096)

    @Option(name: .customLong("max-frame"), help: "Largest data-port frame body (FRAME_TOO_LARGE).")
    var maxFrame = ByteCount(8192)

    @Option(name: .customLong("out-buffer"), help: "Bytes queued per connection before its messages are dropped.")
    var outBuffer = ByteCount(1 << 20)

    @Option(name: .customLong("ring-bytes"), help: "Ring size per stream with subscribers (power of two).")
    var ringBytes = ByteCount(1 << 20)

    @Option(
        name: .customLong("resume-retention"),
        help:
            "Seconds a stream's ring is kept after its last subscriber leaves, for resumes (0: free at once; reloadable)."
    )
    var resumeRetention: Double = 60

    @Option(
        name: .customLong("shared-memory"),
        help:
            "Shared-memory subscriptions over the Unix socket: 'on' (rings in sealed memfds that local readers map read-only) or 'off' (SHARED_MEMORY_UNAVAILABLE)."
    )
    var sharedMemory: Switch = .on

    @Option(
        name: .customLong("read-budget"),
        help:
            "Bytes a reactor thread may read from publishers in one turn before delivering (also each data connection's receive buffer)."
    )
    var readBudget = ByteCount(4 << 20)

    @Option(
        name: .customLong("idle-spin"),
        help:
            "Microseconds a reactor thread polls without sleeping after each turn (0: sleep at once; spinning trades a core for wake-up latency)."
    )
    var idleSpin = 0

    @Option(
        name: .customLong("max-connections"),
        help:
            "Data-port connections (TOO_MANY_CONNECTIONS) (default: what the file-descriptor limit leaves after the control port, at most 65536)."
    )
    var maxConnections: Int?

    @Option(name: .customLong("control-max-connections"), help: "Control-port connections at once (503/20503 past it).")
    var controlMaxConnections = 512

    @Option(
        name: .customLong("control-header-timeout"),
        help: "Seconds a control connection has to send a complete request head (408/20408)."
    )
    var controlHeaderTimeout: Double = 10

    @Option(
        name: .customLong("control-request-timeout"),
        help: "Seconds from a request head to the end of its body (408/20408)."
    )
    var controlRequestTimeout: Double = 30

    @Option(
        name: .customLong("control-idle-timeout"),
        help: "Seconds a keep-alive control connection may wait between requests."
    )
    var controlIdleTimeout: Double = 60

    @Option(
        name: .customLong("control-max-header"),
        help: "Bytes of request line and headers on the control port (431/20431)."
    )
    var controlMaxHeader = ByteCount(16 << 10)

    @Option(name: .customLong("max-subscriptions"), help: "Streams per connection (TOO_MANY_SUBSCRIPTIONS).")
    var maxSubscriptions = 1024

    @Option(
        name: .customLong("publish-rate"),
        help: "Publishes per second per stream, on average (0: unlimited). RATE_LIMITED / REST 429 54009."
    )
    var publishRate: Double = 0

    @Option(
        name: .customLong("publish-burst"),
        help: "Publishes a stream may burst above its rate (default: the rate)."
    )
    var publishBurst: Double?

    @Flag(
        name: .customLong("twilio-limits"),
        help: "Twilio's limits: 4 KiB payloads and 30 publishes per second per stream."
    )
    var twilioLimits = false

    @Option(
        help:
            "Credentials: 'required' (HTTP Basic on REST, token in HELLO) or 'off'. Non-loopback listeners need 'required'."
    )
    var auth: AuthMode = .off

    @Option(
        name: .customLong("token-clock-skew"),
        help:
            "Seconds of clock difference allowed on an Access Token's nbf and exp (TOKEN_NOT_YET_VALID / TOKEN_EXPIRED)."
    )
    var tokenClockSkew = 10

    @Option(
        name: .customLong("token-expiry-warning"),
        help: "Seconds before its Access Token expires that a version-2 connection gets TOKEN_EXPIRING."
    )
    var tokenExpiryWarning: Double = 60

    @Option(name: .customLong("handshake-timeout"), help: "Seconds a new connection has to send HELLO.")
    var handshakeTimeout: Double = 10

    @Option(name: .customLong("ping-interval"), help: "Seconds of silence before the server PINGs a client (0: never).")
    var pingInterval: Double = 30

    @Option(name: .customLong("shutdown-grace"), help: "Seconds to deliver buffered frames on SIGTERM.")
    var shutdownGrace: Double = 5

    @Option(
        name: .customLong("status-interval"),
        help: "Seconds between STATUS= lines to systemd and status log lines."
    )
    var statusInterval: Double = 5

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"

    @Option(
        help:
            "Cluster mode: NATS server URLs (nats://HOST:PORT,...) with JetStream; the registry lives in a KV bucket there (default: single node, SQLite)."
    )
    var cluster: String?

    @Option(name: .customLong("cluster-user"), help: "Cluster mode: NATS user name.")
    var clusterUser: String?

    @Option(name: .customLong("cluster-password"), help: "Cluster mode: NATS password.")
    var clusterPassword: String?

    @Option(name: .customLong("cluster-token"), help: "Cluster mode: NATS auth token.")
    var clusterToken: String?

    @Option(
        name: .customLong("cluster-tls-ca"),
        help:
            "Cluster mode: PEM file of the CA certificates that sign the NATS servers' certificates; turns TLS on (default: the system's roots, for tls:// URLs or servers that require TLS)."
    )
    var clusterTLSCA: String?

    @Option(
        name: .customLong("cluster-tls-cert"),
        help:
            "Cluster mode: PEM client certificate for NATS servers that verify clients (with --cluster-tls-key); turns TLS on."
    )
    var clusterTLSCert: String?

    @Option(name: .customLong("cluster-tls-key"), help: "Cluster mode: PEM private key of --cluster-tls-cert.")
    var clusterTLSKey: String?

    @Option(
        name: .customLong("cluster-bucket"),
        help: "Cluster mode: the registry KV bucket, also the message subjects' namespace."
    )
    var clusterBucket = "tern"

    @Option(
        name: .customLong("cluster-replicas"),
        help: "Cluster mode: replicas of the registry bucket when this node creates it (1 to 5)."
    )
    var clusterReplicas = 3

    @Option(
        name: .customLong("cluster-node"),
        help: "Cluster mode: this node's name in 'tern cluster status' (default: HOSTNAME-CONTROLPORT)."
    )
    var clusterNode: String?

    @Option(help: "Settings file of TERND_NAME=value lines (as /etc/default/ternd); re-read on SIGHUP.")
    var config: String?

    @Flag(name: .customLong("check-config"), help: "Validate the configuration and exit.")
    var checkConfig = false

    @Flag(name: .customLong("debug-stall-on-usr1"), help: .hidden)
    var debugStallOnUSR1 = false

    /// Option names that `TERND_*` variables may set.
    static let environmentOptionNames = [
        "state-dir", "data-listen", "control-listen", "unix-socket", "public-url", "threads", "max-payload",
        "max-frame", "out-buffer", "ring-bytes", "resume-retention", "shared-memory", "read-budget", "idle-spin",
        "max-connections",
        "max-subscriptions", "handshake-timeout",
        "control-max-connections", "control-header-timeout", "control-request-timeout", "control-idle-timeout",
        "control-max-header",
        "ping-interval", "shutdown-grace", "log-level", "publish-rate", "publish-burst", "auth",
        "status-interval", "token-clock-skew", "token-expiry-warning",
        "cluster", "cluster-user", "cluster-password", "cluster-token", "cluster-tls-ca", "cluster-tls-cert",
        "cluster-tls-key", "cluster-bucket", "cluster-replicas", "cluster-node",
    ]

    static func main() async {
        LoggingSystem.bootstrap { DaemonLogHandler(label: $0) }
        FileDescriptorLimit.raiseSoftLimitToHard()
        do {
            var command = try parseAsRoot(try effectiveArguments())
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }

    /// The command line, completed from the config file and then the environment: a flag given
    /// on the command line wins over the config file, which wins over `TERND_*` variables.
    static func effectiveArguments() throws -> [String] {
        let given = Array(CommandLine.arguments.dropFirst())
        var arguments = given
        let environment = ProcessInfo.processInfo.environment
        let configPath =
            given.firstIndex(of: "--config").flatMap { given.indices.contains($0 + 1) ? given[$0 + 1] : nil }
            ?? given.first { $0.hasPrefix("--config=") }.map { String($0.dropFirst("--config=".count)) }
            ?? environment["TERND_CONFIG"]
        if let configPath {
            arguments = EnvironmentOptions.merged(
                arguments: arguments,
                environment: try ConfigFile.read(configPath),
                optionNames: environmentOptionNames
            )
        }
        return EnvironmentOptions.merged(
            arguments: arguments,
            environment: environment,
            optionNames: environmentOptionNames
        )
    }

    /// Settings as they would be if the daemon started now (for SIGHUP).
    static func currentSettings() throws -> DaemonSettings {
        try DaemonSettings(try parse(try effectiveArguments()))
    }

    enum AuthMode: String, ExpressibleByArgument, Sendable {
        case off, required
    }

    enum Switch: String, ExpressibleByArgument, Sendable {
        case on, off
    }

    func run() async throws {
        let settings = try DaemonSettings(self)
        if checkConfig {
            print("configuration OK")
            return
        }
        try await Daemon(settings: settings).run()
    }
}
