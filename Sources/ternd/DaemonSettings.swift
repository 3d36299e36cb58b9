import ArgumentParser
import Foundation
import Logging
import TernCluster
import TernControl
import TernCore
import TernNATS
import TernReactor

/// Validated settings for one daemon run, built from flags and the environment.
struct DaemonSettings {
    var stateDirectory: String
    var dataListen: ListenAddress
    var controlListen: ListenAddress
    var unixSocketPath: String?
    var publicURL: String?
    var limits = BrokerLimits()
    var reactor = ReactorConfiguration()
    var control = ControlConnectionLimits()
    var shutdownGraceMilliseconds: Int
    var logLevel: Logger.Level
    var authRequired: Bool
    var statusIntervalMilliseconds: Int
    var debugStallOnUSR1: Bool
    /// Cluster mode (`--cluster`); nil on a single node.
    var cluster: ClusterOptions?
    /// Every cluster setting as given (a change of any needs a restart).
    var clusterSettings: [String?] = []

    init(_ options: Ternd) throws {
        stateDirectory =
            options.stateDirectory ?? ProcessInfo.processInfo.environment["STATE_DIRECTORY"] ?? "ternd-state"
        dataListen = options.dataListen
        controlListen = options.controlListen
        switch options.unixSocket {
        case "none": unixSocketPath = nil
        case let path?: unixSocketPath = path
        case nil: unixSocketPath = ""  // resolved against the state folder at start
        }
        publicURL = options.publicURL
        if options.twilioLimits { limits = .twilio }
        if options.publishRate > 0 {
            limits.publishRatePerSecond = options.publishRate
            limits.publishBurst = options.publishBurst ?? max(1, options.publishRate)
        }
        if !options.twilioLimits || options.maxPayload.bytes != 4096 { limits.maxPayload = options.maxPayload.bytes }
        limits.ringBytes = options.ringBytes.bytes
        limits.resumeRetentionSeconds = options.resumeRetention
        limits.sharedMemory = options.sharedMemory == .on
        reactor.threads = options.threads
        reactor.maxFrameBody = options.maxFrame.bytes
        reactor.outBufferBytes = options.outBuffer.bytes
        reactor.readBudgetBytes = options.readBudget.bytes
        reactor.idleSpinMicroseconds = options.idleSpin
        control.maxConnections = options.controlMaxConnections
        control.headerTimeout = .milliseconds(Int(options.controlHeaderTimeout * 1000))
        control.requestTimeout = .milliseconds(Int(options.controlRequestTimeout * 1000))
        control.idleTimeout = .milliseconds(Int(options.controlIdleTimeout * 1000))
        control.maxHeaderBytes = options.controlMaxHeader.bytes
        reactor.maxConnections =
            options.maxConnections
            ?? FileDescriptorLimit.defaultDataConnections(controlConnections: control.maxConnections)
        reactor.maxSubscriptionsPerConnection = options.maxSubscriptions
        reactor.handshakeTimeoutMilliseconds = Int(options.handshakeTimeout * 1000)
        reactor.pingIntervalMilliseconds = Int(options.pingInterval * 1000)
        reactor.serverName = "ternd/\(Ternd.version)"
        reactor.tokenClockSkewSeconds = options.tokenClockSkew
        reactor.tokenExpiryWarningMilliseconds = Int(options.tokenExpiryWarning * 1000)
        shutdownGraceMilliseconds = Int(options.shutdownGrace * 1000)
        guard let level = Logger.Level(rawValue: options.logLevel) else {
            throw ValidationError("unknown log level '\(options.logLevel)'")
        }
        logLevel = level

        authRequired = options.auth == .required
        statusIntervalMilliseconds = Int(options.statusInterval * 1000)
        debugStallOnUSR1 = options.debugStallOnUSR1
        var problems = limits.problems() + reactor.problems(maxPayload: limits.maxPayload) + control.problems()
        clusterSettings = [
            options.cluster, options.clusterUser, options.clusterPassword, options.clusterToken, options.clusterTLSCA,
            options.clusterTLSCert, options.clusterTLSKey, options.clusterBucket, String(options.clusterReplicas),
            options.clusterNode,
        ]
        if let urls = options.cluster, !urls.isEmpty {
            if let servers = NATSServerAddress.list(urls) {
                let host = ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "ternd"
                var cluster = ClusterOptions(
                    servers: servers,
                    nodeName: options.clusterNode ?? "\(host)-\(controlListen.port)"
                )
                cluster.user = options.clusterUser
                cluster.password = options.clusterPassword
                cluster.token = options.clusterToken
                // An empty value (a TERND_* line left empty) means unset.
                let given = { (value: String?) in value.flatMap { $0.isEmpty ? nil : $0 } }
                let tls = NATSTLS(
                    caFile: given(options.clusterTLSCA),
                    certificateFile: given(options.clusterTLSCert),
                    keyFile: given(options.clusterTLSKey)
                )
                if tls.caFile != nil || tls.certificateFile != nil || tls.keyFile != nil {
                    do {
                        cluster.tls = try tls.makeContext()
                    } catch {
                        problems.append("cluster TLS: \(error)")
                    }
                }
                cluster.bucket = options.clusterBucket
                cluster.replicas = options.clusterReplicas
                self.cluster = cluster
                if !(1...5).contains(options.clusterReplicas) { problems.append("cluster replicas must be 1 to 5") }
                if options.clusterBucket.isEmpty
                    || !options.clusterBucket.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" })
                {
                    problems.append("cluster bucket must be letters, digits, '-' or '_'")
                }
                if cluster.nodeName.isEmpty
                    || cluster.nodeName.contains(where: { $0 == "." || $0 == " " || $0 == "*" || $0 == ">" })
                {
                    problems.append("cluster node name must not be empty or hold '.', ' ', '*' or '>'")
                }
            } else {
                problems.append("--cluster '\(urls)' is not a list of nats://HOST:PORT URLs")
            }
        }
        if let problem = Self.exposureProblem(
            "data port",
            dataListen,
            isLocalOnly: dataListen.isLoopback,
            authRequired: authRequired
        ) {
            problems.append(problem)
        }
        if let problem = Self.exposureProblem(
            "control port",
            controlListen,
            isLocalOnly: controlListen.isLoopback,
            authRequired: authRequired
        ) {
            problems.append(problem)
        }
        if shutdownGraceMilliseconds < 0 { problems.append("shutdown grace must not be negative") }
        if statusIntervalMilliseconds < 100 { problems.append("status interval must be at least 0.1 s") }
        if !problems.isEmpty { throw ValidationError(problems.joined(separator: "\n")) }
    }

