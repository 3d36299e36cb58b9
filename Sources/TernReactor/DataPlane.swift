import Glibc
import Logging
import TernCore
import TernWire

/// One reactor thread's data port without its event loop: the protocol sessions
/// (`DataPortSession`), the stream fan-out (`StreamFanOut`), and the writes and closes they
/// share. It sees connections only through `ConnectionIO`, so the embedded harness drives it
/// with memory instead of sockets, and a fake clock (`now`).
///
/// Thread-confined: the owning loop (or test) is its only caller.
final class DataPlane {
    let index: Int
    let broker: Broker
    let configuration: ReactorConfiguration
    let counters: ReactorCounters
    let shared: ReactorShared
    let logger: Logger
    /// Monotonic milliseconds; the embedded harness passes a clock it moves itself.
    let now: () -> Int64
    /// Wall-clock Unix seconds, for Access Token `nbf`/`exp`; the harness moves it too.
    let unixSeconds: () -> Int64
    private(set) var fanOut: StreamFanOut!
    private(set) var session: DataPortSession!
    /// Connections with output to write once the current step is over.
    private var flushQueue: [Connection] = []
    /// Streams published to in the current turn and the frame bytes each got.
    var turn = PublishTurn()
    /// The last connections closed here, oldest first (bounded), for `/connz`.
    private(set) var recentlyClosed: [(report: ClosedConnectionReport, at: Int64)] = []
    static let recentlyClosedLimit = 64
    /// Told of every close after the data plane is done with the connection (the loop takes it
    /// out of epoll and its table).
    var onClose: ((Connection) -> Void)?

    init(
        index: Int,
        broker: Broker,
        configuration: ReactorConfiguration,
        counters: ReactorCounters,
        shared: ReactorShared,
        logger: Logger,
        now: @escaping () -> Int64 = MonotonicTime.milliseconds,
        unixSeconds: @escaping () -> Int64 = { UnixTime.now().milliseconds / 1000 }
    ) {
        self.unixSeconds = unixSeconds
        self.index = index
        self.shared = shared
        self.broker = broker
        self.configuration = configuration
        self.counters = counters
        self.logger = logger
        self.now = now
        fanOut = StreamFanOut(plane: self)
        session = DataPortSession(plane: self)
    }

    // MARK: Output

    /// Sends a control frame (anything but MESSAGE): straight out when nothing is queued before
    /// it (so a connection that only ever got WELCOME and SUBSCRIBED never allocates an
    /// out-buffer), else queued. Queued control frames may exceed the message limit up to the
    /// hard limit; a client that lets even those pile up is closed.
    func sendControl(_ connection: Connection, _ frame: Frame) {
        guard connection.state != .closed else { return }
        var bytes: [UInt8] = []
        frame.encode(into: &bytes)
        var sent = 0
        if connection.outbound.isEmpty && connection.writable {
            switch bytes.withUnsafeBytes({ connection.io.write($0) }) {
            case .wrote(let written):
                connection.bytesWritten += UInt64(written)
                counters.add(UInt64(written), to: .bytesOut)
                if written == bytes.count {
                    if connection.state == .closing { flush(connection) }
                    return
                }
                sent = written
                connection.writable = false
            case .wouldBlock:
                connection.writable = false
            case .failed(let reason):
                close(connection, reason: reason)
                return
            }
        }
        let appended = bytes[sent...].withUnsafeBytes { connection.outbound.append($0) }
        guard appended else {
            close(connection, reason: "out-buffer hard limit reached with control frames pending")
            return
        }
        queueFlush(connection)
    }

    /// Sends a control frame with `descriptor` passed (SCM_RIGHTS) along with its first byte:
    /// RING_MAPPED. Written at once when nothing is queued before it; else a duplicate of the
    /// descriptor waits with the frame's position in the output (`pendingDescriptors`) and
    /// `flush` passes it when the output reaches that byte.
    func sendControl(_ connection: Connection, _ frame: Frame, passing descriptor: Int32) {
        guard connection.state != .closed else { return }
        var bytes: [UInt8] = []
        frame.encode(into: &bytes)
        var sent = 0
        if connection.outbound.isEmpty && connection.writable {
            switch bytes.withUnsafeBytes({ connection.io.write($0, passing: descriptor) }) {
            case .wrote(let written):
                connection.bytesWritten += UInt64(written)
                counters.add(UInt64(written), to: .bytesOut)
                if written == bytes.count { return }
                sent = written
                connection.writable = false
            case .wouldBlock:
                connection.writable = false
            case .failed(let reason):
                close(connection, reason: reason)
                return
            }
        }
        if sent == 0 {
            let copy = dup(descriptor)
            guard copy >= 0 else {
                close(connection, reason: "dup of a ring descriptor failed (errno \(errno))")
                return
            }
            let position = connection.bytesWritten + UInt64(connection.outbound.readable.count)
            connection.pendingDescriptors.append((position, copy))
        }
        let appended = bytes[sent...].withUnsafeBytes { connection.outbound.append($0) }
        guard appended else {
            close(connection, reason: "out-buffer hard limit reached with control frames pending")
            return
        }
        queueFlush(connection)
    }

