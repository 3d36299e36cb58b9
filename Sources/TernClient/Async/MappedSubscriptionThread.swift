import Foundation
import Synchronization
import TernWire

/// A shared-memory subscription for `TernAsyncClient` (protocol version 3 on the Unix socket).
///
/// swift-nio's channels cannot take descriptors passed with `SCM_RIGHTS`, so a mapped stream gets
/// a blocking `DataConnection` of its own (same endpoint, name and token) on a dedicated thread:
/// it maps the ring, sleeps on its futex when idle (`.park`), and yields each message into the
/// subscription's stream. The consumer's pace is kept: while `maxPending` events wait untaken the
/// thread stops reading, so a slow consumer is lapped in the ring and told the exact loss
/// (`.dropped` with reason `RING_LAPPED`), as the server would tell a slow socket subscriber.
final class MappedSubscriptionThread: Sendable {
    private let stopping = Atomic<Bool>(false)
    /// Events yielded and not yet taken by the consumer.
    let pending = Atomic<Int>(0)

    /// Subscribes `stream` through a mapped ring, or returns nil if the server (or socket) maps
    /// none (`SHARED_MEMORY_UNAVAILABLE`): the caller then subscribes over its own socket.
    static func subscribe(
        _ stream: String,
        client: TernAsyncClient,
        core: AsyncConnectionCore
    ) throws
        -> TernSubscription?
    {
        let connection = try DataConnection(
            endpoint: client.endpoint,
            clientName: client.clientName,
            token: client.token,
            timeout: client.connectTimeout,
            maxVersion: client.maxVersion,
            sharedMemory: true
        )
        connection.requestTimeout = client.requestTimeout
        let subscribed: Frame.Subscribed
        do {
            subscribed = try connection.subscribe(stream)
        } catch {
            connection.close()
            throw error
        }
        guard connection.isMapped(streamID: subscribed.streamID) else {
            connection.close()
            return nil
        }
        let reader = MappedSubscriptionThread()
        let (events, continuation) = AsyncThrowingStream<SubscriptionEvent, any Error>.makeStream()
        continuation.onTermination = { _ in reader.stopping.store(true, ordering: .relaxed) }
        let box = ConnectionBox(connection)
        let maxPending = client.maxPending
        let thread = Thread {
            reader.run(box.connection, subscribed: subscribed, into: continuation, maxPending: maxPending)
        }
        thread.name = "tern-ring-\(subscribed.streamID)"
        thread.start()
        return TernSubscription(
            streamSid: subscribed.streamSid,
            uniqueName: subscribed.uniqueName,
            streamID: subscribed.streamID,
            nextSequence: subscribed.nextSequence,
            events: events,
            core: core,
            key: -1,
            mapped: reader
        )
    }

    private func run(
        _ connection: DataConnection,
        subscribed: Frame.Subscribed,
        into continuation: AsyncThrowingStream<SubscriptionEvent, any Error>.Continuation,
        maxPending: Int
    ) {
        defer { connection.close() }
        let prefix = subscribed.sidPrefix
        do {
            while !stopping.load(ordering: .relaxed) {
                if pending.load(ordering: .relaxed) >= maxPending {
                    usleep(1000)
                    continue
                }
                guard let frame = try connection.nextFrame(timeout: .milliseconds(250)) else { continue }
                switch frame {
                case .message(let message):
                    pending.add(1, ordering: .relaxed)
                    continuation.yield(.message(message, messageSid: prefix.messageSid(sequence: message.sequence)))
                case .dropped(let dropped):
                    pending.add(1, ordering: .relaxed)
                    continuation.yield(
                        .dropped(count: dropped.count, reason: dropped.reason, rawReason: dropped.rawReason)
                    )
                case .streamEnded(_, let reason):
                    continuation.finish(
                        throwing: TernClientError.streamEnded(streamSid: subscribed.streamSid, reason: reason)
                    )
                    return
                case .error(let error) where error.fatal:
                    continuation.finish(throwing: TernClientError.server(error))
                    return
                default:
                    continue
                }
            }
            continuation.finish()
        } catch {
            continuation.finish(throwing: error)
        }
    }

    /// The consumer took `count` events.
    func taken(_ count: Int) { pending.subtract(count, ordering: .relaxed) }
}

/// Hands a `DataConnection` (not `Sendable`: one thread at a time) to the thread that owns it.
private final class ConnectionBox: @unchecked Sendable {
    let connection: DataConnection
    init(_ connection: DataConnection) { self.connection = connection }
}
