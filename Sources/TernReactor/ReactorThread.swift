import CTernShims
import Glibc
import Logging
import Synchronization
import TernCore
import TernWire

/// One event-loop thread: its own epoll, its connections, and its view of the streams they use.
///
/// Everything but `inbox`, `sleeping` and the counters is confined to the thread (hence
/// `@unchecked Sendable`): other threads only enqueue work in the inbox and wake the thread,
/// and they write the eventfd only when the thread is asleep.
final class ReactorThread: StreamReaderGroup, @unchecked Sendable {
    let index: Int
    let broker: Broker
    let configuration: ReactorConfiguration
    let shared: ReactorShared
    let logger: Logger
    let epoll: Epoll
    let wakeSignal: WakeSignal
    let splitter: FrameSplitter

    // Cross-thread hand-off.
    struct Inbox {
        var dirty: [BrokerStream] = []
        var ended: [BrokerStream] = []
        var reports: [@Sendable ([ConnectionReport], [ClosedConnectionReport]) -> Void] = []
        var stop = false
    }
    let inbox = Locked(Inbox())
    /// Work items in the inbox; checked before sleeping without taking the lock.
    let inboxCount = Atomic<Int>(0)
    /// True while the thread is (about to be) blocked in epoll_wait.
    let sleeping = Atomic<Bool>(false)
    /// Counters read by status and metrics.
    let counters = ReactorCounters()
    /// Monotonic ms of the last loop turn: the watchdog's proof that this thread is not stuck.
    let heartbeat = Atomic<Int64>(Clock.milliseconds())
    /// Test hook: a one-off stall of this many ms, to prove the watchdog notices.
    let pendingStall = Atomic<Int>(0)

    // Thread-confined state.
    var connections: [Connection?] = []
    var localStreams: [UInt32: LocalStream] = [:]
    /// Streams published to by this thread's connections in this turn, with the frame bytes each
    /// got: readers are woken once per turn, and the bytes bound how long a publisher reads on.
    var publishedThisTurn: [UInt32: PublishedStream] = [:]
    /// The most frame bytes one stream got in this turn.
    var turnLargestStreamBytes = 0
    /// Bytes read from all connections in this turn.
    var turnBytesRead = 0
    /// The buffers of the PUBLISH run, parked here between reads (`processFrames`).
    var parkedPublishRun = PublishRun.withCapacity()
    var flushQueue: [Connection] = []
    var readAgainQueue: [Connection] = []
    var listeners: [ListeningSocket] = []
    var acceptingConnections = true
    /// Listeners are out of epoll after an accept error, until the next timer tick.
    var acceptPaused = false
    /// An open descriptor given up at the descriptor limit to accept-and-close one connection.
    let reserveDescriptor = ReserveDescriptor()
    var stopDeadline: Int64?
    var lastTick: Int64 = 0
    /// Scratch space for reads: frames are parsed in place, copied only when one spans reads.
    let readBuffer: UnsafeMutableRawBufferPointer
    /// Scratch space for a run of ring frames, written as-is to every subscriber.
    let batchBuffer: UnsafeMutableRawBufferPointer
    /// Scratch space where publish runs are encoded before being copied into a ring.
    let stagingBuffer: UnsafeMutableRawBufferPointer
    /// Start offsets of the frames in `batchBuffer`, to cut a batch at frame boundaries (lazily).
    var batchFrameStarts: [Int] = []
    /// Frames in `batchBuffer`.
    var batchFrameCount = 0
    var processed: [BrokerStream] = []
    /// The last connections closed on this thread, oldest first (bounded).
    var recentlyClosed: [(report: ClosedConnectionReport, at: Int64)] = []
    static let recentlyClosedLimit = 64

