import ArgumentParser
import TernLoad

/// `tern-bench fanout`: one publisher, N subscribers on one stream, as fast as possible (or paced).
struct BenchFanoutCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fanout",
        abstract: "Measure fan-out: one publisher, N subscribers, throughput and latency.",
        discussion: """
            Subscribers share one epoll thread; the publisher runs on another, writing coalesced batches. \
            Latency is the time from stamping a batch to reading it, sampled on a few subscribers spread \
            over the range (named in the output). Delivery ratio = delivered / (published × subscribers).
            """
    )

    @OptionGroup var target: TargetOptions

    @Option(help: "Subscriber connections.")
    var subscribers: Int = 16

    @Option(help: "Payload size in bytes (a JSON object of exactly this size; at least \(BenchPayload.minimumSize)).")
    var payload: Int = 64

    @Option(help: "Seconds to publish.")
    var duration: Double = 5

    @Option(help: "Messages per second, evenly paced (default: as fast as possible).")
    var rate: Double?

    @Option(help: "Use (or create) the stream (Tern) or subject/channel (NATS, Redis) with this name; default: fresh.")
    var stream: String?

    @Option(help: "How many subscribers sample latency (spread evenly).")
    var latencySubscribers: Int = 4

    @Option(
        help: """
            Lossless: at most this many bytes of messages in flight beyond what the slowest subscriber has \
            received (the publisher waits for credit); default: no window, the broker may drop.
            """
    )
    var window: Int?

    func validate() throws {
        try BenchValidation.atLeastOne(subscribers, "--subscribers")
        try BenchValidation.payload(payload)
        try BenchValidation.positive(duration, "--duration")
        if let rate { try BenchValidation.positive(rate, "--rate") }
        try BenchValidation.atLeastOne(latencySubscribers, "--latency-subscribers")
        if let window { try BenchValidation.atLeastOne(window, "--window") }
    }

    func run() throws {
        var plan = BenchRun(workload: "fanout")
        plan.subscribersPerStream = subscribers
        plan.payloadSize = payload
        plan.durationSeconds = duration
        plan.rate = rate
        plan.latencySubscribers = latencySubscribers
        plan.windowBytes = window
        target.print(try target.loadTarget.run(plan, fixedStream: stream))
    }
}

/// `tern-bench latency`: a fixed, evenly paced rate to N subscribers; every subscriber samples.
struct BenchLatencyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "latency",
        abstract: "Measure delivery latency at a fixed publish rate: p50, p90, p99, p99.9, max."
    )

    @OptionGroup var target: TargetOptions

    @Option(help: "Subscriber connections (all sample latency).")
    var subscribers: Int = 100

    @Option(help: "Messages per second, evenly paced.")
    var rate: Double = 10_000

    @Option(help: "Payload size in bytes (at least \(BenchPayload.minimumSize)).")
    var payload: Int = 64

    @Option(help: "Seconds to publish.")
    var duration: Double = 5

    @Option(
        help: """
            Lossless: at most this many bytes of messages in flight beyond what the slowest subscriber has \
            received (the publisher waits for credit); default: no window, the broker may drop.
            """
    )
    var window: Int?

    func validate() throws {
        try BenchValidation.atLeastOne(subscribers, "--subscribers")
        try BenchValidation.positive(rate, "--rate")
        if let window { try BenchValidation.atLeastOne(window, "--window") }
        try BenchValidation.payload(payload)
        try BenchValidation.positive(duration, "--duration")
    }

    func run() throws {
        var plan = BenchRun(workload: "latency")
        plan.subscribersPerStream = subscribers
        plan.rate = rate
        plan.payloadSize = payload
        plan.durationSeconds = duration
        plan.latencySubscribers = nil
        plan.windowBytes = window
        target.print(try target.loadTarget.run(plan))
    }
}

