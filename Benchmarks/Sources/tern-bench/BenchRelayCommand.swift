import ArgumentParser
import Glibc
import TernLoad

/// `tern-bench relay`: serve the ideal relay that `--broker relay` measures.
struct BenchRelayCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "relay",
        abstract: "Run the ideal relay: the publisher's bytes to every subscriber, no broker logic.",
        discussion: """
            Prints `relay ready address=HOST:PORT` once listening, then serves on one thread until \
            --max-seconds pass or it is signalled. Measure it with `tern-bench fanout --broker relay`.
            """
    )

    @Option(help: "Listen address (IPv4 HOST:PORT; port 0 picks one).")
    var listen = "127.0.0.1:7499"

    @Option(help: "Bytes read from the publisher per batch (Tern's reactor batch is 256 KiB).")
    var batchBytes = 256 << 10

    @Option(help: "Bytes queued per subscriber before the relay stops reading publishers (Tern's out-buffer: 1 MiB).")
    var maxPending = 1 << 20

    @Option(help: "Seconds after which the relay exits on its own.")
    var maxSeconds: Double = 3600

    func validate() throws {
        guard batchBytes >= 4096 else { throw ValidationError("--batch-bytes must be at least 4096") }
        guard maxPending >= batchBytes else { throw ValidationError("--max-pending must be at least --batch-bytes") }
        guard maxSeconds > 0 else { throw ValidationError("--max-seconds must be positive") }
    }

    func run() throws {
        signal(SIGPIPE, SIG_IGN)
        try FileDescriptorLimit.require(64)
        let relay = try BenchRelay(listen: listen, batchBytes: batchBytes, maxPendingBytes: maxPending)
        Console.line("relay ready address=\(relay.boundAddress)")
        relay.run(forSeconds: maxSeconds)
    }
}
