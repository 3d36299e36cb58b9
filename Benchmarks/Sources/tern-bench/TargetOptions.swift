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

    @Option(
        help: """
            How Tern subscribers get messages: socket, or shm (they map the stream's ring in shared memory; \
            --data must be ternd's Unix socket).
            """
    )
    var delivery: DeliveryChoice = .socket

    @Option(
        help: """
            Tern: comma-separated data addresses the subscribers connect to in turn, e.g. the other nodes \
            of a cluster (default: --data, where the publisher and setup go).
            """
    )
    var subscriberData: String?

    @Flag(help: "With --delivery shm: readers never sleep (lowest latency, a core busy).")
    var spin = false

    @Option(
        help: """
            With --delivery shm: threads the subscribers are dealt to (as reader processes would spread over \
            the cores; ternd does no per-subscriber work for them).
            """
    )
    var readerThreads = 1

    @Flag(
        help: """
            With --spin: the publisher runs on the readers' thread, between their passes, instead of a \
            thread of its own (no wake-up between stamping a message and reading it).
            """
    )
    var inlinePublisher = false

    @Option(help: "Pin the publisher thread(s) to this CPU (default: where the scheduler or taskset puts them).")
    var publisherCpu: Int?

    @Option(help: "Pin the receiving thread (the subscribers' epoll loop or shared-memory readers) to this CPU.")
    var receiverCpu: Int?

    @Flag(help: "Print the result as one JSON object.")
    var json = false

    enum DeliveryChoice: String, ExpressibleByArgument, CaseIterable {
        case socket, shm
    }

    func validate() throws {
        if delivery == .shm && broker != .tern { throw ValidationError("--delivery shm is Tern's only") }
        if spin && delivery != .shm { throw ValidationError("--spin needs --delivery shm") }
        if subscriberData != nil && (broker != .tern || delivery == .shm) {
            throw ValidationError("--subscriber-data is for Tern subscribers over sockets")
        }
        for cpu in [publisherCpu, receiverCpu].compactMap({ $0 }) where cpu < 0 || cpu >= 1024 {
            throw ValidationError("a CPU number must be 0 to 1023")
        }
        if inlinePublisher && !spin { throw ValidationError("--inline-publisher needs --spin") }
        if inlinePublisher && publisherCpu != nil {
            throw ValidationError("--inline-publisher runs on the readers' thread: no --publisher-cpu")
        }
        if readerThreads < 1 || readerThreads > 64 { throw ValidationError("--reader-threads must be 1 to 64") }
    }

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
        var target = LoadTarget(
            broker: broker,
            address: address ?? (broker == .tern ? ternData : broker.defaultAddress),
            tern: tern,
            ternDelivery: delivery == .shm ? .sharedMemory(spin: spin, readerThreads: readerThreads) : .socket
        )
        target.ternSubscriberAddresses = subscriberData?.split(separator: ",").map(String.init) ?? []
        target.publisherCPU = publisherCpu
        target.receiverCPU = receiverCpu
        target.inlinePublisher = inlinePublisher
        return target
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