    static let wakeToken: UInt64 = 0
    static let listenerTokenBase: UInt64 = 1 << 32
    static let connectionTokenBase: UInt64 = 2 << 32
    static let readSize = 64 * 1024
    /// Publish-run bytes encoded at once (`BroadcastRing.appendMessages`): runs of small
    /// messages fit; a larger frame is written in place.
    static let stagingBytes = 16 * 1024
    /// Reads one connection gets per call before others have a turn, once the turn's read budget
    /// is spent (`mustWaitForNextTurn`).
    static let readsPerTurn = 4
    /// How long a connection closed for a fatal error may take to read its ERROR before the
    /// socket is closed regardless.
    static let fatalCloseGraceMilliseconds: Int64 = 2_000
    /// How often connection timers (handshake, PING, closing grace) are checked.
    static let timerIntervalMilliseconds: Int64 = 250
    /// Frame bytes one stream may get in a turn before the turn delivers: a drain batch, and at
    /// most a quarter of the ring.
    let streamTurnLimit: Int

    init(index: Int, broker: Broker, configuration: ReactorConfiguration, shared: ReactorShared, logger: Logger)
        throws(SocketError)
    {
        self.index = index
        self.broker = broker
        self.configuration = configuration
        self.shared = shared
        var logger = logger
        logger[metadataKey: "reactor"] = "\(index)"
        self.logger = logger
        epoll = try Epoll()
        wakeSignal = try WakeSignal()
        splitter = FrameSplitter(maxBody: configuration.maxFrameBody)
        readBuffer = .allocate(
            byteCount: Self.readSize + configuration.maxFrameBody + WireLimits.headerSize, alignment: 16)
        stagingBuffer = .allocate(byteCount: Self.stagingBytes, alignment: 16)
        streamTurnLimit = min(configuration.batchBytes, broker.limits.ringBytes / 4)
        batchBuffer = .allocate(byteCount: max(configuration.batchBytes, 2 * (configuration.maxFrameBody + 8)), alignment: 16)
        try epoll.add(wakeSignal.fd, events: EPOLLIN.rawValue, token: Self.wakeToken)
    }

    deinit {
        readBuffer.deallocate()
        batchBuffer.deallocate()
        stagingBuffer.deallocate()
    }

    func addListener(_ listener: ListeningSocket) throws(SocketError) {
        // Every thread watches every listener; EPOLLEXCLUSIVE wakes one of them per connection.
        try epoll.add(
            listener.fd, events: EPOLLIN.rawValue | EPOLLEXCLUSIVE.rawValue,
            token: Self.listenerTokenBase + UInt64(listeners.count))
        listeners.append(listener)
    }

    // MARK: StreamReaderGroup (called from other threads)

    func streamHasNewFrames(_ stream: BrokerStream) {
        inbox.withLock { $0.dirty.append(stream) }
        inboxCount.add(1, ordering: .sequentiallyConsistent)
        wakeIfSleeping()
    }

    func streamEnded(_ stream: BrokerStream) {
        inbox.withLock { $0.ended.append(stream) }
        inboxCount.add(1, ordering: .sequentiallyConsistent)
        wakeIfSleeping()
    }

    /// Asks the thread for a report of its connections; `reply` runs on the thread.
    func requestReport(_ reply: @escaping @Sendable ([ConnectionReport], [ClosedConnectionReport]) -> Void) {
        inbox.withLock { $0.reports.append(reply) }
        inboxCount.add(1, ordering: .sequentiallyConsistent)
        wakeIfSleeping()
    }

    func requestStop() {
        inbox.withLock { $0.stop = true }
        inboxCount.add(1, ordering: .sequentiallyConsistent)
        wakeIfSleeping()
    }

    /// Only the waker that flips `sleeping` writes the eventfd, so a busy thread costs no syscalls.
    private func wakeIfSleeping() {
        if sleeping.exchange(false, ordering: .sequentiallyConsistent) {
            wakeSignal.signal()
        }
    }

    // MARK: The loop

