import ArgumentParser
import Foundation
import TernLoad

extension BenchBrokerKind: ExpressibleByArgument {}

/// Which broker a workload measures and where it is; shared by every load workload. The Tern
/// options (`--data`, `--control`, `--service`, credentials) are `tern`'s, with its environment
/// variables: flags win over `TERN_*`, which win over `TWILIO_*` and the defaults.
struct TargetOptions: ParsableArguments {
    @Option(help: "Tern data port: HOST:PORT or a Unix socket path (env TERN_DATA; default 127.0.0.1:7400).")
    var data: String?

    @Option(help: "Tern control port base URL (env TERN_CONTROL; default http://127.0.0.1:7480).")
    var control: String?

    @Option(help: "Tern Sync service sid (env TERN_SERVICE_SID; default: the server's first service).")
    var service: String?

    @Option(help: "Tern account sid for HTTP Basic auth (env TERN_ACCOUNT_SID, else TWILIO_ACCOUNT_SID).")
    var accountSid: String?

    @Option(help: "Tern auth token for HTTP Basic auth (env TERN_AUTH_TOKEN, else TWILIO_AUTH_TOKEN).")
    var authToken: String?

    @Option(
        help: """
            Token every Tern data-port connection presents in HELLO: an Access Token (`tern token create`) \
            (env TERN_ACCESS_TOKEN; default: the auth token, if any).
            """
    )
    var accessToken: String?

    @Option(help: "Broker to measure: tern, nats, redis, or relay (the ideal relay of `tern-bench relay`).")
    var broker: BenchBrokerKind = .tern

    @Option(
        help: """
            Broker address HOST:PORT (default: tern --data or $TERN_DATA, nats 127.0.0.1:4222, \
            redis 127.0.0.1:6379, relay 127.0.0.1:7499).
            """
    )
    var address: String?

    @Flag(help: "Print the result as one JSON object.")
    var json = false

    var loadTarget: LoadTarget {
        let environment = ProcessInfo.processInfo.environment
        let tern = TernEndpoint(
            controlURL: control ?? environment["TERN_CONTROL"] ?? "http://127.0.0.1:7480",
            serviceSid: service ?? environment["TERN_SERVICE_SID"],
            accountSid: accountSid ?? environment["TERN_ACCOUNT_SID"] ?? environment["TWILIO_ACCOUNT_SID"],
            authToken: authToken ?? environment["TERN_AUTH_TOKEN"] ?? environment["TWILIO_AUTH_TOKEN"],
            accessToken: accessToken ?? environment["TERN_ACCESS_TOKEN"]
        )
        let ternData = data ?? environment["TERN_DATA"] ?? BenchBrokerKind.tern.defaultAddress
        return LoadTarget(
            broker: broker,
            address: address ?? (broker == .tern ? ternData : broker.defaultAddress),
            tern: tern
        )
    }

    /// Prints a report as text or, with `--json`, as one JSON object (what `Benchmarks/compare` reads).
    func print(text: String, json object: String) {
        Console.line(json ? object : text)
    }

    func print(_ report: BenchReport) {
        print(text: report.text, json: report.json)
    }
}

/// Checks shared by the load workloads.
enum BenchValidation {
    static func payload(_ size: Int) throws {
        guard size >= BenchPayload.minimumSize else {
            throw ValidationError("--payload must be at least \(BenchPayload.minimumSize) bytes")
        }
    }

    static func positive(_ value: Double, _ name: String) throws {
        guard value > 0 else { throw ValidationError("\(name) must be positive") }
    }

    static func atLeastOne(_ value: Int, _ name: String) throws {
        guard value >= 1 else { throw ValidationError("\(name) must be at least 1") }
    }
}

/// stdout, unbuffered: a line is out (to a pipe too) when `line` returns, which the relay's ready
/// line needs.
enum Console {
    static func line(_ text: String) {
        FileHandle.standardOutput.write(Data((text + "\n").utf8))
    }
}
