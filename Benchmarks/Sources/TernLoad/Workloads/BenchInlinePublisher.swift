/// What the receiving loop calls between passes when the publisher is inline.
protocol BenchInlineStepping: AnyObject {
    /// Writes what is due, if anything; never waits.
    func step()
}

/// The run's one publisher on the receiving thread itself, a step between passes of spinning
/// shared-memory readers (`BenchRun.inlinePublisher`): a message then goes from stamp to read
/// with no thread wake-up or task switch on this side, as in a worker that publishes and reads
/// in one loop, and two busy parties (ternd's spinning reactor, this thread) share the two cores
/// instead of three. Its socket is read once a millisecond, not after every write, to keep the
/// call off the way from a message's stamp to its readers.
final class BenchInlinePublisher<Parser: BenchParser>: BenchInlineStepping {
    private var loop: PublisherLoop<Parser>
    private let progress: BenchProgress
    private var publishing = true
    /// When the publisher's socket was last read (BenchClock).
    private var lastRead: UInt64 = 0
    static var readInterval: UInt64 { 1_000_000 }

    /// Counts itself as publishing until the duration is over. Not as a running publisher
    /// thread: there is none to wait for once the receiver is done.
    init(_ publisher: BenchPublisher<Parser>, progress: BenchProgress, start: UInt64) {
        loop = PublisherLoop(publisher)
        loop.readsAfterWrite = false
        loop.begin(at: start)
        self.progress = progress
        progress.publishersPublishing.add(1, ordering: .releasing)
    }

    /// One step while publishing; after that, only the reads that keep the connection answered
    /// (PINGs) until `close`, as a publisher thread keeps reading until the receiver is done.
    func step() {
        do {
            if publishing, case .finished = try loop.step(progress: progress) { finish() }
            let now = BenchClock.now()
            if now &- lastRead >= Self.readInterval {
                lastRead = now
                try loop.readAvailable(progress: progress)
            }
        } catch {
            if publishing { progress.failure.withLock { $0 = $0 ?? "\(error)" } }
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
