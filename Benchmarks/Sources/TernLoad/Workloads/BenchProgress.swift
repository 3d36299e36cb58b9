import Synchronization

/// What publisher threads and the receiving (main) thread share during a run.
final class BenchProgress: Sendable {
    /// Messages handed to sockets, over all publishers (counted per batch, after it is written).
    let published = Atomic<UInt64>(0)
    /// Refusals the publishers received (Tern ERROR, Redis -ERR).
    let publishErrors = Atomic<UInt64>(0)
    /// Publishers still running.
    let publishersRunning = Atomic<Int>(0)
    /// Publishers still publishing (a publisher that is done keeps its connection open, reading,
    /// until `stopRequested`: closing it at once would discard what the broker has not read yet).
    let publishersPublishing = Atomic<Int>(0)
    /// Monotonic ns (BenchClock) when publishing starts; publishers wait for it to be set.
    let startNanoseconds = Atomic<UInt64>(0)
    /// Monotonic ns (BenchClock) when the last publisher stopped.
    let endNanoseconds = Atomic<UInt64>(0)
    /// Set by the receiver to make publishers stop early.
    let stopRequested = Atomic<Bool>(false)
    /// Windowed runs: the fewest messages any open subscriber has received (or been told were
    /// dropped), published by the receiver after each poll; the publishers' credit.
    let slowestReceived = Atomic<UInt64>(0)
    /// Why a publisher stopped early, if one did.
    let failure = Mutex<String?>(nil)

    var publishersFinished: Bool { publishersRunning.load(ordering: .acquiring) == 0 }
    var publishingFinished: Bool { publishersPublishing.load(ordering: .acquiring) == 0 }
}
