import Synchronization
import TernCore
import TernWire

/// Per-thread counters, written by the owning thread and read by status lines and metrics.
final class ReactorCounters: Sendable {
    let connectionsAccepted = Atomic<UInt64>(0)
    let connectionsClosed = Atomic<UInt64>(0)
    let connectionsRefused = Atomic<UInt64>(0)
    /// Connections refused because the process ran out of file descriptors (EMFILE/ENFILE).
    let connectionsRefusedAtFileLimit = Atomic<UInt64>(0)
    /// Other failed accepts (ENOBUFS, ENOMEM, …).
    let acceptErrors = Atomic<UInt64>(0)
    let messagesDelivered = Atomic<UInt64>(0)
    let messagesDroppedSlow = Atomic<UInt64>(0)
    let messagesLapped = Atomic<UInt64>(0)
    /// RESUMEs answered with SUBSCRIBED, frames replayed to them, and messages they asked for
    /// that the ring no longer held.
    let resumes = Atomic<UInt64>(0)
    let messagesReplayed = Atomic<UInt64>(0)
    let messagesNotRetained = Atomic<UInt64>(0)
    let bytesIn = Atomic<UInt64>(0)
    let bytesOut = Atomic<UInt64>(0)
    let loopIterations = Atomic<UInt64>(0)
    /// Subscriptions (receiving) and attachments (publishing only) open right now.
    let subscriptions = Atomic<Int>(0)
    let attachments = Atomic<Int>(0)
    /// Time spent working (outside epoll_wait), and loop turns by how long their work took.
    let busyNanoseconds = Atomic<UInt64>(0)
    let loopDurationBuckets = LoopDurationBuckets()
    /// Requests and frames refused, by error code. Rare, so a lock is fine.
    private let rejected = Locked<[ErrorCode: UInt64]>([:])

    func countSubscription(delivering: Bool, _ delta: Int) {
        if delivering {
            subscriptions.add(delta, ordering: .relaxed)
        } else {
            attachments.add(delta, ordering: .relaxed)
        }
    }

    func recordRejected(_ code: ErrorCode) {
        rejected.withLock { $0[code, default: 0] += 1 }
    }

    var rejectedByCode: [ErrorCode: UInt64] { rejected.withLock { $0 } }
}

/// A snapshot of the data plane's counters, summed over all reactor threads.
public struct ReactorStatistics: Sendable {
    public var openConnections: Int
    public var subscriptions: Int
    public var attachments: Int
    public var connectionsAccepted: UInt64
    public var connectionsRefused: UInt64
    public var connectionsRefusedAtFileLimit: UInt64
    public var acceptErrors: UInt64
    public var messagesDelivered: UInt64
    public var messagesDroppedSlowConsumer: UInt64
    public var messagesDroppedLapped: UInt64
    public var messagesDroppedNotRetained: UInt64 = 0
    public var resumes: UInt64 = 0
    public var messagesReplayed: UInt64 = 0
    public var bytesIn: UInt64
    public var bytesOut: UInt64
    public var loopIterations: UInt64
    public var busySeconds: Double
    /// Loop turns whose work took at most each of `LoopDurationBuckets.upperBoundsSeconds`
    /// (cumulative, as Prometheus histograms count).
    public var loopDurationCumulativeCounts: [UInt64]
    public var rejectedByCode: [ErrorCode: UInt64]
}

/// A fixed-bucket histogram of loop-turn durations: the reactor's latency as an operator sees it.
final class LoopDurationBuckets: Sendable {
    /// Upper bounds in seconds: 10 µs … 1 s.
    static let upperBoundsSeconds: [Double] = [0.00001, 0.0001, 0.001, 0.01, 0.1, 1]
    private let b0 = Atomic<UInt64>(0), b1 = Atomic<UInt64>(0), b2 = Atomic<UInt64>(0)
    private let b3 = Atomic<UInt64>(0), b4 = Atomic<UInt64>(0), b5 = Atomic<UInt64>(0), over = Atomic<UInt64>(0)

    func record(nanoseconds: UInt64) {
        switch nanoseconds {
        case ...10_000: b0.add(1, ordering: .relaxed)
        case ...100_000: b1.add(1, ordering: .relaxed)
        case ...1_000_000: b2.add(1, ordering: .relaxed)
        case ...10_000_000: b3.add(1, ordering: .relaxed)
        case ...100_000_000: b4.add(1, ordering: .relaxed)
        case ...1_000_000_000: b5.add(1, ordering: .relaxed)
        default: over.add(1, ordering: .relaxed)
        }
    }

    /// Cumulative counts per bound, then the total (the `+Inf` bucket).
    var cumulative: [UInt64] {
        let counts = [
            b0.load(ordering: .relaxed), b1.load(ordering: .relaxed), b2.load(ordering: .relaxed),
            b3.load(ordering: .relaxed), b4.load(ordering: .relaxed), b5.load(ordering: .relaxed),
            over.load(ordering: .relaxed),
        ]
        var running: UInt64 = 0
        return counts.map { running += $0; return running }
    }
}
