import CTernShims
import Glibc
import Logging
import Synchronization
import TernCore
import TernWire

/// One reactor thread's event loop: its epoll, listeners and connection table, the read turns,
/// the timers and the stop. The protocol and the fan-out are its `DataPlane`'s; other threads
/// reach it only through its `ReactorMailbox`.
///
/// Created on the starting thread and then handed to its own pthread, which is its only user.
final class ReactorLoop {
    let mailbox: ReactorMailbox
    let plane: DataPlane
    let broker: Broker
    let configuration: ReactorConfiguration
    let shared: ReactorShared
    let logger: Logger
    let epoll: Epoll

    var index: Int { mailbox.index }
    var counters: ReactorCounters { mailbox.counters }

    /// Connections by descriptor.
    var connections: [Connection?] = []
    var listeners: [ListeningSocket] = []
    var acceptingConnections = true
    /// Listeners are out of epoll after an accept error, until the next timer tick.
    var acceptPaused = false
    /// An open descriptor given up at the descriptor limit to accept-and-close one connection.
    let reserveDescriptor = ReserveDescriptor()
    /// Connections with input left unread to stay fair to others, read first next turn.
    var readAgainQueue: [Connection] = []
    var stopDeadline: Int64?
    var lastTick: Int64 = 0
    /// The mailbox's work, swapped in and out so its arrays keep their capacity.
    var work = ReactorMailbox.Work()
    /// Scratch space for reads: frames are parsed in place, copied only when one spans reads.
    let readBuffer: UnsafeMutableRawBufferPointer
    /// Frame bytes one stream may get in a turn before the turn delivers: a drain batch, and at
    /// most a quarter of the ring.
    let streamTurnLimit: Int
    /// `ReactorConfiguration.idleSpinMicroseconds` in nanoseconds (0: block at once).
    let spinNanoseconds: UInt64
    /// Monotonic ns of the last turn with events or mailbox work: spins are measured from it.
    var lastActivity: UInt64 = 0

    static let wakeToken: UInt64 = 0
    static let listenerTokenBase: UInt64 = 1 << 32
    static let connectionTokenBase: UInt64 = 2 << 32
    static let readSize = 64 * 1024
    /// Reads one connection gets per call before others have a turn, once the turn's read budget
    /// is spent (`mustWaitForNextTurn`).
    static let readsPerTurn = 4
    /// How often connection timers (handshake, PING, closing grace) are checked, and the longest
    /// an idle thread sleeps.
    static let timerIntervalMilliseconds: Int64 = 250

    init(
        index: Int,
        broker: Broker,
        configuration: ReactorConfiguration,
        shared: ReactorShared,
        logger: Logger
    )
        throws(SocketError)
    {
        var logger = logger
        logger[metadataKey: "reactor"] = "\(index)"
        self.logger = logger
        mailbox = try ReactorMailbox(index: index)
        self.broker = broker
        self.configuration = configuration
        self.shared = shared
        plane = DataPlane(
            index: index,
            broker: broker,
            configuration: configuration,
            counters: mailbox.counters,
            shared: shared,
            logger: logger
        )
        epoll = try Epoll()
        // A partial frame waiting for its rest is copied in front of each read: room for the
        // largest frame, which may be a HELLO or REFRESH_TOKEN above `maxFrameBody`.
        let largestFrame = max(configuration.maxFrameBody, WireLimits.maxTokenFrameBody) + WireLimits.headerSize
        readBuffer = .allocate(byteCount: Self.readSize + largestFrame, alignment: 16)
        streamTurnLimit = min(configuration.batchBytes, broker.limits.ringBytes / 4)
        spinNanoseconds = UInt64(max(0, configuration.idleSpinMicroseconds)) * 1000
        try epoll.add(mailbox.wakeSignal.fd, events: EPOLLIN.rawValue, token: Self.wakeToken)
        plane.onClose = { [unowned self] connection in self.forget(connection) }
    }

    deinit {
        readBuffer.deallocate()
    }

    func addListener(_ listener: ListeningSocket) throws(SocketError) {
        // Every thread watches every listener; EPOLLEXCLUSIVE wakes one of them per connection.
        try epoll.add(
            listener.fd,
            events: EPOLLIN.rawValue | EPOLLEXCLUSIVE.rawValue,
            token: Self.listenerTokenBase + UInt64(listeners.count)
        )
        listeners.append(listener)
    }

    // MARK: The loop

