import ArgumentParser
import TernClient

/// `tern bench fanout`: one publisher, N subscribers on one stream, measured end to end.
///
/// Bounded by design: publishing stops after --duration, the receiver drains for at most
/// `drainSeconds` more, and everything is closed (and a stream the bench created is deleted).
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

    static let drainSeconds: UInt64 = 2

    @OptionGroup var connection: ConnectionOptions

    @Option(help: "Subscriber connections.")
    var subscribers: Int = 16

    @Option(help: "Payload size in bytes (a JSON object of exactly this size; at least \(FanoutPayload.minimumSize)).")
    var payload: Int = 64

    @Option(help: "Seconds to publish.")
    var duration: Double = 5

    @Option(help: "Messages per second, evenly paced (default: as fast as possible).")
    var rate: Double?

    @Option(help: "Use (or create) the stream with this unique name; default: a fresh stream, deleted afterwards.")
    var stream: String?

    @Option(help: "How many subscribers sample latency (spread evenly).")
    var latencySubscribers: Int = 4

    @Flag(help: "Print the result as one JSON object.")
    var json = false

    func validate() throws {
        guard subscribers >= 1 else { throw ValidationError("--subscribers must be at least 1") }
        guard payload >= FanoutPayload.minimumSize else {
            throw ValidationError("--payload must be at least \(FanoutPayload.minimumSize) bytes")
        }
        guard duration > 0 else { throw ValidationError("--duration must be positive") }
        if let rate, rate <= 0 { throw ValidationError("--rate must be positive") }
        guard latencySubscribers >= 1 else { throw ValidationError("--latency-subscribers must be at least 1") }
    }

    func run() throws {
        let descriptorLimit = FileDescriptorLimit.raiseToHardLimit()
        if descriptorLimit > 0 && UInt64(subscribers) + 32 > descriptorLimit {
            throw BenchError("\(subscribers) subscribers need more file descriptors than the limit of \(descriptorLimit)")
        }
        let control = try connection.makeControlClient()
        let (streamSid, createdByBench) = try resolveStream(control)
        defer { if createdByBench { try? control.deleteStream(streamSid) } }

        let sampled = sampledSubscribers()
        let receiver = try FanoutReceiver()
        for index in 0..<subscribers {
            let subscriber = try connection.makeDataConnection(clientName: "tern bench subscriber")
            if index == 0 && payload > Int(subscriber.welcome.maxPayload) {
                throw BenchError("--payload \(payload) exceeds the server's max_payload \(subscriber.welcome.maxPayload)")
            }
            _ = try subscriber.subscribe(streamSid)
            let socket = try subscriber.detach()
            try receiver.add(
                fileDescriptor: socket.fileDescriptor, unreadBytes: socket.unreadBytes,
                samplesLatency: sampled.contains(index))
        }

        let progress = FanoutProgress()
        let durationNanoseconds = UInt64(duration * 1e9)
        FanoutPublisher(
            dataAddress: connection.dataAddress, streamSid: streamSid, payloadSize: payload,
            durationNanoseconds: durationNanoseconds, rate: rate
        ).start(progress: progress)
        try receive(with: receiver, progress: progress, durationNanoseconds: durationNanoseconds)
        receiver.closeAll()

        if let failure = progress.publisherFailure.withLock({ $0 }) {
            throw BenchError("publisher failed: \(failure)")
        }
        let start = progress.publishStartNanoseconds.load(ordering: .relaxed)
        let report = FanoutReport(
            subscribers: subscribers, payloadBytes: payload, durationSeconds: duration, rate: rate,
            streamSid: streamSid, published: progress.published.load(ordering: .relaxed),
            publishSeconds: Double(progress.publishEndNanoseconds.load(ordering: .relaxed) &- start) / 1e9,
            delivered: receiver.delivered, deliveredPayloadBytes: receiver.deliveredPayloadBytes,
            deliverySeconds: receiver.lastDeliveryNanoseconds > start
                ? Double(receiver.lastDeliveryNanoseconds - start) / 1e9 : 0,
            droppedReported: receiver.droppedReported,
            publishErrors: progress.publishErrors.load(ordering: .relaxed),
            latencySubscribers: sampled.sorted(), latency: receiver.latency, notices: receiver.notices)
        Output.line(json ? report.json : report.text)
        Output.flush()
    }

    /// Runs the receiver until the publisher has finished and everything arrived (or
    /// `drainSeconds` passed), or until every subscription ended.
    private func receive(with receiver: FanoutReceiver, progress: FanoutProgress, durationNanoseconds: UInt64) throws {
        let began = MonotonicClock.nanoseconds()
        // The publisher stops itself after the duration; this is the backstop if it hangs.
        let giveUp = began + durationNanoseconds + 20_000_000_000
        var drainDeadline: UInt64?
        while true {
            receiver.pollOnce(timeoutMilliseconds: 10)
            let now = MonotonicClock.nanoseconds()
            if receiver.allFinished { break }
            if progress.publisherFinished.load(ordering: .acquiring) {
                if drainDeadline == nil { drainDeadline = now + Self.drainSeconds * 1_000_000_000 }
                let expected = progress.published.load(ordering: .relaxed) * UInt64(receiver.subscriberCount)
                if receiver.delivered + receiver.droppedReported >= expected || now >= drainDeadline! { break }
            } else if now >= giveUp {
                break
            }
        }
        progress.stopRequested.store(true, ordering: .relaxed)
        // Let the publisher notice and close its connection (its flushes time out on their own).
        let waitUntil = MonotonicClock.nanoseconds() + 12_000_000_000
        while !progress.publisherFinished.load(ordering: .acquiring) && MonotonicClock.nanoseconds() < waitUntil {
            MonotonicClock.sleep(nanoseconds: 1_000_000)
        }
    }

    /// The stream to use, and whether the bench created it (and so deletes it).
    private func resolveStream(_ control: ControlClient) throws -> (sid: String, created: Bool) {
        if let stream {
            do {
                return (try control.fetchStream(stream).sid, false)
            } catch TernClientError.http(status: 404, _, _) {
                return (try control.createStream(uniqueName: stream).sid, false)
            }
        }
        var generator = SystemRandomNumberGenerator()
        let name = "bench-" + String(generator.next() as UInt64, radix: 16)
        let ttl = Int(duration) + 300  // outlives the bench, and cleans up after a crashed one
        return (try control.createStream(uniqueName: name, ttl: ttl).sid, true)
    }

    /// Indices of the subscribers that sample latency, spread evenly over 0..<subscribers.
    private func sampledSubscribers() -> Set<Int> {
        let count = min(latencySubscribers, subscribers)
        return Set((0..<count).map { $0 * subscribers / count })
    }
}
