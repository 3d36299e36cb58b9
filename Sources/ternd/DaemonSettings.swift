import ArgumentParser
import Foundation
import Logging
import TernCore
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
    var shutdownGraceMilliseconds: Int
    var logLevel: Logger.Level
    var authRequired: Bool

    init(_ options: Ternd) throws {
        stateDirectory = options.stateDirectory ?? ProcessInfo.processInfo.environment["STATE_DIRECTORY"] ?? "ternd-state"
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
        reactor.threads = options.threads
        reactor.maxFrameBody = options.maxFrame.bytes
        reactor.outBufferBytes = options.outBuffer.bytes
        reactor.maxConnections = options.maxConnections
        reactor.maxSubscriptionsPerConnection = options.maxSubscriptions
        reactor.handshakeTimeoutMilliseconds = Int(options.handshakeTimeout * 1000)
        reactor.pingIntervalMilliseconds = Int(options.pingInterval * 1000)
        reactor.serverName = "ternd/\(Ternd.version)"
        shutdownGraceMilliseconds = Int(options.shutdownGrace * 1000)
        guard let level = Logger.Level(rawValue: options.logLevel) else {
            throw ValidationError("unknown log level '\(options.logLevel)'")
        }
        logLevel = level

        authRequired = options.auth == .required
        var problems = limits.problems() + reactor.problems(maxPayload: limits.maxPayload)
        // Without credentials, nothing may be reachable from other hosts.
        if !authRequired && !dataListen.isLoopback {
            problems.append("data port \(dataListen) is not a loopback address: serving other hosts needs --auth required")
        }
        if !authRequired && !controlListen.isLoopback {
            problems.append("control port \(controlListen) is not a loopback address: serving other hosts needs --auth required")
        }
        if shutdownGraceMilliseconds < 0 { problems.append("shutdown grace must not be negative") }
        if !problems.isEmpty { throw ValidationError(problems.joined(separator: "\n")) }
    }
}