/// `tern-bench manystreams`: S streams × K subscribers each; one publisher round-robin over them.
struct BenchManyStreamsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "manystreams",
        abstract: "Measure many streams: S streams × K subscribers, one publisher writing round-robin.",
        discussion: "Tern streams are named <prefix>-<i>, created when missing and kept for later runs."
    )

    @OptionGroup var target: TargetOptions

    @Option(help: "Streams (each with its own subscribers).")
    var streams: Int = 1000

    @Option(help: "Subscribers per stream.")
    var subscribersPerStream: Int = 1

    @Option(help: "Payload size in bytes (at least \(BenchPayload.minimumSize)).")
    var payload: Int = 64

    @Option(help: "Seconds to publish.")
    var duration: Double = 5

    @Option(help: "Messages per second over all streams, evenly paced (default: as fast as possible).")
    var rate: Double?

    @Option(help: "How many subscribers sample latency (spread evenly).")
    var latencySubscribers: Int = 16

    @Option(help: "Tern stream name prefix.")
    var streamPrefix = "bench-ms"

    @Option(
        help: """
            Lossless: at most this many bytes of messages in flight beyond what the slowest subscriber has \
            received (the publisher waits for credit); default: no window, the broker may drop.
            """
    )
    var window: Int?

    func validate() throws {
        try BenchValidation.atLeastOne(streams, "--streams")
        try BenchValidation.atLeastOne(subscribersPerStream, "--subscribers-per-stream")
        try BenchValidation.payload(payload)
        try BenchValidation.positive(duration, "--duration")
        if let rate { try BenchValidation.positive(rate, "--rate") }
        if let window { try BenchValidation.atLeastOne(window, "--window") }
    }

    func run() throws {
        var plan = BenchRun(workload: "manystreams")
        plan.streams = streams
        plan.subscribersPerStream = subscribersPerStream
        plan.payloadSize = payload
        plan.durationSeconds = duration
        plan.rate = rate
        plan.latencySubscribers = latencySubscribers
        plan.windowBytes = window
        target.print(try target.loadTarget.run(plan, ternStreamPrefix: streamPrefix))
    }
}

/// `tern-bench publishers`: P publishers into one stream, or each into its own.
struct BenchPublishersCommand: ParsableCommand {
    enum Layout: String, ExpressibleByArgument, CaseIterable {
        /// All publishers write to one stream.
        case shared
        /// Publisher p writes to stream p.
        case own
    }

    static let configuration = CommandConfiguration(
        commandName: "publishers",
        abstract: "Measure many publishers: P publishers into one stream (shared) or into P streams (own)."
    )

    @OptionGroup var target: TargetOptions

    @Option(help: "Publisher connections, each on its own thread.")
    var publishers: Int = 4

    @Option(help: "shared: one stream for all; own: one stream per publisher.")
    var layout: Layout = .shared

    @Option(help: "Subscribers per stream.")
    var subscribersPerStream: Int = 4

    @Option(help: "Payload size in bytes (at least \(BenchPayload.minimumSize)).")
    var payload: Int = 64

    @Option(help: "Seconds to publish.")
    var duration: Double = 5

    @Option(help: "Messages per second over all publishers (default: as fast as possible).")
    var rate: Double?

    func validate() throws {
        try BenchValidation.atLeastOne(publishers, "--publishers")
        try BenchValidation.atLeastOne(subscribersPerStream, "--subscribers-per-stream")
        try BenchValidation.payload(payload)
        try BenchValidation.positive(duration, "--duration")
        if let rate { try BenchValidation.positive(rate, "--rate") }
    }

    func run() throws {
        var plan = BenchRun(workload: "publishers")
        plan.publishers = publishers
        plan.streams = layout == .shared ? 1 : publishers
        plan.publisherStreams = layout == .shared ? .all : .own
        plan.subscribersPerStream = subscribersPerStream
        plan.payloadSize = payload
        plan.durationSeconds = duration
        plan.rate = rate
        target.print(try target.loadTarget.run(plan, ternStreamPrefix: "bench-pub"))
    }
}

/// `tern-bench idle`: C subscribers that receive nothing; server memory per connection.
struct BenchIdleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "idle",
        abstract: "Measure idle connections: C subscribers on one stream, server RSS per connection.",
        discussion: "RSS is read from /proc/<--server-pid>/status before connecting and after the hold."
    )

    @OptionGroup var target: TargetOptions

    @Option(help: "Idle subscriber connections.")
    var connections: Int = 1000

    @Option(help: "Seconds to hold the connections open before reading the server's RSS.")
    var hold: Double = 12

    @Option(help: "The server's process id, for its resident memory.")
    var serverPid: Int32?

    func validate() throws {
        try BenchValidation.atLeastOne(connections, "--connections")
        guard hold >= 0 && hold <= 600 else { throw ValidationError("--hold must be between 0 and 600 seconds") }
    }

    func run() throws {
        let report = try target.loadTarget.runIdle(
            BenchIdleRun(connections: connections, holdSeconds: hold, serverPID: serverPid)
        )
        target.print(text: report.text, json: report.json)
    }
}
