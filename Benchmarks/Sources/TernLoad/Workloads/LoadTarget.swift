import ArgumentParser

/// Which broker a bench measures and where it is; shared by every load workload.
struct BenchTargetOptions: ParsableArguments {
    @OptionGroup var connection: ConnectionOptions

    @Option(help: "Broker to measure: tern, nats, redis, or relay (the ideal relay of `tern bench relay`).")
    var broker: BenchBrokerKind = .tern

    @Option(help: """
        Broker address HOST:PORT (default: tern --data or $TERN_DATA, nats 127.0.0.1:4222, \
        redis 127.0.0.1:6379, relay 127.0.0.1:7499).
        """)
    var address: String?

    @Flag(help: "Print the result as one JSON object.")
    var json = false

    var resolvedAddress: String {
        if let address { return address }
        return broker == .tern ? connection.dataAddress : broker.defaultAddress
    }

    /// Names for this run's NATS subjects and Redis channels, fresh each run.
    private var runPrefix: String {
        var generator = SystemRandomNumberGenerator()
        return String(generator.next() as UInt64, radix: 16)
    }

    func run(_ plan: BenchRun, fixedStream: String? = nil, ternStreamPrefix: String = "bench-stream") throws
        -> BenchReport
    {
        let address = resolvedAddress
        switch broker {
        case .tern:
            var peer = TernBenchPeer(
                dataAddress: address, connection: connection, fixedStream: fixedStream, streamPrefix: ternStreamPrefix)
            return try plan.execute(&peer, broker: broker, address: address)
        case .nats:
            var peer = NATSBenchPeer(address: address, subjectPrefix: fixedStream ?? "bench.\(runPrefix)")
            return try plan.execute(&peer, broker: broker, address: address)
        case .redis:
            var peer = RedisBenchPeer(address: address, channelPrefix: fixedStream ?? "bench:\(runPrefix)")
            return try plan.execute(&peer, broker: broker, address: address)
        case .relay:
            var peer = RelayBenchPeer(address: address)
            return try plan.execute(&peer, broker: broker, address: address)
        }
    }

    func runIdle(_ idle: BenchIdleRun) throws -> IdleReport {
        let address = resolvedAddress
        switch broker {
        case .tern:
            var peer = TernBenchPeer(
                dataAddress: address, connection: connection, fixedStream: nil, streamPrefix: "bench-idle")
            return try idle.execute(&peer, broker: broker, address: address)
        case .nats:
            var peer = NATSBenchPeer(address: address, subjectPrefix: "bench.\(runPrefix)")
            return try idle.execute(&peer, broker: broker, address: address)
        case .redis:
            var peer = RedisBenchPeer(address: address, channelPrefix: "bench:\(runPrefix)")
            return try idle.execute(&peer, broker: broker, address: address)
        case .relay:
            var peer = RelayBenchPeer(address: address)
            return try idle.execute(&peer, broker: broker, address: address)
        }
    }

    func print(_ report: BenchReport) {
        Output.line(json ? report.json : report.text)
        Output.flush()
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
