import Foundation
import Synchronization
import TernWire

/// A shared-memory subscription for `TernAsyncClient` (protocol version 3 on the Unix socket).
///
/// swift-nio's channels cannot take descriptors passed with `SCM_RIGHTS`, so a mapped stream gets
/// a blocking `DataConnection` of its own (same endpoint, name and token) on a dedicated thread:
/// it maps the ring, sleeps on its futex when idle (`.park`), and yields each message into the
/// subscription's stream. The consumer's pace is kept: while `maxPending` events wait untaken the
/// thread stops reading the ring (it still answers the server's PING), so a slow consumer is
/// lapped in the ring and told the exact loss (`.dropped` with reason `RING_LAPPED`), as the
/// server would tell a slow socket subscriber.
///
/// When its connection breaks (or the server shuts down) the thread reconnects with the client's
/// `ReconnectPolicy`, subscribes again and yields `.resubscribed`: a ring is not resumed, so the
/// messages published meanwhile are counted in `missed` (or unknown, after a restart). A server
/// that no longer maps rings (`--shared-memory off`) is read over the thread's socket instead;
/// a consumer that is behind then pauses that socket, as `AsyncConnectionCore` does.
final class MappedSubscriptionThread: Sendable {
    private let stopping = Atomic<Bool>(false)
    /// Events yielded and not yet taken by the consumer.
    private let pending = Atomic<Int>(0)
    private let continuation: AsyncThrowingStream<SubscriptionEvent, any Error>.Continuation
    private let stream: String
    private let client: TernAsyncClient
    private let core: AsyncConnectionCore
    /// The connection and subscription the thread starts with, until `start()`.
    private let first: Mutex<(ConnectionBox, Frame.Subscribed)?>

    private init(
        stream: String,
        client: TernAsyncClient,
        core: AsyncConnectionCore,
        continuation: AsyncThrowingStream<SubscriptionEvent, any Error>.Continuation,
        first: (ConnectionBox, Frame.Subscribed)
    ) {
        self.first = Mutex(first)
        self.stream = stream
        self.client = client
        self.core = core
        self.continuation = continuation
    }

