import Synchronization
import TernCore
import TernWire

/// Per-thread counters, written by the owning thread and read by status lines and metrics.
final class ReactorCounters: Sendable {
    let connectionsAccepted = Atomic<UInt64>(0)
    let connectionsClosed = Atomic<UInt64>(0)
    let connectionsRefused = Atomic<UInt64>(0)
    let messagesPublished = Atomic<UInt64>(0)
    let messagesDelivered = Atomic<UInt64>(0)
    let messagesDroppedSlow = Atomic<UInt64>(0)
    let messagesLapped = Atomic<UInt64>(0)
    let bytesIn = Atomic<UInt64>(0)
    let bytesOut = Atomic<UInt64>(0)
    let loopIterations = Atomic<UInt64>(0)
    /// Subscriptions (receiving) and attachments (publishing only) open right now.
    let subscriptions = Atomic<Int>(0)
    let attachments = Atomic<Int>(0)
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
    public var messagesPublished: UInt64
    public var messagesDelivered: UInt64
    public var messagesDroppedSlowConsumer: UInt64
    public var messagesDroppedLapped: UInt64
    public var bytesIn: UInt64
    public var bytesOut: UInt64
    public var loopIterations: UInt64
    public var rejectedByCode: [ErrorCode: UInt64]
}
