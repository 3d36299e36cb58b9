import Synchronization

/// What the publisher thread and the receiving (main) thread share during a fanout bench.
final class FanoutProgress: Sendable {
    /// Messages handed to the socket (counted per batch, after its flush).
    let published = Atomic<UInt64>(0)
    /// ERROR frames the publisher received (refused publishes).
    let publishErrors = Atomic<UInt64>(0)
    /// Set by the publisher when it has stopped, successfully or not.
    let publisherFinished = Atomic<Bool>(false)
    /// Monotonic ns when publishing started and stopped (0 until known).
    let publishStartNanoseconds = Atomic<UInt64>(0)
    let publishEndNanoseconds = Atomic<UInt64>(0)
    /// Set by the receiver to make the publisher stop early (a failure on the receiving side).
    let stopRequested = Atomic<Bool>(false)
    /// Why the publisher stopped early, if it did.
    let publisherFailure = Mutex<String?>(nil)
}