    func run() {
        ctern_set_thread_name("tern-reactor-\(index)")
        lastTick = Clock.milliseconds()
        while true {
            let busy = !readAgainQueue.isEmpty || !flushQueue.isEmpty
            sleeping.store(true, ordering: .sequentiallyConsistent)
            let timeout: Int32 =
                busy || inboxCount.load(ordering: .sequentiallyConsistent) > 0 ? 0 : Int32(Self.timerIntervalMilliseconds)
            var turnStart: UInt64 = 0
            epoll.wait(timeout: timeout) { token, events in
                if turnStart == 0 { turnStart = Clock.nanoseconds() }
                handleEvent(token: token, events: events)
            }
            if turnStart == 0 { turnStart = Clock.nanoseconds() }
            sleeping.store(false, ordering: .sequentiallyConsistent)
            defer {
                let spent = Clock.nanoseconds() &- turnStart
                counters.busyNanoseconds.add(spent, ordering: .relaxed)
                counters.loopDurationBuckets.record(nanoseconds: spent)
            }
            counters.loopIterations.add(1, ordering: .relaxed)
            heartbeat.store(Clock.milliseconds(), ordering: .relaxed)
            let stall = pendingStall.exchange(0, ordering: .relaxed)
            if stall > 0 { usleep(UInt32(stall) * 1000) }
            retryReads()
            wakeReadersOfPublishedStreams()
            if processInbox() { beginStop() }
            flushQueued()
            let now = Clock.milliseconds()
            if now - lastTick >= Self.timerIntervalMilliseconds {
                lastTick = now
                tick(now: now)
            }
            if let stopDeadline, allDrained() || now >= stopDeadline {
                closeEverything()
                return
            }
        }
    }

    private func handleEvent(token: UInt64, events: UInt32) {
        if token == Self.wakeToken {
            wakeSignal.clear()
        } else if token >= Self.connectionTokenBase {
            let fd = Int(token - Self.connectionTokenBase)
            guard fd < connections.count, let connection = connections[fd] else { return }
            if events & EPOLLOUT.rawValue != 0 {
                connection.writable = true
                if !connection.outbound.isEmpty { flush(connection) }
            }
            if events & (EPOLLIN.rawValue | EPOLLHUP.rawValue | EPOLLERR.rawValue | EPOLLRDHUP.rawValue) != 0 {
                if events & (EPOLLHUP.rawValue | EPOLLERR.rawValue | EPOLLRDHUP.rawValue) != 0 {
                    connection.peerClosed = true
                }
                readReady(connection)
            }
        } else if token >= Self.listenerTokenBase {
            let listenerIndex = Int(token - Self.listenerTokenBase)
            if acceptingConnections, listenerIndex < listeners.count { acceptAll(from: listeners[listenerIndex]) }
        }
    }

    /// Returns true when a stop was requested.
    private func processInbox() -> Bool {
        guard inboxCount.load(ordering: .sequentiallyConsistent) > 0 else { return false }
        var dirty: [BrokerStream] = []
        var ended: [BrokerStream] = []
        var stop = false
        var reports: [@Sendable ([ConnectionReport], [ClosedConnectionReport]) -> Void] = []
        swap(&dirty, &processed)
        inbox.withLock { inbox in
            swap(&dirty, &inbox.dirty)
            swap(&ended, &inbox.ended)
            swap(&reports, &inbox.reports)
            stop = inbox.stop
            inbox.stop = false
            inboxCount.store(0, ordering: .sequentiallyConsistent)
        }
        for stream in dirty {
            if let local = localStreams[stream.id], local.stream === stream { drain(local) }
        }
        for stream in ended { endLocalStream(stream) }
        if !reports.isEmpty {
            let (open, closed) = report()
            for reply in reports { reply(open, closed) }
        }
        dirty.removeAll(keepingCapacity: true)
        processed = dirty
        return stop
    }

    /// Ends the turn's read phase: wakes the readers of every stream published to, once.
    private func wakeReadersOfPublishedStreams() {
        turnBytesRead = 0
        turnLargestStreamBytes = 0
        guard !publishedThisTurn.isEmpty else { return }
        for published in publishedThisTurn.values { broker.wakeReaders(of: published.stream) }
        publishedThisTurn.removeAll(keepingCapacity: true)
    }

    struct PublishedStream {
        let stream: BrokerStream
        var bytes = 0
    }

