import Synchronization
import TernCore

/// All that other threads see of a reactor thread: work to hand it (streams with new frames,
/// streams that ended, report requests, stop), the flag that says whether it sleeps, its
/// counters and its heartbeat. The core holds it as a `StreamReaderGroup`; the loop's own state
/// is never shared.
final class ReactorMailbox: StreamReaderGroup, Sendable {
    typealias ReportReply = @Sendable ([ConnectionReport], [ClosedConnectionReport]) -> Void

    struct Work {
        var dirty: [BrokerStream] = []
        var ended: [BrokerStream] = []
        var reports: [ReportReply] = []
        /// API keys deleted since the last turn.
        var revokedKeys: [String] = []
        /// Cluster mode: lanes opened since the last turn.
        var openedLanes: [BrokerStream] = []
        var stop = false
    }

    let index: Int
    private let work = Locked(Work())
    /// Work items waiting; read before sleeping without taking the lock.
    private let pending = Atomic<Int>(0)
    /// True while the thread is (about to be) blocked in epoll_wait.
    let sleeping = Atomic<Bool>(false)
    let wakeSignal: WakeSignal
    let counters = ReactorCounters()
    /// Monotonic ms of the last loop turn: the watchdog's proof that this thread is not stuck.
    let heartbeat = Atomic<Int64>(MonotonicTime.milliseconds())
    /// Test hook: a one-off stall of this many ms, to prove the watchdog notices.
    let pendingStall = Atomic<Int>(0)

    init(index: Int) throws(SocketError) {
        self.index = index
        wakeSignal = try WakeSignal()
    }

    // MARK: From other threads

    func streamHasNewFrames(_ stream: BrokerStream) {
        post { $0.dirty.append(stream) }
    }

    func streamEnded(_ stream: BrokerStream) {
        post { $0.ended.append(stream) }
    }

    func keyRevoked(_ keySid: String) {
        post { $0.revokedKeys.append(keySid) }
    }

    func laneOpened(_ lane: BrokerStream) {
        post { $0.openedLanes.append(lane) }
    }

    /// Asks the thread for a report of its connections; `reply` runs on the thread.
    func requestReport(_ reply: @escaping ReportReply) {
        post { $0.reports.append(reply) }
    }

    func requestStop() {
        post { $0.stop = true }
    }

    private func post(_ change: (inout Work) -> Void) {
        work.withLock(change)
        pending.add(1, ordering: .sequentiallyConsistent)
        // Only the waker that flips `sleeping` writes the eventfd, so a busy thread costs no syscalls.
        if sleeping.exchange(false, ordering: .sequentiallyConsistent) {
            wakeSignal.signal()
        }
    }

    // MARK: On the thread

    var hasWork: Bool { pending.load(ordering: .sequentiallyConsistent) > 0 }

    /// Swaps the waiting work into `taken` (whose arrays must be empty; their capacity is reused).
    func take(into taken: inout Work) {
        work.withLock { waiting in
            swap(&taken.dirty, &waiting.dirty)
            swap(&taken.ended, &waiting.ended)
            swap(&taken.reports, &waiting.reports)
            swap(&taken.revokedKeys, &waiting.revokedKeys)
            swap(&taken.openedLanes, &waiting.openedLanes)
            taken.stop = waiting.stop
            waiting.stop = false
            pending.store(0, ordering: .sequentiallyConsistent)
        }
    }

    /// Report requests that came too late for a stopped thread; answered empty by the caller.
    func takeReports() -> [ReportReply] {
        work.withLock { waiting in
            defer { waiting.reports = [] }
            return waiting.reports
        }
    }
}