    /// Writes as much pending output as the peer takes; closes a `closing` connection once its
    /// out-buffer is empty.
    func flush(_ connection: Connection) {
        while !connection.outbound.isEmpty && connection.writable {
            var chunk = connection.outbound.readable
            var passing: Int32?
            if let pending = connection.pendingDescriptors.first {
                let before = Int(pending.position - connection.bytesWritten)
                if before == 0 {
                    passing = pending.descriptor
                } else {
                    chunk = UnsafeRawBufferPointer(rebasing: chunk[..<min(before, chunk.count)])
                }
            }
            let outcome = passing.map { connection.io.write(chunk, passing: $0) } ?? connection.io.write(chunk)
            switch outcome {
            case .wrote(let written):
                if written > 0, let passed = passing {
                    Glibc.close(passed)
                    connection.pendingDescriptors.removeFirst()
                }
                connection.outbound.consume(written)
                connection.bytesWritten += UInt64(written)
                counters.add(UInt64(written), to: .bytesOut)
                if written == 0 { connection.writable = false }
            case .wouldBlock:
                connection.writable = false
            case .failed(let reason):
                close(connection, reason: reason)
                return
            }
            if connection.streamsWithDrops > 0 { fanOut.queueDropNotices(connection) }
        }
        if connection.outbound.isEmpty && connection.state == .closing {
            close(connection, reason: connection.closeReason)
        }
    }

    /// Flushes `connection` at the end of the current step (once, however often asked).
    func queueFlush(_ connection: Connection) {
        guard !connection.queuedForFlush else { return }
        connection.queuedForFlush = true
        flushQueue.append(connection)
    }

    /// Writes what was queued for flushing during the step.
    func flushQueued() {
        guard !flushQueue.isEmpty else { return }
        let queue = flushQueue
        flushQueue.removeAll(keepingCapacity: true)
        for connection in queue {
            connection.queuedForFlush = false
            if connection.state != .closed { flush(connection) }
        }
    }

    var hasQueuedFlushes: Bool { !flushQueue.isEmpty }

    // MARK: Streams

    /// Delivers the new frames of `dirty` streams and ends the `ended` ones, as the mailbox
    /// reported them.
    func streamsChanged(dirty: [BrokerStream], ended: [BrokerStream]) {
        for stream in dirty {
            if let local = fanOut.localStream(stream) { fanOut.drain(local) }
        }
        for stream in ended {
            if let local = fanOut.localStream(stream) { fanOut.end(local, reason: stream.ended ?? .deleted) }
        }
    }

    /// Drains again the streams whose rings held more than their last drain took.
    func drainUnfinished() {
        guard !fanOut.drainAgain.isEmpty else { return }
        let streams = fanOut.drainAgain
        fanOut.drainAgain.removeAll(keepingCapacity: true)
        for stream in streams {
            if let local = fanOut.localStream(stream) { fanOut.drain(local) }
        }
    }

    // MARK: Closing

    /// Closes the connection and forgets it: it leaves every stream, its channel is closed, the
    /// close is counted once and remembered for `/connz`. Idempotent.
    func close(_ connection: Connection, reason: String) {
        guard connection.state != .closed else { return }
        fanOut.leaveAll(connection)
        for pending in connection.pendingDescriptors { Glibc.close(pending.descriptor) }
        connection.pendingDescriptors.removeAll()
        connection.state = .closed
        connection.io.close()
        shared.openConnections.subtract(1, ordering: .relaxed)
        counters.add(1, to: .connectionsClosed)
        rememberClosed(connection, reason: reason)
        onClose?(connection)
        logger.debug("connection \(connection.id) (\(connection.peer)\(connection.identityNote)) closed: \(reason)")
    }

    private func rememberClosed(_ connection: Connection, reason: String) {
        if recentlyClosed.count >= Self.recentlyClosedLimit { recentlyClosed.removeFirst() }
        recentlyClosed.append(
            (
                ClosedConnectionReport(
                    id: connection.id,
                    peer: connection.peer,
                    clientName: connection.clientName,
                    reason: reason,
                    closedAgoMilliseconds: 0,
                    messagesDelivered: connection.messagesDelivered,
                    messagesDropped: connection.messagesDropped,
                    identity: connection.accessToken?.identity
                ),
                now()
            )
        )
    }
}

/// What the connections of one thread published in the current turn: readers are woken once per
/// turn, and the bytes bound how long the turn reads on before it delivers.
struct PublishTurn {
    struct Stream {
        let stream: BrokerStream
        var bytes = 0
    }

    private(set) var streams: [UInt32: Stream] = [:]
    /// The most frame bytes one stream got in this turn.
    private(set) var largestStreamBytes = 0
    /// Bytes read from all connections in this turn.
    var bytesRead = 0

    mutating func note(_ stream: BrokerStream, bytes: Int) {
        let total = Self.add(bytes, to: &streams[stream.id, default: Stream(stream: stream)])
        if total > largestStreamBytes { largestStreamBytes = total }
    }

    private static func add(_ bytes: Int, to published: inout Stream) -> Int {
        published.bytes += bytes
        return published.bytes
    }

    /// Ends the turn's reading: wakes the readers of every stream published to, once.
    mutating func finish(waking broker: Broker) {
        bytesRead = 0
        largestStreamBytes = 0
        guard !streams.isEmpty else { return }
        for published in streams.values { broker.wakeReaders(of: published.stream) }
        streams.removeAll(keepingCapacity: true)
    }
}