    /// Records `bytes` of frames appended to `stream` in this turn.
    func notePublished(_ stream: BrokerStream, bytes: Int) {
        let total = Self.add(bytes, to: &publishedThisTurn[stream.id, default: PublishedStream(stream: stream)])
        if total > turnLargestStreamBytes { turnLargestStreamBytes = total }
    }

    private static func add(_ bytes: Int, to published: inout PublishedStream) -> Int {
        published.bytes += bytes
        return published.bytes
    }

    /// Whether `connection`, after `reads` reads in this call, must wait for the next turn. It
    /// must once any stream got a batch's worth of frames in this turn (they are delivered first,
    /// before the ring could lap this thread's reader), and once it had its fair share of reads
    /// while the turn's `readBudgetBytes` is spent. Until then publishers read on: under load to
    /// many streams, each subscriber write then carries several messages instead of one.
    ///
    /// Every call reads at least once, so a connection that arrives after a stream filled up
    /// is still served this turn; a turn thus adds at most `streamTurnLimit` plus one read per
    /// call to a stream.
    private func mustWaitForNextTurn(afterReads reads: Int) -> Bool {
        guard reads > 0 else { return false }
        return turnLargestStreamBytes >= streamTurnLimit
            || (reads >= Self.readsPerTurn && turnBytesRead >= configuration.readBudgetBytes)
    }

    private func retryReads() {
        guard !readAgainQueue.isEmpty else { return }
        let queue = readAgainQueue
        readAgainQueue.removeAll(keepingCapacity: true)
        for connection in queue {
            connection.queuedForRead = false
            readReady(connection)
        }
    }

    func queueFlush(_ connection: Connection) {
        guard !connection.queuedForFlush else { return }
        connection.queuedForFlush = true
        flushQueue.append(connection)
    }

    private func flushQueued() {
        guard !flushQueue.isEmpty else { return }
        let queue = flushQueue
        flushQueue.removeAll(keepingCapacity: true)
        for connection in queue {
            connection.queuedForFlush = false
            if connection.state != .closed { flush(connection) }
        }
    }

    // MARK: Accepting

    private func acceptAll(from listener: ListeningSocket) {
        while true {
            let fd = ctern_accept_nonblocking(listener.fd, nil, nil)
            if fd < 0 {
                let error = errno
                if error == EINTR || error == ECONNABORTED { continue }
                if error == EAGAIN || error == EWOULDBLOCK { return }
                if error == EMFILE || error == ENFILE {
                    refuseAtDescriptorLimit(listener, error: error)
                } else {
                    // ENOBUFS, ENOMEM, EPERM (firewall): the listener stays readable, so
                    // accepting again at once would spin; the next timer tick retries.
                    counters.acceptErrors.add(1, ordering: .relaxed)
                    logger.warning("accept on \(listener.address) failed: \(String(cString: strerror(error)))")
                    pauseAccepting()
                }
                return
            }
            accepted(fd: fd, listener: listener)
        }
    }

    /// Out of file descriptors: the pending connection would keep the (level-triggered) listener
    /// readable and the loop spinning. With the thread's reserve descriptor released, one
    /// connection is accepted and closed at once, so its client sees the refusal instead of a
    /// hang; without one, accepting pauses until the next timer tick.
    private func refuseAtDescriptorLimit(_ listener: ListeningSocket, error: Int32) {
        counters.connectionsRefusedAtFileLimit.add(1, ordering: .relaxed)
        logger.warning(
            "accept on \(listener.address) failed: \(String(cString: strerror(error))); refusing connections until descriptors are free (raise LimitNOFILE= or lower --max-connections)")
        if reserveDescriptor.release() {
            let fd = ctern_accept_nonblocking(listener.fd, nil, nil)
            if fd >= 0 { Glibc.close(fd) }
            reserveDescriptor.reacquire()
        }
        pauseAccepting()
    }

    /// Takes the listeners out of this thread's epoll until the next timer tick.
    private func pauseAccepting() {
        guard acceptingConnections && !acceptPaused else { return }
        acceptPaused = true
        for listener in listeners { epoll.remove(listener.fd) }
    }

