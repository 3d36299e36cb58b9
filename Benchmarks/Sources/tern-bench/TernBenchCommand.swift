import ArgumentParser

/// `tern-bench`: the load generator that measures ternd, nats-server, redis-server and the ideal
/// relay with the same workloads. Not part of what `make install` ships.
@main
struct TernBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tern-bench",
        abstract: "Load generators that measure ternd, nats-server or redis-server with the same workloads.",
        discussion: """
            Every workload takes --broker tern|nats|redis|relay and --address HOST:PORT. Payloads are JSON \
            objects carrying their send time and per-stream sequence; latency percentiles come from \
            HdrHistogram. `relay` is the ideal relay (`tern-bench relay`): the same bytes, no broker logic.
            """,
        subcommands: [
            BenchFanoutCommand.self, BenchLatencyCommand.self, BenchManyStreamsCommand.self,
            BenchPublishersCommand.self, BenchIdleCommand.self, BenchRelayCommand.self,
        ]
    )
}