    /// Subscribes `stream` through a mapped ring, or returns nil if the server (or socket) maps
    /// none (`SHARED_MEMORY_UNAVAILABLE`): the caller then subscribes over its own socket.
    static func subscribe(
        _ stream: String,
        client: TernAsyncClient,
        core: AsyncConnectionCore
    ) throws
        -> TernSubscription?
    {
        let (connection, subscribed) = try connect(stream, client: client)
        guard connection.isMapped(streamID: subscribed.streamID) else {
            connection.close()
            return nil
        }
        let (events, continuation) = AsyncThrowingStream<SubscriptionEvent, any Error>.makeStream()
        let reader = MappedSubscriptionThread(
            stream: stream,
            client: client,
            core: core,
            continuation: continuation,
            first: (ConnectionBox(connection), subscribed)
        )
        continuation.onTermination = { _ in reader.stopping.store(true, ordering: .relaxed) }
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

    /// A connection of the subscription's own, and the stream subscribed on it.
    private static func connect(_ stream: String, client: TernAsyncClient) throws -> (DataConnection, Frame.Subscribed)
    {
        let connection = try open(client)
        do {
            return (connection, try connection.subscribe(stream))
        } catch {
            connection.close()
            throw error
        }
    }

    private static func open(_ client: TernAsyncClient) throws -> DataConnection {
        let connection = try DataConnection(
            endpoint: client.endpoint,
            clientName: client.clientName,
            token: client.token,
            timeout: client.connectTimeout,
            maxVersion: client.maxVersion,
            sharedMemory: true
        )
        connection.requestTimeout = client.requestTimeout
        return connection
    }

    /// Starts the thread that reads (once; `AsyncConnectionCore.adopt` calls it).
    func start() {
        guard let (box, subscribed) = first.withLock({ $0.take() }) else { return }
        let thread = Thread { self.run(box.connection, subscribed: subscribed) }
        thread.name = "tern-ring-\(subscribed.streamID)"
        thread.start()
    }

    /// Ends the subscription: its iteration ends (with `error`, or nil), and the thread closes
    /// its connection within `DataConnection.longestPark`.
    func stop(throwing error: (any Error)?) {
        stopping.store(true, ordering: .relaxed)
        continuation.finish(throwing: error)
    }

    /// The consumer took `count` events.
    func taken(_ count: Int) { pending.subtract(count, ordering: .relaxed) }

    /// How one connection's reading ended.
    private enum Ending {
        /// The consumer or the client ended it.
        case stopped
        /// The stream ended, or the server refused it: the subscription ends with this.
        case final(any Error)
        /// The connection broke or the server shut down: reconnect.
        case broken(any Error)
    }

    private func run(_ first: DataConnection, subscribed: Frame.Subscribed) {
        var connection = first
        var current = subscribed
        var position = StreamPosition(subscribed)
        var ending: Ending
        reading: while true {
            ending = read(connection, current, position: &position)
            connection.close()
            guard case .broken(let error) = ending else { break }
            switch reconnect(after: error) {
            case .connected(let next, let again):
                pending.add(1, ordering: .relaxed)
                continuation.yield(.resubscribed(position.subscribedAgain(again)))
                (connection, current) = (next, again)
            case .gaveUp(let error):
                ending = .final(error)
                break reading
            case .stopped:
                ending = .stopped
                break reading
            }
        }
        switch ending {
        case .final(let error): continuation.finish(throwing: error)
        default: continuation.finish()
        }
        let (core, reader) = (core, self)
        Task { await core.disown(reader) }
    }

    /// Hands the connection's events to the consumer until it stops, the stream ends or the
    /// connection breaks.
    private func read(
        _ connection: DataConnection,
        _ subscribed: Frame.Subscribed,
        position: inout StreamPosition
    ) -> Ending {
        let prefix = subscribed.sidPrefix
        let maxPending = client.maxPending
        do {
            while !stopping.load(ordering: .relaxed) {
                if pending.load(ordering: .relaxed) >= maxPending {
                    // The consumer is behind: leave the ring to lap it, but keep the socket alive.
                    try connection.keepAlive()
                    usleep(1000)
                    continue
                }
                guard let frame = try connection.nextFrame(timeout: .milliseconds(250)) else { continue }
                switch frame {
                case .message(let message):
                    // Accounted for already: the same run may hand out an earlier start again.
                    if message.sequence <= position.reached { continue }
                    position.received(message.sequence)
                    pending.add(1, ordering: .relaxed)
                    continuation.yield(.message(message, messageSid: prefix.messageSid(sequence: message.sequence)))
                case .dropped(let dropped):
                    position.lost(dropped.count)
                    pending.add(1, ordering: .relaxed)
                    continuation.yield(
                        .dropped(count: dropped.count, reason: dropped.reason, rawReason: dropped.rawReason)
                    )
                case .streamEnded(_, let reason):
                    let ended = TernClientError.streamEnded(streamSid: subscribed.streamSid, reason: reason)
                    // SHUTDOWN: the server stops, not the stream; the reconnect restores it.
                    return reason == .shutdown && client.reconnect.enabled ? .broken(ended) : .final(ended)
                case .error(let error) where error.fatal:
                    return .broken(TernClientError.server(error))
                default:
                    continue
                }
            }
            return .stopped
        } catch {
            return .broken(error)
        }
    }

    private enum Reconnection {
        case connected(DataConnection, Frame.Subscribed)
        /// The policy gave up, or the server is back but refuses the stream (it ended meanwhile,
        /// or the token may no longer read it).
        case gaveUp(any Error)
        case stopped
    }

    /// Connects and subscribes again with the client's backoff.
    private func reconnect(after error: any Error) -> Reconnection {
        var attempt = 0
        var lastError = error
        while !stopping.load(ordering: .relaxed) {
            attempt += 1
            guard client.reconnect.allowsAttempt(attempt, after: lastError) else { return .gaveUp(lastError) }
            let resumeAt = ContinuousClock.now + client.reconnect.delay(attempt: attempt)
            while ContinuousClock.now < resumeAt && !stopping.load(ordering: .relaxed) { usleep(10_000) }
            if stopping.load(ordering: .relaxed) { break }
            let connection: DataConnection
            do {
                connection = try Self.open(client)
            } catch {
                lastError = error
                continue
            }
            if stopping.load(ordering: .relaxed) {
                connection.close()
                break
            }
            do {
                return .connected(connection, try connection.subscribe(stream))
            } catch TernClientError.server(let refusal) where !refusal.fatal {
                connection.close()
                return .gaveUp(TernClientError.server(refusal))
            } catch {
                connection.close()
                lastError = error
            }
        }
        return .stopped
    }
}

/// Hands a `DataConnection` (not `Sendable`: one thread at a time) to the thread that owns it.
private final class ConnectionBox: @unchecked Sendable {
    let connection: DataConnection
    init(_ connection: DataConnection) { self.connection = connection }
}