    /// Puts the listeners back after a pause (timer tick).
    private func resumeAccepting() {
        guard acceptPaused && acceptingConnections else { return }
        acceptPaused = false
        for (index, listener) in listeners.enumerated() {
            try? epoll.add(
                listener.fd, events: EPOLLIN.rawValue | EPOLLEXCLUSIVE.rawValue,
                token: Self.listenerTokenBase + UInt64(index))
        }
    }

    private func accepted(fd: Int32, listener: ListeningSocket) {
        let open = shared.openConnections.add(1, ordering: .relaxed).newValue
        if open > configuration.maxConnections {
            shared.openConnections.subtract(1, ordering: .relaxed)
            let refusal = Frame.error(
                .init(requestID: 0, code: .tooManyConnections, message: "server is at its limit of \(configuration.maxConnections) connections")
            ).encoded()
            _ = refusal.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            counters.connectionsRefused.add(1, ordering: .relaxed)
            Glibc.close(fd)
            return
        }
        if listener.kind == .tcp {
            var one: Int32 = 1
            setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            if var receiveBuffer = shared.receiveBufferBytes {
                setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &receiveBuffer, socklen_t(MemoryLayout<Int32>.size))
            }
        }
        let now = Clock.milliseconds()
        let connection = Connection(
            fd: fd, id: shared.nextConnectionID.add(1, ordering: .relaxed).newValue,
            peer: ListeningSocket.peerName(fd, kind: listener.kind), now: now,
            outBufferBytes: configuration.outBufferBytes)
        if Int(fd) >= connections.count {
            connections.append(contentsOf: repeatElement(nil, count: Int(fd) + 1 - connections.count))
        }
        connections[Int(fd)] = connection
        do {
            try epoll.add(
                fd, events: EPOLLIN.rawValue | EPOLLOUT.rawValue | EPOLLRDHUP.rawValue | EPOLLET.rawValue,
                token: Self.connectionTokenBase + UInt64(fd))
        } catch {
            logger.warning("epoll add failed for \(connection.peer): \(error)")
            closeNow(connection, reason: "epoll add failed")
            return
        }
        counters.connectionsAccepted.add(1, ordering: .relaxed)
        logger.debug("connection \(connection.id) from \(connection.peer)")
    }

    // MARK: Reading

    /// Reads and handles what arrived. A short read normally means the socket is drained (the next
    /// arrival raises a new edge), but once the peer has closed its side, its end-of-file raises no
    /// further edge: then reading goes on until `read` returns 0.
    func readReady(_ connection: Connection) {
        var reads = 0
        while connection.state == .awaitingHello || connection.state == .open {
            if mustWaitForNextTurn(afterReads: reads) {
                if !connection.queuedForRead {
                    connection.queuedForRead = true
                    readAgainQueue.append(connection)
                }
                return
            }
            let leftover = connection.pendingInput.count
            if leftover > 0 {
                connection.pendingInput.withUnsafeBytes { readBuffer.baseAddress!.copyMemory(from: $0.baseAddress!, byteCount: leftover) }
            }
            let wanted = Self.readSize
            let received = read(connection.fd, readBuffer.baseAddress! + leftover, wanted)
            if received == 0 {
                if leftover > 0 {
                    // The peer may only have half-closed: tell it why its last frame is lost.
                    counters.recordRejected(.malformedFrame)
                    fail(connection, requestID: 0, .malformedFrame, "connection closed inside a frame (\(leftover) bytes of it received)")
                } else {
                    closeNow(connection, reason: "closed by peer")
                }
                return
            }
            if received < 0 {
                if errno == EINTR { continue }
                if errno != EAGAIN && errno != EWOULDBLOCK {
                    closeNow(connection, reason: "read failed: \(String(cString: strerror(errno)))")
                }
                return
            }
            connection.lastHeard = Clock.milliseconds()
            connection.pingSentAt = nil
            counters.bytesIn.add(UInt64(received), ordering: .relaxed)
            let total = leftover + received
            let consumed = processFrames(connection, UnsafeRawBufferPointer(rebasing: readBuffer[0..<total]))
            if connection.state == .closing || connection.state == .closed { return }
            connection.pendingInput.removeAll(keepingCapacity: true)
            if consumed < total {
                connection.pendingInput.append(contentsOf: UnsafeRawBufferPointer(rebasing: readBuffer[consumed..<total]))
            }
            reads += 1
            turnBytesRead += received
            if received < wanted && !connection.peerClosed { return }  // drained; the next edge will tell us
        }
    }

    /// Handles every complete frame in `bytes`; returns how many bytes were consumed.
    private func processFrames(_ connection: Connection, _ bytes: UnsafeRawBufferPointer) -> Int {
        // Runs of PUBLISH frames are collected and appended together; any other frame, an error
        // or the end of `bytes` (whose memory is reused) ends the run first.
        var run = PublishRun()
        swap(&run, &parkedPublishRun)
        var framesReceived: UInt64 = 0
        defer {
            flush(&run)
            run.unbind()
            swap(&run, &parkedPublishRun)
            connection.framesReceived += framesReceived
        }
        var offset = 0
        while connection.state == .awaitingHello || connection.state == .open {
            let slice: FrameSplitter.Slice
            do {
                guard let next = try splitter.next(in: bytes, at: offset) else { break }
                slice = next
            } catch {
                flush(&run)
                reject(connection, error, bytes: bytes, at: offset)
                return bytes.count
            }
            framesReceived += 1
            let body = UnsafeRawBufferPointer(rebasing: bytes[slice.bodyStart..<slice.end])
            do {
                if slice.header.type == .publish && connection.state == .open {
                    collectPublish(connection, try PublishView(header: slice.header, body: body), into: &run)
                } else {
                    // It may change what the connection may publish to: the run starts afresh.
                    flush(&run)
                    run.unbind()
                    try handleFrame(connection, header: slice.header, body: body)
                }
            } catch {
                flush(&run)
                reject(connection, error, bytes: bytes, at: offset)
                return bytes.count
            }
            offset = slice.end
        }
        return offset
    }

    /// A protocol violation: one exit for all of them, logging a snippet of the offending bytes.
    private func reject(_ connection: Connection, _ error: WireError, bytes: UnsafeRawBufferPointer, at offset: Int) {
        let snippet = bytes[offset..<min(bytes.count, offset + 16)].map { String($0, radix: 16) }.joined(separator: " ")
        logger.info("closing connection \(connection.id) (\(connection.peer)): \(error) [bytes: \(snippet)]")
        counters.recordRejected(error.code)
        fail(connection, requestID: 0, error.code, error.message)
    }

    // MARK: Timers

    private func tick(now: Int64) {
        resumeAccepting()
        for case let connection? in connections {
            switch connection.state {
            case .awaitingHello:
                if now - connection.acceptedAt >= Int64(configuration.handshakeTimeoutMilliseconds) {
                    counters.recordRejected(.handshakeTimeout)
                    fail(connection, requestID: 0, .handshakeTimeout, "no HELLO within \(configuration.handshakeTimeoutMilliseconds) ms")
                }
            case .open:
                let interval = Int64(configuration.pingIntervalMilliseconds)
                guard interval > 0 else { continue }
                if let sentAt = connection.pingSentAt {
                    if now - sentAt >= interval {
                        counters.recordRejected(.idleTimeout)
                        fail(connection, requestID: 0, .idleTimeout, "no answer to PING within \(interval) ms")
                    }
                } else if now - connection.lastHeard >= interval {
                    connection.pingSentAt = now
                    sendControl(connection, .ping(UInt64(now)))
                }
            case .closing:
                // While stopping, the shutdown grace (`stopDeadline`) bounds the final flush instead.
                if stopDeadline == nil && now - connection.closingSince >= Self.fatalCloseGraceMilliseconds {
                    closeNow(connection, reason: connection.closeReason)
                }
            case .closed:
                break
            }
        }
    }

    // MARK: Stopping

    private func beginStop() {
        guard stopDeadline == nil else { return }
        if !acceptPaused { for listener in listeners { epoll.remove(listener.fd) } }
        acceptingConnections = false
        stopDeadline = Clock.milliseconds() + Int64(shared.shutdownGraceMilliseconds.load(ordering: .relaxed))
        // Deliver what is in the rings, then tell every member its streams end with the server.
        for local in Array(localStreams.values) {
            if local.ring != nil { drain(local) }
            for member in local.members where member.state == .open {
                sendDropNotices(member, streamID: local.stream.id)
                sendControl(member, .streamEnded(streamID: local.stream.id, reason: .shutdown))
            }
            leaveAll(local)
        }
        for case let connection? in connections where connection.state == .open || connection.state == .awaitingHello {
            connection.state = .closing
            connection.closingSince = Clock.milliseconds()
            connection.closeReason = "server shutting down"
            flush(connection)
        }
    }

    private func allDrained() -> Bool {
        for case let connection? in connections where connection.state != .closed && !connection.outbound.isEmpty {
            return false
        }
        return true
    }

    private func closeEverything() {
        for case let connection? in connections { closeNow(connection, reason: "server stopped") }
        // Answer late report requests so nobody waits on a stopped thread.
        let reports = inbox.withLock { inbox in
            defer { inbox.reports = [] }
            return inbox.reports
        }
        for reply in reports { reply([], []) }
    }

    // MARK: Reports

    func report() -> ([ConnectionReport], [ClosedConnectionReport]) {
        let now = Clock.milliseconds()
        var open: [ConnectionReport] = []
        for case let connection? in connections where connection.state != .closed {
            var subscribed: [String] = []
            var attached: [String] = []
            for subscription in connection.subscriptions.values {
                if subscription.delivering { subscribed.append(subscription.stream.sid) } else { attached.append(subscription.stream.sid) }
            }
            open.append(
                ConnectionReport(
                    id: connection.id, peer: connection.peer, clientName: connection.clientName,
                    state: "\(connection.state)", reactorThread: index,
                    connectedForMilliseconds: now - connection.acceptedAt, subscribed: subscribed.sorted(),
                    attached: attached.sorted(), messagesDelivered: connection.messagesDelivered,
                    messagesDropped: connection.messagesDropped, bytesWritten: connection.bytesWritten,
                    framesReceived: connection.framesReceived, pendingBytes: connection.outbound.count,
                    outBufferAllocated: connection.outbound.allocatedBytes))
        }
        let closed = recentlyClosed.map { entry in
            var report = entry.report
            report.closedAgoMilliseconds = now - entry.at
            return report
        }
        return (open, closed)
    }

    func rememberClosed(_ connection: Connection, reason: String) {
        if recentlyClosed.count >= Self.recentlyClosedLimit { recentlyClosed.removeFirst() }
        recentlyClosed.append(
            (
                ClosedConnectionReport(
                    id: connection.id, peer: connection.peer, clientName: connection.clientName, reason: reason,
                    closedAgoMilliseconds: 0, messagesDelivered: connection.messagesDelivered,
                    messagesDropped: connection.messagesDropped),
                Clock.milliseconds()
            ))
    }
}

/// State all reactor threads share.
final class ReactorShared: Sendable {
    /// SO_RCVBUF for TCP data connections; nil: the kernel's autotuning (`Reactor.receiveBuffer`).
    let receiveBufferBytes: Int32?
    let openConnections = Atomic<Int>(0)
    let nextConnectionID = Atomic<UInt64>(0)
    let shutdownGraceMilliseconds = Atomic<Int>(5_000)

    init(receiveBufferBytes: Int32?) {
        self.receiveBufferBytes = receiveBufferBytes
    }
}

enum Clock {
    static func nanoseconds() -> UInt64 {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec)
    }

    /// Monotonic milliseconds.
    static func milliseconds() -> Int64 {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return Int64(spec.tv_sec) * 1000 + Int64(spec.tv_nsec) / 1_000_000
    }
}
