import Synchronization
import TernCore
import TernWire

/// One reactor thread's counts, written by that thread and read by status lines and metrics:
/// a slot per `DataPlaneCounter`, the loop-duration histogram, and refusals by error code.
final class ReactorCounters: Sendable {
    private let slots: DataPlaneCounterSlots
    /// Time per loop turn's work.
    let loopDurationBuckets = LoopDurationBuckets()
    /// Requests and frames refused, by error code. Rare, so a lock is fine.
    private let rejected = Locked<[ErrorCode: UInt64]>([:])

    init() {
        slots = InlineArray { _ in Atomic<UInt64>(0) }
        precondition(
            slots.count == DataPlaneCounter.allCases.count,
            "DataPlaneCounterSlots has a slot per DataPlaneCounter case"
        )
    }

    func add(_ amount: UInt64, to counter: DataPlaneCounter) {
        slots[counter.rawValue].add(amount, ordering: .relaxed)
    }

    /// Gauges go down too: two's complement, read back by `value(_:)`.
    func add(gauge delta: Int, to counter: DataPlaneCounter) {
        slots[counter.rawValue].wrappingAdd(UInt64(bitPattern: Int64(delta)), ordering: .relaxed)
    }

    func value(_ counter: DataPlaneCounter) -> UInt64 { slots[counter.rawValue].load(ordering: .relaxed) }

    func countSubscription(delivering: Bool, _ delta: Int) {
        add(gauge: delta, to: delivering ? .subscriptions : .attachments)
    }

    func recordRejected(_ code: ErrorCode) {
        rejected.withLock { $0[code, default: 0] += 1 }
    }

    var rejectedByCode: [ErrorCode: UInt64] { rejected.withLock { $0 } }
}

/// A snapshot of the data plane's counts, summed over all reactor threads.
public struct ReactorStatistics: Sendable {
    public var openConnections: Int
    private var sums: [UInt64]
    /// Loop turns whose work took at most each of `LoopDurationBuckets.upperBoundsSeconds`
    /// (cumulative, as Prometheus histograms count).
    public var loopDurationCumulativeCounts: [UInt64]
    public var rejectedByCode: [ErrorCode: UInt64] = [:]

    init(openConnections: Int) {
        self.openConnections = openConnections
        sums = Array(repeating: 0, count: DataPlaneCounter.allCases.count)
        loopDurationCumulativeCounts = Array(repeating: 0, count: LoopDurationBuckets.upperBoundsSeconds.count + 1)
    }

    /// The sum over threads; a gauge's sum as a signed number.
    public subscript(_ counter: DataPlaneCounter) -> Int64 { Int64(bitPattern: sums[counter.rawValue]) }

    /// The value as its series reports it (`busyNanoseconds` in seconds).
    public func reported(_ counter: DataPlaneCounter) -> Double { Double(self[counter]) / counter.series.divisor }

    mutating func add(_ counters: ReactorCounters) {
        for counter in DataPlaneCounter.allCases { sums[counter.rawValue] &+= counters.value(counter) }
        for (index, count) in counters.loopDurationBuckets.cumulative.enumerated() {
            loopDurationCumulativeCounts[index] += count
        }
        rejectedByCode.merge(counters.rejectedByCode, uniquingKeysWith: +)
    }
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
        return counts.map {
            running += $0
            return running
        }
    }
}
