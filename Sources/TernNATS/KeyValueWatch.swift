import NIOCore
import Synchronization

/// Follows a bucket's change feed: the latest entry of every key, then every change as it
/// happens (an ordered push consumer: `deliver_policy` `last_per_subject`, no acks, in memory).
///
/// `start` (again after a reconnect, or after a gap in the consumer sequence) makes a new
/// consumer and replays the latest entries, so applying them must be idempotent. `onCaughtUp`
/// runs once per start, after the entries that existed when the consumer was made.
public final class KeyValueWatch: @unchecked Sendable {
    public enum Event: Sendable {
        case entry(KeyValueEntry)
        /// Every entry present at the start was delivered.
        case caughtUp
    }

    public let bucket: KeyValueBucket
    private let handler: @Sendable (Event) -> Void
    // Event-loop state.
    private var inboxSid: UInt64?
    private var expectedConsumerSequence: UInt64 = 1
    private var caughtUp = false
    private var generation = 0

    public init(bucket: KeyValueBucket, handler: @escaping @Sendable (Event) -> Void) {
        self.bucket = bucket
        self.handler = handler
    }

    private var connection: NATSConnection { bucket.jetStream.connection }

    /// Makes a new consumer and replays the bucket; the future fails if the consumer cannot be made.
    public func start() -> EventLoopFuture<Void> {
        let connection = self.connection
        return connection.eventLoop.flatSubmit {
            self.generation += 1
            let generation = self.generation
            if let sid = self.inboxSid { connection.unsubscribe(sid) }
            self.expectedConsumerSequence = 1
            self.caughtUp = false
            let inbox = connection.newInbox()
            return connection.subscribe(inbox) { message in
                self.delivered(message, generation: generation)
            }.flatMap { sid in
                self.inboxSid = sid
                let config: [String: Any] = [
                    "deliver_subject": inbox, "deliver_policy": "last_per_subject", "ack_policy": "none",
                    "filter_subject": self.bucket.subjectPrefix + ">", "replay_policy": "instant",
                    "headers_only": false, "mem_storage": true, "num_replicas": 1, "max_deliver": -1,
                ]
                return self.bucket.jetStream.call(
                    "CONSUMER.CREATE.\(self.bucket.streamName)",
                    ["stream_name": self.bucket.streamName, "config": config]
                )
            }.map { answer in
                if answer.uint64("num_pending") == 0, !self.caughtUp, generation == self.generation {
                    self.caughtUp = true
                    self.handler(.caughtUp)
                }
            }
        }
    }

    private func delivered(_ message: NATSMessage, generation: Int) {
        guard generation == self.generation, let reply = message.replyTo,
            let metadata = Self.metadata(ackSubject: reply)
        else { return }
        if metadata.consumerSequence != expectedConsumerSequence {
            // A lost delivery: start over with a fresh replay (applying is idempotent).
            _ = start()
            return
        }
        expectedConsumerSequence += 1
        let key = String(message.subject.dropFirst(bucket.subjectPrefix.count))
        handler(
            .entry(
                KeyValueEntry(
                    key: key,
                    value: message.bytes,
                    revision: metadata.streamSequence,
                    operation: KeyValueEntry.operation(from: message.headers),
                    headers: message.headers
                )
            )
        )
        if metadata.pending == 0 && !caughtUp {
            caughtUp = true
            handler(.caughtUp)
        }
    }

    /// Stream sequence, consumer sequence and pending count from a `$JS.ACK` reply subject, in
    /// its old (9 tokens) and new (12 tokens, with domain and account) forms.
    static func metadata(ackSubject: String) -> (streamSequence: UInt64, consumerSequence: UInt64, pending: UInt64)? {
        let tokens = ackSubject.split(separator: ".")
        guard tokens.count >= 9, tokens[0] == "$JS", tokens[1] == "ACK" else { return nil }
        let base = tokens.count == 9 ? 2 : 4
        guard let stream = UInt64(tokens[base + 3]), let consumer = UInt64(tokens[base + 4]),
            let pending = UInt64(tokens[base + 6])
        else { return nil }
        return (stream, consumer, pending)
    }
}
