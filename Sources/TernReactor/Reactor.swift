import CTernShims
import Glibc
import Logging
import Synchronization
import TernCore

/// The data plane: reactor threads serving the data-port listeners.
///
/// Usage: `init`, `addListener` for each socket, `start()`; later `stop(graceMilliseconds:)`,
/// which stops accepting, delivers what is buffered (bounded by the grace period), tells
/// subscribers with STREAM_ENDED (reason SHUTDOWN), closes everything and joins the threads.
public final class Reactor: Sendable {
    /// What other threads may touch of each reactor thread.
    private let mailboxes: [ReactorMailbox]
    /// The loops until `start` hands each to its thread; never touched after that.
    private let unstarted: Locked<[ReactorLoop]>
    private let shared: ReactorShared
    private let handles = Locked<[pthread_t]>([])

    public init(broker: Broker, configuration: ReactorConfiguration, logger: Logger) throws(SocketError) {
        shared = ReactorShared(
            receiveBufferBytes: Self.receiveBuffer(for: configuration.readBudgetBytes, logger: logger)
        )
        var loops: [ReactorLoop] = []
        for index in 0..<configuration.threads {
            loops.append(
                try ReactorLoop(
                    index: index,
                    broker: broker,
                    configuration: configuration,
                    shared: shared,
                    logger: logger
                )
            )
        }
        mailboxes = loops.map(\.mailbox)
        unstarted = Locked(loops)
        broker.installReaderGroups(mailboxes)
    }

    /// The receive buffer TCP data connections get: the read budget, so a turn's worth of a fast
    /// publisher's backlog is there to read (autotuning starts at `tcp_rmem`'s 128 KiB and, with
    /// a reader that drains it every turn, does not grow it). Setting it turns autotuning off, so
    /// when `net.core.rmem_max` would cut it short, connections keep autotuning instead.
    static func receiveBuffer(for readBudget: Int, logger: Logger) -> Int32? {
        guard let maximum = KernelSetting.integer("/proc/sys/net/core/rmem_max") else { return nil }
        guard maximum >= readBudget else {
            logger.info(
                "net.core.rmem_max (\(maximum)) is below the read budget (\(readBudget)): data connections keep the kernel's receive-buffer autotuning; raise rmem_max for fuller batches under load"
            )
            return nil
        }
        return Int32(clamping: readBudget)
    }

    /// Serves `listener` on every thread. Call before `start`.
    public func addListener(_ listener: ListeningSocket) throws(SocketError) {
        try unstarted.withLock { (loops) throws(SocketError) in
            for loop in loops { try loop.addListener(listener) }
        }
    }

    /// Starts the threads (plain pthreads: `epoll_wait` blocks, so never Swift concurrency).
    public func start() {
        // Writes to closed sockets must fail with EPIPE, not kill the process (write has no MSG_NOSIGNAL).
        signal(SIGPIPE, SIG_IGN)
        var started: [pthread_t] = []
        let loops = unstarted.withLock { loops in
            defer { loops = [] }
            return loops
        }
        for loop in loops {
            let box = Unmanaged.passRetained(LoopBox(loop))
            var handle = pthread_t()
            let result = pthread_create(
                &handle,
                nil,
                { raw in
                    let box = Unmanaged<LoopBox>.fromOpaque(raw!).takeRetainedValue()
                    box.loop.run()
                    return nil
                },
                box.toOpaque()
            )
            precondition(result == 0, "pthread_create failed: \(result)")
            started.append(handle)
        }
        handles.withLock { $0 = started }
    }

    /// Stops gracefully and joins the threads; returns when all connections are closed.
    public func stop(graceMilliseconds: Int) {
        shared.shutdownGraceMilliseconds.store(graceMilliseconds, ordering: .relaxed)
        for mailbox in mailboxes { mailbox.requestStop() }
        let started = handles.withLock { handles in
            defer { handles = [] }
            return handles
        }
        for handle in started { pthread_join(handle, nil) }
    }

    /// Every open connection and the recently closed ones, gathered from each thread on its own
    /// loop (so nothing is read across threads).
    public func connectionReports() async -> (open: [ConnectionReport], closed: [ClosedConnectionReport]) {
        await withTaskGroup(of: ([ConnectionReport], [ClosedConnectionReport]).self) { group in
            for mailbox in mailboxes {
                group.addTask {
                    await withCheckedContinuation { continuation in
                        mailbox.requestReport { open, closed in continuation.resume(returning: (open, closed)) }
                    }
                }
            }
            var open: [ConnectionReport] = []
            var closed: [ClosedConnectionReport] = []
            for await (threadOpen, threadClosed) in group {
                open += threadOpen
                closed += threadClosed
            }
            return (
                open.sorted { $0.id < $1.id }, closed.sorted { $0.closedAgoMilliseconds > $1.closedAgoMilliseconds }
            )
        }
    }

    /// True while every reactor thread turned its loop within `withinMilliseconds`: the
    /// watchdog pings only then, so a stuck thread gets the daemon restarted.
    public func threadsAreTurning(withinMilliseconds limit: Int64) -> Bool {
        let now = MonotonicTime.milliseconds()
        return mailboxes.allSatisfy { now - $0.heartbeat.load(ordering: .relaxed) <= limit }
    }

    /// Test hook: stalls reactor thread 0 once for `milliseconds` (the watchdog test uses it).
    public func stallFirstThread(milliseconds: Int) {
        mailboxes.first?.pendingStall.store(milliseconds, ordering: .relaxed)
        mailboxes.first?.requestReport { _, _ in }
    }

    /// Upper bounds (seconds) of `ReactorStatistics.loopDurationCumulativeCounts`; the last count is `+Inf`.
    public static var loopDurationBucketBounds: [Double] { LoopDurationBuckets.upperBoundsSeconds }

    public var statistics: ReactorStatistics {
        var statistics = ReactorStatistics(openConnections: shared.openConnections.load(ordering: .relaxed))
        for mailbox in mailboxes { statistics.add(mailbox.counters) }
        return statistics
    }
}

/// Carries a loop to its pthread.
private final class LoopBox {
    let loop: ReactorLoop
    init(_ loop: ReactorLoop) { self.loop = loop }
}

/// State all reactor threads share.
final class ReactorShared: Sendable {
    /// SO_RCVBUF for TCP data connections; nil: the kernel's autotuning (`Reactor.receiveBuffer`).
    let receiveBufferBytes: Int32?
    /// Open data-port connections on all threads, against `maxConnections`.
    let openConnections = Atomic<Int>(0)
    let nextConnectionID = Atomic<UInt64>(0)
    let shutdownGraceMilliseconds = Atomic<Int>(5_000)

    init(receiveBufferBytes: Int32?) {
        self.receiveBufferBytes = receiveBufferBytes
    }
}
