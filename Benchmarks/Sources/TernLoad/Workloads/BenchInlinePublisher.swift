/// The run's one publisher on the receiving thread itself, a step between passes of spinning
/// shared-memory readers (`BenchRun.inlinePublisher`): a message then goes from stamp to read
/// with no thread wake-up or task switch on this side, as in a worker that publishes and reads
/// in one loop. On two cores, ternd's spinning reactor has the other core to itself; with a
/// publisher thread as well, three busy parties share two cores and the scheduler decides the
/// latency (see Benchmarks/README.md).
protocol BenchInlineStepping: AnyObject {
    /// Writes what is due, if anything; never waits.
    func step()
}

final class BenchInlinePublisher<Parser: BenchParser>: BenchInlineStepping {
    private var loop: PublisherLoop<Parser>
    private let progress: BenchProgress
    private var publishing = true
    /// When the publisher's socket was last read (BenchClock): once a millisecond while idle.
    private var lastRead: UInt64 = 0
    static var readInterval: UInt64 { 1_000_000 }

    /// Counts itself as publishing until the duration is over. Not as a running publisher
    /// thread: there is none to wait for once the receiver is done.
    init(_ publisher: BenchPublisher<Parser>, progress: BenchProgress, start: UInt64) {
        loop = PublisherLoop(publisher, start: start)
        loop.readsAfterWrite = false
        self.progress = progress
        progress.publishersPublishing.add(1, ordering: .releasing)
    }

    func step() {
        guard publishing else { return }
        do {
            switch try loop.step(progress: progress) {
            case .wrote: break
            case .finished: finish()
            case .idle:
                let now = BenchClock.now()
                if now &- lastRead >= Self.readInterval {
                    lastRead = now
                    try loop.readAvailable(progress: progress)
                }
            }
        } catch {
            progress.failure.withLock { $0 = $0 ?? "\(error)" }
            finish()
        }
    }

    /// Once the receiver is done: closes the connection.
    func close() {
        finish()
        loop.close()
    }

    private func finish() {
        guard publishing else { return }
        publishing = false
        progress.endNanoseconds.store(BenchClock.now(), ordering: .relaxed)
        progress.publishersPublishing.subtract(1, ordering: .releasing)
    }
}
