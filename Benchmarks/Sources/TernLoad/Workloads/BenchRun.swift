/// One load run, whatever the broker: streams × subscribers per stream, publishers writing for
/// `duration` seconds, then a bounded drain. Every loop here ends by count or by time.
public struct BenchRun: Sendable {
    public enum PublisherStreams: Sendable {
        /// Every publisher writes round-robin to every stream.
        case all
        /// Publisher p writes only to stream p (needs as many streams as publishers).
        case own
    }

    public var workload: String
    public var streams = 1
    public var subscribersPerStream = 1
    public var publishers = 1
    public var publisherStreams = PublisherStreams.all
    public var payloadSize = 64
    public var durationSeconds = 5.0
    /// Total messages per second over all publishers; nil = as fast as possible.
    public var rate: Double?
    /// Lossless runs (one publisher): at most this many bytes of messages in flight per stream
    /// beyond what the slowest subscriber has received; nil = unwindowed (brokers may drop).
    public var windowBytes: Int?
    /// How many subscribers sample latency and sequence gaps (spread evenly); nil = all of them.
    public var latencySubscribers: Int? = 4
    /// Longest wait, after publishing stops, for the last messages to arrive.
    public var drainSeconds = 2.0
    /// CPUs to pin the publisher threads and the receiving thread to; nil: the scheduler's choice
    /// (or the process's `taskset`).
    public var publisherCPU: Int?
    public var receiverCPU: Int?
    /// The one publisher runs on the receiving thread between its passes instead of on a thread
    /// of its own (`BenchInlinePublisher`); for receivers that never sleep (spinning
    /// shared-memory readers), whose passes come every few microseconds.
    public var inlinePublisher = false

    public init(workload: String) {
        self.workload = workload
    }

    var totalSubscribers: Int { streams * subscribersPerStream }

    /// Indices of the subscribers that sample, spread evenly over 0..<totalSubscribers.
    var sampledSubscribers: [Int] {
        let count = min(latencySubscribers ?? totalSubscribers, totalSubscribers)
        guard count > 0 else { return [] }
        return Array(Set((0..<count).map { $0 * totalSubscribers / count })).sorted()
    }

    func execute<Peer: BenchPeer>(_ peer: inout Peer, broker: BenchBrokerKind, address: String) throws -> BenchReport {
        try execute(&peer, broker: broker, address: address) { peer, names, sampled in
            let receiver = try BenchReceiver<Peer.Parser>()
            try eachSubscriber(names) { stream, index in
                let handle = try peer.openSubscriber(stream: stream, sampling: sampled.contains(index))
                try receiver.add(handle, samples: sampled.contains(index))
            }
            return receiver
        }
    }

    /// The run with Tern subscribers that map the stream's ring over the Unix socket and read it
    /// in shared memory (`spin`: they never sleep), dealt round-robin to `readerThreads` threads.
    func executeMapped(
        _ peer: inout TernBenchPeer,
        address: String,
        spin: Bool,
        readerThreads: Int
    ) throws
        -> BenchReport
    {
        try execute(&peer, broker: .tern, address: address) { peer, names, sampled in
            let groups = (0..<max(1, readerThreads)).map { _ in BenchMappedReceiver(spin: spin) }
            try eachSubscriber(names) { stream, index in
                let (connection, reader) = try peer.openMappedSubscriber(stream: stream)
                groups[index % groups.count].add(
                    connection: connection,
                    reader: reader,
                    samples: sampled.contains(index)
                )
            }
            return BenchMappedReaderThreads(groups: groups)
        }
    }

    /// Calls `body` with each subscriber's stream name and index, stream by stream.
    private func eachSubscriber(_ names: [String], _ body: (String, Int) throws -> Void) rethrows {
        for stream in 0..<streams {
            for slot in 0..<subscribersPerStream { try body(names[stream], stream * subscribersPerStream + slot) }
        }
    }