    /// The one exposure rule, for bound and socket-activated listeners alike: without
    /// credentials, nothing may be reachable from other hosts.
    static func exposureProblem(
        _ listener: String,
        _ address: any CustomStringConvertible,
        isLocalOnly: Bool,
        authRequired: Bool
    ) -> String? {
        guard !authRequired && !isLocalOnly else { return nil }
        return "\(listener) \(address) is not a loopback address: serving other hosts needs --auth required"
    }

    /// Settings that differ from `running` but only take effect after a restart.
    func restartOnlyDifferences(from running: DaemonSettings) -> [String] {
        var names: [String] = []
        if stateDirectory != running.stateDirectory { names.append("state-dir") }
        if dataListen.description != running.dataListen.description { names.append("data-listen") }
        if controlListen.description != running.controlListen.description { names.append("control-listen") }
        if unixSocketPath != running.unixSocketPath { names.append("unix-socket") }
        if publicURL != running.publicURL { names.append("public-url") }
        if reactor.threads != running.reactor.threads { names.append("threads") }
        if reactor.maxFrameBody != running.reactor.maxFrameBody { names.append("max-frame") }
        if reactor.outBufferBytes != running.reactor.outBufferBytes { names.append("out-buffer") }
        if reactor.readBudgetBytes != running.reactor.readBudgetBytes { names.append("read-budget") }
        if reactor.idleSpinMicroseconds != running.reactor.idleSpinMicroseconds { names.append("idle-spin") }
        if reactor.maxConnections != running.reactor.maxConnections { names.append("max-connections") }
        if control.maxConnections != running.control.maxConnections { names.append("control-max-connections") }
        if control.headerTimeout != running.control.headerTimeout { names.append("control-header-timeout") }
        if control.requestTimeout != running.control.requestTimeout { names.append("control-request-timeout") }
        if control.idleTimeout != running.control.idleTimeout { names.append("control-idle-timeout") }
        if control.maxHeaderBytes != running.control.maxHeaderBytes { names.append("control-max-header") }
        if reactor.maxSubscriptionsPerConnection != running.reactor.maxSubscriptionsPerConnection {
            names.append("max-subscriptions")
        }
        if reactor.handshakeTimeoutMilliseconds != running.reactor.handshakeTimeoutMilliseconds {
            names.append("handshake-timeout")
        }
        if reactor.pingIntervalMilliseconds != running.reactor.pingIntervalMilliseconds {
            names.append("ping-interval")
        }
        if limits.ringBytes != running.limits.ringBytes { names.append("ring-bytes") }
        if limits.sharedMemory != running.limits.sharedMemory { names.append("shared-memory") }
        if clusterSettings != running.clusterSettings { names.append("cluster") }
        if authRequired != running.authRequired { names.append("auth") }
        if reactor.tokenClockSkewSeconds != running.reactor.tokenClockSkewSeconds { names.append("token-clock-skew") }
        if reactor.tokenExpiryWarningMilliseconds != running.reactor.tokenExpiryWarningMilliseconds {
            names.append("token-expiry-warning")
        }
        return names
    }
}
