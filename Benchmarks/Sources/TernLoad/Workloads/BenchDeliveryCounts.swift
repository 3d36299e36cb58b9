import Histogram

/// What a receiver counts, whatever carries its messages (sockets or shared memory).
struct BenchDeliveryCounts {
    var delivered: UInt64 = 0
    var payloadBytes: UInt64 = 0
    /// Messages announced lost (DROPPED, or a mapped reader's lap).
    var dropped: UInt64 = 0
    /// Messages missing between sequences seen by sampling subscribers.
    var gaps: UInt64 = 0
    /// BenchClock time of the last delivery.
    var lastDelivery: UInt64 = 0
    var latency = Histogram<UInt64>(
        lowestDiscernibleValue: 1,
        highestTrackableValue: 3_600_000_000_000,
        numberOfSignificantValueDigits: .three
    )

    /// One sampled message, sent at `sent` with the publisher's `sequence` and read at `now`:
    /// its latency, and the gap after the subscriber's `lastSequence`, which it moves on.
    mutating func sample(sent: UInt64, sequence: UInt64, now: UInt64, lastSequence: inout UInt64) {
        if now > sent { _ = latency.record(now - sent) }
        if sequence > lastSequence &+ 1 && lastSequence != 0 { gaps &+= sequence - lastSequence - 1 }
        if sequence > lastSequence { lastSequence = sequence }
    }
}

/// Receivers whose figures are one `BenchDeliveryCounts`.
protocol BenchCountingSubscribers: BenchSubscribers {
    var counts: BenchDeliveryCounts { get }
}

extension BenchCountingSubscribers {
    var delivered: UInt64 { counts.delivered }
    var deliveredPayloadBytes: UInt64 { counts.payloadBytes }
    var droppedReported: UInt64 { counts.dropped }
    var sampledGaps: UInt64 { counts.gaps }
    var lastDeliveryNanoseconds: UInt64 { counts.lastDelivery }
    var latency: Histogram<UInt64> { counts.latency }
}