    private func execute<Peer: BenchPeer, Subscribers: BenchSubscribers>(
        _ peer: inout Peer,
        broker: BenchBrokerKind,
        address: String,
        subscribe: (inout Peer, [String], Set<Int>) throws -> Subscribers
    ) throws -> BenchReport {
        guard !inlinePublisher || publishers == 1 else { throw BenchError("an inline publisher is the run's only one") }
        try FileDescriptorLimit.require(totalSubscribers + publishers + 64)
        _ = BenchClock.epoch
        let setupStart = MonotonicClock.nanoseconds()
        let names = try peer.prepareStreams(count: streams)
        defer { peer.cleanup() }

        var publisherHandles: [BenchPublisherHandle<Peer.Parser>] = []
        for index in 0..<publishers {
            let mine = publisherStreams == .own ? [names[index % names.count]] : names
            publisherHandles.append(try peer.openPublisher(streams: mine, payloadCount: payloadSize))
        }
        let receiver = try subscribe(&peer, names, Set(sampledSubscribers))
        let setupSeconds = Double(MonotonicClock.nanoseconds() - setupStart) / 1e9

        let progress = BenchProgress()
        let durationNanoseconds = UInt64(durationSeconds * 1e9)
        var windowMessages: Int?
        if let windowBytes {
            guard publishers == 1 else { throw BenchError("a window needs exactly one publisher") }
            let largest = publisherHandles[0].templates.map { $0.overhead + payloadSize }.max() ?? 1
            windowMessages = max(1, windowBytes / largest)
        }
        let benchPublishers = publisherHandles.map { handle in
            BenchPublisher(
                handle: handle,
                payloadSize: payloadSize,
                durationNanoseconds: durationNanoseconds,
                rate: rate.map { $0 / Double(publishers) },
                windowMessages: windowMessages,
                cpu: publisherCPU
            )
        }
        if !inlinePublisher {
            for (index, publisher) in benchPublishers.enumerated() { publisher.start(progress: progress, index: index) }
        }
        if let receiverCPU { try CPUPlacement.pinCurrentThread(to: receiverCPU) }
        let start = max(1, BenchClock.now())
        progress.startNanoseconds.store(start, ordering: .releasing)
        let inline = inlinePublisher ? BenchInlinePublisher(benchPublishers[0], progress: progress, start: start) : nil
        receive(with: receiver, progress: progress, durationNanoseconds: durationNanoseconds, inline: inline)
        inline?.close()
        receiver.closeAll()

        if let failure = progress.failure.withLock({ $0 }) { throw BenchError("publisher failed: \(failure)") }
        let published = progress.published.load(ordering: .relaxed)
        let end = progress.endNanoseconds.load(ordering: .relaxed)
        return BenchReport(
            workload: workload,
            broker: broker,
            address: address,
            streams: streams,
            subscribersPerStream: subscribersPerStream,
            publishers: publishers,
            payloadBytes: payloadSize,
            durationSeconds: durationSeconds,
            rate: rate,
            windowBytes: windowBytes,
            windowMessages: windowMessages,
            streamNames: names.count == 1 ? names : [],
            setupSeconds: setupSeconds,
            published: published,
            publishSeconds: end > start ? Double(end - start) / 1e9 : 0,
            delivered: receiver.delivered,
            deliveredPayloadBytes: receiver.deliveredPayloadBytes,
            bytesRead: receiver.bytesRead,
            deliverySeconds: receiver.lastDeliveryNanoseconds > start
                ? Double(receiver.lastDeliveryNanoseconds - start) / 1e9 : 0,
            droppedReported: receiver.droppedReported,
            sampledGaps: receiver.sampledGaps,
            publishErrors: progress.publishErrors.load(ordering: .relaxed),
            latencySubscribers: sampledSubscribers,
            latency: receiver.latency,
            notices: receiver.notices
        )
    }

    /// Runs the receiver until the publishers have finished and everything arrived (or the drain
    /// time passed), or until every subscription ended.
    private func receive(
        with receiver: some BenchSubscribers,
        progress: BenchProgress,
        durationNanoseconds: UInt64,
        inline: (any BenchInlineStepping)?
    ) {
        let windowed = windowBytes != nil
        let began = MonotonicClock.nanoseconds()
        // Publishers stop themselves after the duration; this is the backstop if one hangs.
        let giveUp = began + durationNanoseconds + 20_000_000_000
        var drainDeadline: UInt64?
        var deliveredAtLastCheck: UInt64 = 0
        while true {
            inline?.step()
            receiver.pollOnce(timeoutMilliseconds: 10)
            if windowed { progress.slowestReceived.store(receiver.slowestReceived, ordering: .releasing) }
            let now = MonotonicClock.nanoseconds()
            if receiver.allFinished { break }
            if progress.publishingFinished {
                // Windowed runs wait for everything in flight (at most a window per subscriber) as
                // long as it keeps arriving: a slow broker's backlog is not a loss.
                if drainDeadline == nil || (windowed && receiver.delivered != deliveredAtLastCheck) {
                    drainDeadline = min(now + UInt64(drainSeconds * 1e9), giveUp)
                    deliveredAtLastCheck = receiver.delivered
                }
                let expected = progress.published.load(ordering: .relaxed) * UInt64(subscribersPerStream)
                if receiver.delivered + receiver.droppedReported >= expected || now >= drainDeadline! { break }
            } else if now >= giveUp {
                break
            }
        }
        progress.stopRequested.store(true, ordering: .relaxed)
        // Let the publishers notice and close their connections (their writes time out on their own).
        let waitUntil = MonotonicClock.nanoseconds() + 12_000_000_000
        while !progress.publishersFinished && MonotonicClock.nanoseconds() < waitUntil {
            MonotonicClock.sleep(nanoseconds: 1_000_000)
        }
    }
}
