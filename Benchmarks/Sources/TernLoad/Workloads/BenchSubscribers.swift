import Histogram

/// A run's subscribers as `BenchRun` drives and counts them, whatever carries their messages:
/// sockets (`BenchReceiver`) or Tern rings in shared memory (`BenchMappedReceiver`).
protocol BenchSubscribers: AnyObject {
    /// Waits up to `timeoutMilliseconds` for messages and takes what arrived.
    func pollOnce(timeoutMilliseconds: Int32)
    /// The fewest messages any live subscriber has accounted for (received or announced
    /// dropped): a windowed publisher's credit.
    var slowestReceived: UInt64 { get }
    /// True once every subscriber's stream has ended or its connection closed.
    var allFinished: Bool { get }
    var delivered: UInt64 { get }
    var deliveredPayloadBytes: UInt64 { get }
    var droppedReported: UInt64 { get }
    var bytesRead: UInt64 { get }
    var sampledGaps: UInt64 { get }
    var lastDeliveryNanoseconds: UInt64 { get }
    var latency: Histogram<UInt64> { get }
    var notices: [String] { get }
    func closeAll()
}
