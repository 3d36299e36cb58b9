import TernCore
import TernWire

/// Consecutive PUBLISH frames from one connection to one stream, validated and waiting to be
/// appended together: one lock, one sequence range and one ring announcement per run instead of
/// per message. The payloads point into the reactor thread's read buffer, so a run is flushed
/// before that buffer is reused.
///
/// A run is bound to its connection and stream: the next PUBLISH to the same stream id joins it
/// without looking the stream up. Any other frame unbinds it (it may change subscriptions).
struct PublishRun {
    /// Messages per run at most; bounds the time the stream's lock is held.
    static let maxMessages = 256

    struct Request {
        var requestID: UInt32
        var ack: Bool
    }

    private(set) var connection: Connection?
    private(set) var stream: BrokerStream?
    /// The stream's id, compared per frame without touching the stream object.
    private(set) var streamID: UInt32 = 0
    private(set) var payloads = PayloadRun(capacity: 0)
    private(set) var requests: [Request] = []
    /// True if a collected request asked for PUBLISHED.
    private(set) var anyAck = false

    init() {}

    /// Empty buffers with room for a full run, to be reused from read to read.
    static func withCapacity() -> PublishRun {
        var run = PublishRun()
        run.payloads = PayloadRun(capacity: maxMessages)
        run.requests.reserveCapacity(maxMessages)
        return run
    }

    var isFull: Bool { payloads.count >= Self.maxMessages }

    mutating func bind(connection: Connection, stream: BrokerStream) {
        self.connection = connection
        self.stream = stream
        streamID = stream.id
    }

    mutating func append(_ request: PublishView) {
        payloads.append(request)
        requests.append(Request(requestID: request.requestID, ack: request.ack))
        anyAck = anyAck || request.ack
    }

    /// Forgets the collected messages; the run stays bound.
    mutating func clearMessages() {
        payloads.removeAll()
        requests.removeAll(keepingCapacity: true)
        anyAck = false
    }

    /// Forgets the connection and stream too. Call only once the messages are flushed.
    mutating func unbind() {
        clearMessages()
        connection = nil
        stream = nil
        streamID = 0
    }
}
