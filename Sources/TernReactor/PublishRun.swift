import TernCore

/// Consecutive PUBLISH frames from one connection to one stream, validated and waiting to be
/// appended together: one lock, one sequence range and one ring announcement per run instead of
/// per message. The payloads point into the reactor thread's read buffer, so a run is flushed
/// before that buffer is reused.
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
    var payloads: [UnsafeRawBufferPointer] = []
    var requests: [Request] = []
    /// True if any collected request asked for PUBLISHED.
    var anyAck: Bool { requests.contains { $0.ack } }

    init() {}

    /// Empty buffers with room for a full run, to be reused from read to read.
    static func withCapacity() -> PublishRun {
        var run = PublishRun()
        run.payloads.reserveCapacity(maxMessages)
        run.requests.reserveCapacity(maxMessages)
        return run
    }

    mutating func start(connection: Connection, stream: BrokerStream) {
        self.connection = connection
        self.stream = stream
        streamID = stream.id
    }

    mutating func clearMessages() {
        payloads.removeAll(keepingCapacity: true)
        requests.removeAll(keepingCapacity: true)
    }

    /// Forgets the connection and stream too (the run is parked between reads).
    mutating func unbind() {
        clearMessages()
        connection = nil
        stream = nil
        streamID = 0
    }
}
