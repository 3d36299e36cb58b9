import Foundation
import Histogram
import Synchronization

/// Shared-memory subscribers split over `threads` reader threads, as separate reader processes
/// would spread over the cores: ternd does no per-subscriber work for them, so the core a socket
/// run gives the server is theirs. Group 0 is read by the run's own (main) thread in `pollOnce`,
/// the others by their own threads until `closeAll`; they publish their counts after every pass.
final class BenchMappedReaderThreads: BenchSubscribers {
    /// What a helper thread's group publishes after each pass.
    private final class Snapshot: Sendable {
        let slowest = Atomic<UInt64>(0)
        let accounted = Atomic<UInt64>(0)
        let finished = Atomic<Bool>(false)
    }

    /// A group handed to its thread (one thread touches it until `stop` is set and it is joined).
    private final class Helper: @unchecked Sendable {
        let group: BenchMappedReceiver
        let snapshot = Snapshot()
        let stop = Atomic<Bool>(false)
        let done = Atomic<Bool>(false)
        init(group: BenchMappedReceiver) { self.group = group }

        func run() {
            while !stop.load(ordering: .relaxed) {
                group.pollOnce(timeoutMilliseconds: 1)
                snapshot.slowest.store(group.slowestReceived, ordering: .relaxed)
                snapshot.accounted.store(group.delivered &+ group.droppedReported, ordering: .relaxed)
                snapshot.finished.store(group.allFinished, ordering: .relaxed)
            }
            done.store(true, ordering: .releasing)
        }
    }

    private let main: BenchMappedReceiver
    private let helpers: [Helper]
    private var stopped = false

    /// `groups[0]` is read by the caller's thread; each other group gets a thread now.
    init(groups: [BenchMappedReceiver]) {
        main = groups[0]
        helpers = groups.dropFirst().map(Helper.init)
        for helper in helpers {
            let thread = Thread { helper.run() }
            thread.name = "shm readers"
            thread.start()
        }
    }

    func pollOnce(timeoutMilliseconds: Int32) { main.pollOnce(timeoutMilliseconds: timeoutMilliseconds) }

    var slowestReceived: UInt64 {
        helpers.reduce(main.slowestReceived) { min($0, $1.snapshot.slowest.load(ordering: .relaxed)) }
    }

    var allFinished: Bool { main.allFinished && helpers.allSatisfy { $0.snapshot.finished.load(ordering: .relaxed) } }

    /// While the run lasts: messages accounted for (received + dropped) by every group, which is
    /// what the run's drain check adds up; exact once `closeAll` has joined the helpers.
    var delivered: UInt64 {
        if stopped { return all(\.delivered) }
        return helpers.reduce(main.delivered &+ main.droppedReported) {
            $0 &+ $1.snapshot.accounted.load(ordering: .relaxed)
        } &- droppedReported
    }

    var droppedReported: UInt64 { stopped ? all(\.droppedReported) : main.droppedReported }
    var deliveredPayloadBytes: UInt64 { all(\.deliveredPayloadBytes) }
    var bytesRead: UInt64 { all(\.bytesRead) }
    var sampledGaps: UInt64 { all(\.sampledGaps) }
    var lastDeliveryNanoseconds: UInt64 { ([main] + helpers.map(\.group)).map(\.lastDeliveryNanoseconds).max() ?? 0 }
    var notices: [String] { ([main] + helpers.map(\.group)).flatMap(\.notices) }

    var latency: Histogram<UInt64> {
        var merged = main.latency
        for helper in helpers { merged.add(helper.group.latency) }
        return merged
    }

    /// Stops and joins the helper threads (bounded: a pass takes microseconds), then closes every
    /// subscriber's connection.
    func closeAll() {
        if !stopped {
            for helper in helpers { helper.stop.store(true, ordering: .relaxed) }
            let deadline = MonotonicClock.nanoseconds() + 5_000_000_000
            while helpers.contains(where: { !$0.done.load(ordering: .acquiring) })
                && MonotonicClock.nanoseconds() < deadline
            {
                MonotonicClock.sleep(nanoseconds: 100_000)
            }
            stopped = true
        }
        main.closeAll()
        for helper in helpers { helper.group.closeAll() }
    }

    private func all(_ value: KeyPath<BenchMappedReceiver, UInt64>) -> UInt64 {
        helpers.reduce(main[keyPath: value]) { $0 &+ $1.group[keyPath: value] }
    }
}