    func run() {
        ctern_set_thread_name("tern-reactor-\(index)")
        lastTick = MonotonicTime.milliseconds()
        while true {
            let busy = !readAgainQueue.isEmpty || plane.hasQueuedFlushes || !plane.fanOut.drainAgain.isEmpty
            var turnStart: UInt64 = 0
            let stillSpinning = !busy && spinNanoseconds > 0 && spin(turnStart: &turnStart)
            if turnStart == 0 {
                mailbox.sleeping.store(true, ordering: .sequentiallyConsistent)
                let timeout: Int32 =
                    busy || stillSpinning || mailbox.hasWork ? 0 : Int32(Self.timerIntervalMilliseconds)
                epoll.wait(timeout: timeout) { token, events in
                    if turnStart == 0 { turnStart = MonotonicTime.nanoseconds() }
                    handleEvent(token: token, events: events)
                }
            }
            let active = turnStart != 0 || mailbox.hasWork
            if turnStart == 0 { turnStart = MonotonicTime.nanoseconds() }
            if active { lastActivity = turnStart }
            mailbox.sleeping.store(false, ordering: .sequentiallyConsistent)
            defer {
                let spent = MonotonicTime.nanoseconds() &- turnStart
                counters.add(spent, to: .busyNanoseconds)
                counters.loopDurationBuckets.record(nanoseconds: spent)
            }
            counters.add(1, to: .loopIterations)
            mailbox.heartbeat.store(MonotonicTime.milliseconds(), ordering: .relaxed)
            let stall = mailbox.pendingStall.exchange(0, ordering: .relaxed)
            if stall > 0 { usleep(UInt32(stall) * 1000) }
            retryReads()
            plane.turn.finish(waking: broker)
            if processMailbox() { beginStop() }
            plane.flushQueued()
            let now = MonotonicTime.milliseconds()
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

    /// `--idle-spin`: polls without blocking (so `sleeping` stays false and wakers write no
    /// eventfd) until an event or mailbox work arrives, or the spin time since the last turn that
    /// had any has passed; never past the next timer scan, which runs between turns. An idle
    /// thread (timer turns only) does not spin.
    /// True when the spin stopped for the timer scan with spin time left: the caller runs the
    /// scan without sleeping, and spins again after it.
    private func spin(turnStart: inout UInt64) -> Bool {
        let nextTick = UInt64(max(0, lastTick + Self.timerIntervalMilliseconds)) &* 1_000_000
        let spinEnd = lastActivity &+ spinNanoseconds
        let until = min(spinEnd, nextTick)
        let now = MonotonicTime.nanoseconds()
        guard now < spinEnd else { return false }
        guard now < nextTick else { return true }
        var start: UInt64 = 0
        repeat {
            epoll.wait(timeout: 0) { token, events in
                if start == 0 { start = MonotonicTime.nanoseconds() }
                handleEvent(token: token, events: events)
            }
            if start != 0 || mailbox.hasWork { break }
        } while MonotonicTime.nanoseconds() < until
        turnStart = start
        return start == 0 && until < spinEnd
    }

    private func handleEvent(token: UInt64, events: UInt32) {
        if token == Self.wakeToken {
            mailbox.wakeSignal.clear()
        } else if token >= Self.connectionTokenBase {
            let fd = Int(token - Self.connectionTokenBase)
            guard fd < connections.count, let connection = connections[fd] else { return }
            if events & EPOLLOUT.rawValue != 0 {
                connection.writable = true
                if !connection.outbound.isEmpty { plane.flush(connection) }
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

    /// Drains dirty streams, ends ended ones, answers report requests. True when a stop was requested.
    private func processMailbox() -> Bool {
        plane.drainUnfinished()
        guard mailbox.hasWork else { return false }
        mailbox.take(into: &work)
        defer {
            work.dirty.removeAll(keepingCapacity: true)
            work.ended.removeAll(keepingCapacity: true)
            work.reports.removeAll(keepingCapacity: true)
            work.revokedKeys.removeAll(keepingCapacity: true)
            work.openedLanes.removeAll(keepingCapacity: true)
        }
        // Lanes first: a lane opened and ended in one period must be joined before it is ended.
        for lane in work.openedLanes { plane.fanOut.laneOpened(lane) }
        plane.streamsChanged(dirty: work.dirty, ended: work.ended)
        if !work.revokedKeys.isEmpty {
            let revoked = Set(work.revokedKeys)
            for case let connection? in connections {
                if let keySid = connection.accessToken?.keySid, revoked.contains(keySid) {
                    plane.session.revoke(connection)
                }
            }
        }
        if !work.reports.isEmpty {
            let (open, closed) = report()
            for reply in work.reports { reply(open, closed) }
        }
        return work.stop
    }

    /// Takes a closed connection out of epoll and the table (`DataPlane.onClose`).
    private func forget(_ connection: Connection) {
        epoll.remove(connection.fd)
        if Int(connection.fd) < connections.count, connections[Int(connection.fd)] === connection {
            connections[Int(connection.fd)] = nil
        }
    }

    // MARK: Timers

    /// Checks every connection's timers. A scan of the connection table every quarter second:
    /// at 65,536 connections about 0.1 ms, so no timer structure (ARCHITECTURE.md).
    private func tick(now: Int64) {
        resumeAccepting()
        for case let connection? in connections {
            plane.session.checkTimers(connection, now: now, stopping: stopDeadline != nil)
        }
    }

    // MARK: Stopping

    private func beginStop() {
        guard stopDeadline == nil else { return }
        if !acceptPaused { for listener in listeners { epoll.remove(listener.fd) } }
        acceptingConnections = false
        stopDeadline = MonotonicTime.milliseconds() + Int64(shared.shutdownGraceMilliseconds.load(ordering: .relaxed))
        // Deliver what is in the rings, then tell every member its streams end with the server.
        for local in Array(plane.fanOut.streams) { plane.fanOut.end(local, reason: .shutdown) }
        for case let connection? in connections where connection.state == .open || connection.state == .awaitingHello {
            plane.session.beginClosing(connection, reason: "server shutting down")
            plane.flush(connection)
        }
    }

    private func allDrained() -> Bool {
        for case let connection? in connections where connection.state != .closed && !connection.outbound.isEmpty {
            return false
        }
        return true
    }

    private func closeEverything() {
        for case let connection? in connections { plane.close(connection, reason: "server stopped") }
        // Answer late report requests so nobody waits on a stopped thread.
        for reply in mailbox.takeReports() { reply([], []) }
    }

    // MARK: Reports

    func report() -> ([ConnectionReport], [ClosedConnectionReport]) {
        let now = MonotonicTime.milliseconds()
        let open = connections.compactMap { connection -> ConnectionReport? in
            guard let connection, connection.state != .closed else { return nil }
            return ConnectionReport(connection, reactorThread: index, now: now)
        }
        let closed = plane.recentlyClosed.map { entry in
            var report = entry.report
            report.closedAgoMilliseconds = now - entry.at
            return report
        }
        return (open, closed)
    }
}
