import Foundation
import Glibc
import Synchronization
import TernWire
import Testing

// MARK: - The knobs

/// Everything that sizes the soak, in one place. The defaults are the CI size (about 60–90 s on
/// 2 cores); `make soak` sets the environment for the large run.
enum SoakKnobs {
    /// How long the flood and the churn run (`TERN_SOAK_SECONDS`).
    static let seconds = environment("TERN_SOAK_SECONDS", default: 60)
    /// Data-port connections held at once, besides the publisher's (`TERN_SOAK_CONNECTIONS`).
    static let connections = environment("TERN_SOAK_CONNECTIONS", default: 2000)
    /// Client threads that multiplex the connections with poll() (`TERN_SOAK_POLL_THREADS`).
    static let pollThreads = environment("TERN_SOAK_POLL_THREADS", default: 4)
    /// ternd's reactor threads.
    static let reactorThreads = 2

    /// Streams the publisher floods; each has healthy subscribers, slow ones and churners.
    static let floodStreams = 4
    static let healthyPerFloodStream = 16
    static let slowPerFloodStream = 16
    /// Bytes of each flood message's payload.
    static let payloadBytes = 1000
    /// Publishes per flood stream in one write, at most.
    static let publishBatch = 32
    /// Slow subscribers also subscribe to one of `floodStreams` blast streams, which no healthy
    /// subscriber holds back: the publisher sends them `blastRate` messages a second each.
    static let blastRate = 500

    /// Connections that subscribe to a flood stream and unsubscribe again, in cycles.
    static var churners: Int { connections / 10 }
    static let churnCyclesPerConnection = 60
    static let churnHoldMilliseconds = 100...1500

    /// Subscribers of each stream the REST churn creates, publishes to and deletes under them.
    static let doomedSubscribers = 50
    static let restCycles = 2000
    static let restPublishesPerCycle = 10
    /// Streams created and deleted with nobody on them, per REST cycle.
    static let restEmptyStreamsPerCycle = 2

    /// Every other connection subscribes to one trickle stream, published this often per second.
    static var trickleSubscribers: Int {
        connections - floodStreams * (healthyPerFloodStream + slowPerFloodStream) - churners - doomedSubscribers
    }
    static let trickleRate = 10

    /// Slow subscribers: a small receive buffer, then alternately stalled and reading (ms).
    static let slowReceiveBuffer: Int32 = 4096
    static let slowStallMilliseconds = 1000...4000
    static let slowReadMilliseconds = 300...1500

    /// ternd's caps: small, so that the memory bound below means something.
    static let outBuffer = 16 * 1024
    static let ringBytes = 64 * 1024
    static let maxPayload = 1024
    static let maxFrame = 2048
    /// Messages a flood stream may run ahead of its slowest healthy subscriber: half an
    /// out-buffer, so that a subscriber that keeps reading never has one dropped.
    static var window: UInt64 { UInt64(outBuffer / 2 / (payloadBytes + 20)) }

    /// The memory bound: the RSS after start, plus per connection its out-buffer (the buffer's
    /// capacity may round up to twice the limit) and bookkeeping, plus a ring per stream with
    /// subscribers, plus an allowance for allocator slack, thread arenas and the control port.
    static let perConnectionOverhead = 8 * 1024
    static let memoryAllowance = 48 << 20
    static func memoryBound(baseline: Int, streams: Int) -> Int {
        baseline + (connections + 2) * (2 * outBuffer + perConnectionOverhead) + streams * ringBytes + memoryAllowance
    }

    /// Time limits of the phases around the run (seconds).
    static let setupTimeout = 120.0
    static let drainTimeout = 60.0
    static let closeTimeout = 30.0

    private static func environment(_ name: String, default value: Int) -> Int {
        ProcessInfo.processInfo.environment[name].flatMap { Int($0) } ?? value
    }
}

// MARK: - The test

/// Thousands of data-port connections at once against one real ternd with small caps: a
/// flooding publisher, healthy and slow subscribers, subscribe/unsubscribe churn and REST
/// create/delete churn, all at the same time. ternd's memory stays within its caps, healthy
/// subscribers lose nothing, every loss is reported exactly and in its place, deleted streams
/// end with STREAM_ENDED, the gauges return to 0 and SIGTERM exits 0.
@Suite(.serialized)
struct SoakTests {
    @Test func soak() throws {
        typealias K = SoakKnobs
        let started = Date()
        raiseFileLimit()
        let daemon = try TernDaemon.start(extraArguments: [
            "--threads", "\(K.reactorThreads)", "--out-buffer", "\(K.outBuffer)", "--ring-bytes", "\(K.ringBytes)",
            "--max-payload", "\(K.maxPayload)", "--max-frame", "\(K.maxFrame)",
            "--max-connections", "\(K.connections + 100)", "--log-level", "notice",
        ])
        defer { daemon.stop() }
        let baselineRSS = daemon.residentBytes
        let shared = SoakShared()
        // Flood streams, the trickle stream, blast streams.
        shared.sids = try (0...(2 * K.floodStreams)).map { try daemon.createStream(uniqueName: "soak-\($0)") }

        // The connections: HELLO and SUBSCRIBE pipelined, then handed to the poll threads.
        var clients: [SoakClient] = []
        var healthySlot = [Int](repeating: 0, count: K.floodStreams)
        for index in 0..<K.connections {
            let role = Self.role(of: index)
            let client = try SoakClient(port: daemon.dataPort, role: role)
            switch role {
            case .healthy(let stream):
                client.progressSlot = healthySlot[stream]
                healthySlot[stream] += 1
                try client.subscribe(key: stream, sid: shared.sids[stream])
            case .slow(let stream):
                try client.subscribe(key: stream, sid: shared.sids[stream])
                try client.subscribe(key: K.floodStreams + 1 + stream, sid: shared.sids[K.floodStreams + 1 + stream])
            case .trickle: try client.subscribe(key: K.floodStreams, sid: shared.sids[K.floodStreams])
            case .churner, .doomed: break
            }
            client.makeNonBlocking()
            clients.append(client)
        }
        shared.progress = HealthyProgress(streams: K.floodStreams, slots: K.healthyPerFloodStream)
        let expectedInitial =
            K.floodStreams * (K.healthyPerFloodStream + 2 * K.slowPerFloodStream) + K.trickleSubscribers
        var pollThreads: [JoinableThread] = []
        for thread in 0..<K.pollThreads {
            let mine = stride(from: thread, to: clients.count, by: K.pollThreads).map { clients[$0] }
            pollThreads.append(JoinableThread(name: "soak-poll-\(thread)") { SoakClient.pollLoop(mine, shared) })
        }
        try #require(
            wait(K.setupTimeout) { shared.openSubscriptions.load(ordering: .acquiring) == expectedInitial },
            "\(shared.openSubscriptions.load(ordering: .acquiring)) of \(expectedInitial) subscriptions after \(K.setupTimeout) s"
        )
        let setupSeconds = Date().timeIntervalSince(started)
        let open = try daemon.metrics().value("tern_connections_open") ?? 0
        #expect(open >= Double(K.connections), "tern_connections_open \(open) with \(K.connections) clients connected")

        // The run: flood, churn and REST churn at once, for `seconds`; memory sampled throughout.
        let deadline = Date().addingTimeInterval(Double(K.seconds))
        shared.running.store(true, ordering: .releasing)
        let monitor = JoinableThread(name: "soak-rss") {
            while !shared.stop.load(ordering: .acquiring) {
                let rss = daemon.residentBytes
                if rss > shared.maxRSS.load(ordering: .relaxed) { shared.maxRSS.store(rss, ordering: .relaxed) }
                usleep(200_000)
            }
        }
        let publisherResult = Locked(PublisherResult())
        let publisher = JoinableThread(name: "soak-publisher") {
            do {
                let result = try SoakPublisher.run(port: daemon.dataPort, shared: shared, until: deadline, blast: false)
                publisherResult.mutate {
                    $0.flood = result.flood
                    $0.trickle = result.trickle
                }
            } catch {
                shared.problem("publisher: \(error)")
            }
        }
        let blaster = JoinableThread(name: "soak-blaster") {
            do {
                let result = try SoakPublisher.run(port: daemon.dataPort, shared: shared, until: deadline, blast: true)
                publisherResult.mutate { $0.blast = result.blast }
            } catch {
                shared.problem("blaster: \(error)")
            }
        }
        let restCycles = Locked(0)
        let rest = JoinableThread(name: "soak-rest") {
            restCycles.set(SoakREST.run(daemon: daemon, shared: shared, until: deadline))
        }
        publisher.join()
        blaster.join()
        rest.join()
        let published = publisherResult.get()

        // Wind down: churn stops, slow subscribers read again; then every stream is deleted
        // under its subscribers, and each must end with STREAM_ENDED.
        shared.windingDown.store(true, ordering: .releasing)
        usleep(1_000_000)
        for sid in shared.sids {
            let status = try daemon.deleteStream(sid).status
            #expect(status == 204, "DELETE \(sid): \(status)")
        }
        let drained = wait(K.drainTimeout) { shared.openSubscriptions.load(ordering: .acquiring) == 0 }
        #expect(drained, "\(shared.openSubscriptions.load(ordering: .acquiring)) subscriptions never saw STREAM_ENDED")
        #expect(try daemon.waitForMetric("tern_subscriptions", toBe: 0, timeout: 10) == 0)
        #expect(try daemon.waitForMetric("tern_attachments", toBe: 0, timeout: 10) == 0)

        // Everyone hangs up: the gauges return to 0.
        shared.expectClose.store(true, ordering: .releasing)
        shared.stop.store(true, ordering: .releasing)
        for thread in pollThreads { thread.join() }
        monitor.join()
        for client in clients { client.close() }
        shared.keepAlive.set([])
        #expect(try daemon.waitForMetric("tern_connections_open", toBe: 0, timeout: K.closeTimeout) == 0)
        #expect(try daemon.waitForMetric("tern_subscriptions", toBe: 0) == 0)
        #expect(try daemon.waitForMetric("tern_attachments", toBe: 0) == 0)

        // Memory: within the caps all along.
        let bound = K.memoryBound(baseline: baselineRSS, streams: shared.sids.count + 1)
        let maxRSS = shared.maxRSS.load(ordering: .relaxed)
        #expect(maxRSS > 0 && maxRSS <= bound, "ternd's RSS peaked at \(maxRSS >> 20) MiB; bound \(bound >> 20) MiB")

        // What every connection saw.
        var summary = SoakSummary()
        for client in clients { summary.add(client, published: published) }
        let problems = shared.allProblems() + summary.problems
        #expect(problems.isEmpty, "\(problems.count) problems, first: \(problems.prefix(10).joined(separator: "; "))")
        #expect(
            summary.healthy == K.floodStreams * K.healthyPerFloodStream,
            "healthy subscriptions ended: \(summary.healthy)"
        )
        #expect(summary.slow == 2 * K.floodStreams * K.slowPerFloodStream, "slow subscriptions ended: \(summary.slow)")
        #expect(summary.trickle == K.trickleSubscribers, "trickle subscriptions ended: \(summary.trickle)")
        #expect(summary.slowDropped > 0, "no slow subscriber lost anything: the soak proved nothing")
        #expect(
            summary.churnCycles > 0 && restCycles.get() > 0,
            "churn cycles \(summary.churnCycles), REST cycles \(restCycles.get())"
        )
        #expect(published.flood.allSatisfy { $0 > 0 }, "flood streams published \(published.flood)")

        // SIGTERM with the log clean.
        #expect(daemon.stop(timeout: 20) == 0, "ternd's exit status on SIGTERM")
        print(
            """
            soak: \(K.connections) connections, \(K.seconds) s run (setup \(Int(setupSeconds)) s, total \
            \(Int(Date().timeIntervalSince(started))) s); published \(published.flood) flood + \(published.trickle) \
            trickle + \(published.blast) blast; slow subscribers lost \(summary.slowDropped) of \(summary.slowDue); \(summary.churnCycles) \
            subscribe/unsubscribe cycles, \(restCycles.get()) REST cycles; RSS peak \(maxRSS >> 20) MiB \
            (start \(baselineRSS >> 20) MiB, bound \(bound >> 20) MiB)
            """
        )
    }

    static func role(of index: Int) -> SoakClient.Role {
        typealias K = SoakKnobs
        var rest = index
        let healthy = K.floodStreams * K.healthyPerFloodStream
        if rest < healthy { return .healthy(rest % K.floodStreams) }
        rest -= healthy
        let slow = K.floodStreams * K.slowPerFloodStream
        if rest < slow { return .slow(rest % K.floodStreams) }
        rest -= slow
        if rest < K.churners { return .churner(rest % K.floodStreams) }
        rest -= K.churners
        if rest < K.doomedSubscribers { return .doomed }
        return .trickle
    }

    private func raiseFileLimit() {
        var limit = rlimit()
        guard getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return }
        limit.rlim_cur = limit.rlim_max
        _ = setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
    }
}

/// Polls `condition` every 50 ms for at most `timeout` seconds.
private func wait(_ timeout: Double, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while !condition() {
        if Date() >= deadline { return false }
        usleep(50_000)
    }
    return true
}

private func monotonicMilliseconds() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) * 1000 + UInt64(now.tv_nsec) / 1_000_000
}

// MARK: - Shared state

/// State the soak's threads share; flags and counters are atomics, the rest is behind locks.
final class SoakShared: @unchecked Sendable {
    /// Stream sids: the flood streams, then the trickle stream. Set before any thread starts.
    var sids: [String] = []
    var progress = HealthyProgress(streams: 0, slots: 0)
    let running = Atomic<Bool>(false)
    let windingDown = Atomic<Bool>(false)
    let stop = Atomic<Bool>(false)
    let expectClose = Atomic<Bool>(false)
    let openSubscriptions = Atomic<Int>(0)
    let maxRSS = Atomic<Int>(0)
    let board = Locked(DoomedBoard())
    /// The publisher's connection, held open until everyone hangs up.
    let keepAlive = Locked<[AnyObject]>([])
    private let problems = Locked<[String]>([])

    func problem(_ text: String) { problems.mutate { if $0.count < 1000 { $0.append(text) } } }
    func allProblems() -> [String] { problems.get() }
}

/// A small lock around a value (pthread-backed NSLock, which Thread Sanitizer understands).
final class Locked<Value>: @unchecked Sendable {
    private var value: Value
    private let lock = NSLock()
    init(_ value: Value) { self.value = value }
    func get() -> Value { lock.withLock { value } }
    func set(_ newValue: Value) { lock.withLock { value = newValue } }
    @discardableResult
    func mutate<R>(_ body: (inout Value) -> R) -> R { lock.withLock { body(&value) } }
}

/// The last sequence each healthy subscriber of each flood stream has seen, so the publisher
/// can stay within `window` messages of the slowest of them.
final class HealthyProgress: @unchecked Sendable {
    private var seen: [[UInt64]]
    private let lock = NSLock()
    init(streams: Int, slots: Int) { seen = Array(repeating: Array(repeating: 0, count: slots), count: streams) }
    func update(stream: Int, slot: Int, sequence: UInt64) { lock.withLock { seen[stream][slot] = sequence } }
    func minimum(stream: Int) -> UInt64 { lock.withLock { seen[stream].min() ?? 0 } }
}

/// The stream the REST churn currently offers to the doomed subscribers, and what they report.
struct DoomedBoard {
    var generation = 0
    var sid = ""
    var subscribed = 0
    var ended: [Ledger] = []
}

/// A thread that can be joined.
final class JoinableThread: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    init(name: String, _ body: @escaping @Sendable () -> Void) {
        let thread = Thread { [done] in
            body()
            done.signal()
        }
        thread.name = name
        thread.start()
    }
    func join() { done.wait() }
}

// MARK: - The clients

/// One data-port connection of the soak, driven by the poll thread that owns it.
final class SoakClient: @unchecked Sendable {
    enum Role {
        case healthy(Int)
        case slow(Int)
        case churner(Int)
        case doomed, trickle
    }

    /// A subscription and its ledger; `key` is the flood stream's index, `floodStreams` for the
    /// trickle stream, or `-generation` for a REST-churned stream.
    struct Subscription {
        var ledger: Ledger
        let key: Int
        var unsubscribed = false
    }

    enum ChurnState { case idle, subscribing, subscribed, unsubscribing }

    let fd: Int32
    let role: Role
    var progressSlot = 0
    private var pending: [UInt8] = []
    private var requests: [UInt32: Int] = [:]
    private var nextRequestID: UInt32 = 1
    private var subscriptions: [UInt32: Subscription] = [:]
    /// Stream ids this connection unsubscribed from: nothing more may arrive for them.
    private var left: Set<UInt32> = []
    private(set) var finished: [Subscription] = []
    private(set) var problems: [String] = []
    private(set) var churnCycles = 0
    private var churnState = ChurnState.idle
    private var nextAction: UInt64 = 0
    private var stalled = false
    private var doomedGeneration = 0
    private var closed = false

    init(port: Int, role: Role) throws {
        self.role = role
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw HarnessError("socket failed: errno \(errno)") }
        if case .slow = role {
            var size = SoakKnobs.slowReceiveBuffer
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard result == 0 else {
            Glibc.close(fd)
            throw HarnessError("connect failed: errno \(errno)")
        }
        self.fd = fd
        try TestSocket.writeAll(fd, Frame.hello(.init(clientName: "soak")).encoded())
    }

    func makeNonBlocking() { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }

    func close() {
        if fd >= 0 { Glibc.close(fd) }
    }

    func subscribe(key: Int, sid: String) throws {
        let requestID = nextRequestID
        nextRequestID += 1
        requests[requestID] = key
        try sendFrame(.subscribe(.init(requestID: requestID, stream: sid)))
    }

    private func sendFrame(_ frame: Frame) throws {
        let bytes = frame.encoded()
        let written = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        // Client frames are tiny and the server always reads: a short write is a finding.
        guard written == bytes.count else {
            throw HarnessError("send of \(bytes.count) bytes wrote \(written), errno \(errno)")
        }
    }

    private func problem(_ text: String) {
        if problems.count < 20 { problems.append("\(role) fd \(fd): \(text)") }
    }

    /// One poll thread: its connections, until `stop`.
    static func pollLoop(_ clients: [SoakClient], _ shared: SoakShared) {
        var fds = [pollfd](repeating: pollfd(fd: -1, events: 0, revents: 0), count: clients.count)
        let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 256 * 1024, alignment: 8)
        defer { scratch.deallocate() }
        var lastTick: UInt64 = 0
        while !shared.stop.load(ordering: .acquiring) {
            let now = monotonicMilliseconds()
            if now - lastTick >= 10 {
                lastTick = now
                let running = shared.running.load(ordering: .acquiring)
                let windingDown = shared.windingDown.load(ordering: .acquiring)
                let board =
                    clients.contains { if case .doomed = $0.role { true } else { false } }
                    ? shared.board.mutate { ($0.generation, $0.sid) } : (0, "")
                for (index, client) in clients.enumerated() {
                    client.tick(now: now, running: running, windingDown: windingDown, board: board, shared: shared)
                    fds[index].fd = client.closed ? -1 : client.fd
                    fds[index].events = client.stalled ? 0 : Int16(POLLIN)
                }
            }
            guard poll(&fds, nfds_t(fds.count), 10) > 0 else { continue }
            for index in fds.indices where fds[index].revents != 0 && fds[index].fd >= 0 {
                clients[index].readAvailable(scratch, shared)
            }
        }
    }

    /// Timers: a slow subscriber's stall and read phases, a churner's next step, a doomed
    /// subscriber's next stream.
    private func tick(now: UInt64, running: Bool, windingDown: Bool, board: (Int, String), shared: SoakShared) {
        guard running, !closed else { return }
        switch role {
        case .slow:
            if windingDown {
                stalled = false
            } else if now >= nextAction {
                stalled.toggle()
                let range = stalled ? SoakKnobs.slowStallMilliseconds : SoakKnobs.slowReadMilliseconds
                nextAction = now + UInt64(Int.random(in: range))
            }
        case .churner(let stream):
            guard !windingDown, now >= nextAction else { return }
            do {
                if churnState == .idle && churnCycles < SoakKnobs.churnCyclesPerConnection {
                    try subscribe(key: stream, sid: shared.sids[stream])
                    churnState = .subscribing
                } else if churnState == .subscribed,
                    let streamID = subscriptions.first(where: { !$0.value.unsubscribed })?.key
                {
                    subscriptions[streamID]?.unsubscribed = true
                    try sendFrame(.unsubscribe(requestID: nextRequestID, streamID: streamID))
                    nextRequestID += 1
                    churnState = .unsubscribing
                }
            } catch {
                problem("\(error)")
            }
        case .doomed:
            guard !windingDown, churnState == .idle, board.0 > doomedGeneration else { return }
            doomedGeneration = board.0
            do {
                try subscribe(key: -board.0, sid: board.1)
                churnState = .subscribing
            } catch {
                problem("\(error)")
            }
        case .healthy, .trickle:
            break
        }
    }

    private func readAvailable(_ scratch: UnsafeMutableRawBufferPointer, _ shared: SoakShared) {
        for _ in 0..<4 {
            let count = read(fd, scratch.baseAddress, scratch.count)
            if count < 0 {
                if errno == EAGAIN || errno == EINTR { break }
                problem("read failed: errno \(errno)")
                closed = true
                return
            }
            if count == 0 {
                if !shared.expectClose.load(ordering: .acquiring) { problem("closed by the server") }
                closed = true
                return
            }
            if pending.isEmpty {
                let used = parse(UnsafeRawBufferPointer(rebasing: scratch[0..<count]), shared)
                if used < count { pending.append(contentsOf: UnsafeRawBufferPointer(rebasing: scratch[used..<count])) }
            } else {
                pending.append(contentsOf: UnsafeRawBufferPointer(rebasing: scratch[0..<count]))
                let input = pending
                let used = input.withUnsafeBytes { parse($0, shared) }
                pending = Array(input[used...])
            }
            if count < scratch.count { break }
        }
        if case .healthy(let stream) = role, let subscription = subscriptions.values.first {
            shared.progress.update(stream: stream, slot: progressSlot, sequence: subscription.ledger.lastSequence)
        }
    }

    private func parse(_ raw: UnsafeRawBufferPointer, _ shared: SoakShared) -> Int {
        var offset = 0
        while raw.count - offset >= WireLimits.headerSize {
            let length = Int(UInt32(bigEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt32.self)))
            guard raw.count - offset - WireLimits.headerSize >= length else { break }
            let body = UnsafeRawBufferPointer(
                rebasing: raw[(offset + WireLimits.headerSize)..<(offset + WireLimits.headerSize + length)]
            )
            handle(type: raw[offset + 4], flags: raw[offset + 5], body: body, shared: shared)
            offset += WireLimits.headerSize + length
        }
        return offset
    }

    private func handle(type: UInt8, flags: UInt8, body: UnsafeRawBufferPointer, shared: SoakShared) {
        func u32(_ at: Int) -> UInt32 { UInt32(bigEndian: body.loadUnaligned(fromByteOffset: at, as: UInt32.self)) }
        func u64(_ at: Int) -> UInt64 { UInt64(bigEndian: body.loadUnaligned(fromByteOffset: at, as: UInt64.self)) }
        switch FrameType(rawValue: type) {
        case .message:
            let streamID = u32(0)
            if subscriptions[streamID] != nil {
                subscriptions[streamID]!.ledger.message(sequence: u64(4))
            } else {
                stray("MESSAGE", streamID)
            }
        case .dropped:
            let streamID = u32(0)
            if subscriptions[streamID] != nil {
                subscriptions[streamID]!.ledger.dropped(count: u64(4))
            } else {
                stray("DROPPED", streamID)
            }
        case .streamEnded:
            let streamID = u32(0)
            guard var subscription = subscriptions.removeValue(forKey: streamID) else {
                stray("STREAM_ENDED", streamID)
                return
            }
            subscription.ledger.ended(StreamEndReason(rawValue: body[4]) ?? .shutdown)
            finish(subscription, shared)
        case .subscribed:
            let requestID = u32(0)
            let streamID = u32(4)
            guard let key = requests.removeValue(forKey: requestID) else {
                problem("SUBSCRIBED for request \(requestID) never sent")
                return
            }
            if subscriptions[streamID] != nil { problem("SUBSCRIBED for stream \(streamID) already held") }
            left.remove(streamID)
            subscriptions[streamID] = Subscription(ledger: Ledger(nextSequence: u64(16)), key: key)
            shared.openSubscriptions.add(1, ordering: .acquiringAndReleasing)
            switch role {
            case .churner:
                churnState = .subscribed
                nextAction = monotonicMilliseconds() + UInt64(Int.random(in: SoakKnobs.churnHoldMilliseconds))
            case .doomed:
                churnState = .subscribed
                shared.board.mutate { if $0.generation == -key { $0.subscribed += 1 } }
            default:
                break
            }
        case .unsubscribed:
            let streamID = u32(4)
            guard let subscription = subscriptions.removeValue(forKey: streamID), subscription.unsubscribed else {
                problem("UNSUBSCRIBED for stream \(streamID) not asked for")
                return
            }
            left.insert(streamID)
            finish(subscription, shared)
        case .error:
            let code = UInt16(bigEndian: body.loadUnaligned(fromByteOffset: 4, as: UInt16.self))
            problem("ERROR code \(code) (request \(u32(0)), fatal \(flags & 1 == 1))")
        case .ping:
            do { try sendFrame(.pong(u64(0))) } catch { problem("PONG: \(error)") }
        case .welcome, .published, .pong:
            break
        default:
            problem("unexpected frame type \(type)")
        }
    }

    private func stray(_ what: String, _ streamID: UInt32) {
        problem(
            left.contains(streamID)
                ? "\(what) for stream \(streamID) after UNSUBSCRIBED" : "\(what) for unknown stream \(streamID)"
        )
    }

    private func finish(_ subscription: Subscription, _ shared: SoakShared) {
        shared.openSubscriptions.subtract(1, ordering: .acquiringAndReleasing)
        finished.append(subscription)
        switch role {
        case .churner:
            churnCycles += 1
            churnState = .idle
            nextAction = monotonicMilliseconds() + UInt64(Int.random(in: 0...200))
        case .doomed:
            churnState = .idle
            shared.board.mutate { if $0.generation == -subscription.key { $0.ended.append(subscription.ledger) } }
        default:
            break
        }
    }
}

// MARK: - The publisher and the REST churn

struct PublisherResult {
    /// The last sequence published to each flood stream, and to the trickle stream.
    var flood: [UInt64] = []
    var trickle: UInt64 = 0
    var blast: [UInt64] = []

    /// The last sequence of the stream with this subscription key.
    func last(key: Int) -> UInt64? {
        if key < 0 { return nil }
        if key < flood.count { return flood[key] }
        if key == flood.count { return trickle }
        return key - flood.count - 1 < blast.count ? blast[key - flood.count - 1] : nil
    }
}

enum SoakPublisher {
    /// Floods every flood stream as fast as its healthy subscribers read (at most `window`
    /// ahead of the slowest) and publishes to the trickle stream `trickleRate` times a second,
    /// until `deadline`. One connection, attached to every stream; one sequence counter each.
    /// With `blast`, only the blast streams (on a connection of its own, so that the flood's
    /// publishes never wait behind the blast's in one socket); else the others.
    static func run(port: Int, shared: SoakShared, until deadline: Date, blast: Bool) throws -> PublisherResult {
        typealias K = SoakKnobs
        let client = try RawDataClient(port: port)
        try client.handshake(name: blast ? "soak-blaster" : "soak-publisher")
        var streamIDs: [UInt32] = []
        var last: [UInt64] = []
        for (index, sid) in shared.sids.enumerated() {
            if blast != (index > K.floodStreams) {
                streamIDs.append(0)
                last.append(0)
                continue
            }
            let attached = try client.subscribe(sid, requestID: UInt32(index + 1), attachOnly: true)
            streamIDs.append(attached.streamID)
            last.append(attached.nextSequence - 1)
        }
        let pad = String(repeating: "f", count: K.payloadBytes - 10)
        let payload = Array("{\"pad\":\"\(pad)\"}".utf8)
        let tricklePayload = Array("{\"tick\":true}".utf8)
        let trickle = K.floodStreams
        var nextTrickle = monotonicMilliseconds()
        let blastStart = monotonicMilliseconds()
        var blasted: UInt64 = 0
        var turns = 0
        while Date() < deadline {
            var batch: [UInt8] = []
            for stream in 0..<K.floodStreams where !blast {
                let allowed = Int(shared.progress.minimum(stream: stream) + K.window) - Int(last[stream])
                for _ in 0..<max(0, min(allowed, K.publishBatch)) {
                    Frame.publish(.init(requestID: 0, streamID: streamIDs[stream], payload: payload)).encode(
                        into: &batch
                    )
                    last[stream] += 1
                }
            }
            let blastDue = (monotonicMilliseconds() - blastStart) * UInt64(K.blastRate) / 1000
            if blast, blastDue > blasted {
                let count = min(Int(blastDue - blasted), K.publishBatch)
                for stream in 0..<K.floodStreams {
                    for _ in 0..<count {
                        Frame.publish(.init(requestID: 0, streamID: streamIDs[trickle + 1 + stream], payload: payload))
                            .encode(into: &batch)
                        last[trickle + 1 + stream] += 1
                    }
                }
                blasted += UInt64(count)
            }
            if !blast, monotonicMilliseconds() >= nextTrickle {
                Frame.publish(.init(requestID: 0, streamID: streamIDs[trickle], payload: tricklePayload)).encode(
                    into: &batch
                )
                last[trickle] += 1
                nextTrickle += UInt64(1000 / K.trickleRate)
            }
            if batch.isEmpty { usleep(200) } else { try TestSocket.writeAll(client.fd, batch) }
            turns += 1
            // Nothing is expected back but PINGs: anything else (an ERROR) is a finding.
            if turns % 64 == 0, let frame = try? client.next(timeout: 0.001) {
                if case .ping(let opaque) = frame {
                    try client.send(.pong(opaque))
                } else {
                    shared.problem("publisher got \(frame)")
                }
            }
        }
        // A PING's PONG comes after every earlier frame was handled: then `last` is what was
        // accepted (a publish still unread when its stream is deleted would be refused).
        try client.send(.ping(0x50_4f_4b))
        var ponged = false
        while !ponged, let frame = try client.next(timeout: 60) {
            if case .pong(0x50_4f_4b) = frame {
                ponged = true
            } else if case .ping(let opaque) = frame {
                try client.send(.pong(opaque))
            } else if case .pong = frame {
            } else {
                shared.problem("publisher got \(frame)")
            }
        }
        if !ponged { shared.problem("publisher: no PONG after the run") }
        // Its attachments end with the streams, after the run; it stays connected until then.
        shared.keepAlive.mutate { $0.append(client) }
        return PublisherResult(
            flood: Array(last[0..<K.floodStreams]),
            trickle: last[trickle],
            blast: Array(last[(trickle + 1)...])
        )
    }
}

enum SoakREST {
    /// Creates a stream, waits for the doomed subscribers to subscribe, publishes to it over
    /// REST, deletes it under them and checks that each saw every message and STREAM_ENDED
    /// (DELETED); plus streams created and deleted with nobody on them. Returns the cycles run.
    static func run(daemon: TernDaemon, shared: SoakShared, until deadline: Date) -> Int {
        typealias K = SoakKnobs
        var cycles = 0
        while cycles < K.restCycles && Date() < deadline {
            cycles += 1
            do {
                let sid = try daemon.createStream(uniqueName: "soak-doomed-\(cycles)")
                shared.board.set(DoomedBoard(generation: cycles, sid: sid))
                if !wait(10, { shared.board.get().subscribed == K.doomedSubscribers }) {
                    shared.problem(
                        "REST cycle \(cycles): \(shared.board.get().subscribed) of \(K.doomedSubscribers) subscribed"
                    )
                }
                var accepted: UInt64 = 0
                for index in 0..<K.restPublishesPerCycle {
                    let response = try daemon.publishREST(stream: sid, data: "{\"cycle\":\(cycles),\"index\":\(index)}")
                    if response.status == 201 {
                        accepted += 1
                    } else {
                        shared.problem("REST publish: \(response.status)")
                    }
                }
                for index in 0..<K.restEmptyStreamsPerCycle {
                    let empty = try daemon.createStream(uniqueName: "soak-empty-\(cycles)-\(index)")
                    let status = try daemon.deleteStream(empty).status
                    if status != 204 { shared.problem("DELETE of an empty stream: \(status)") }
                }
                let status = try daemon.deleteStream(sid).status
                if status != 204 { shared.problem("DELETE under subscribers: \(status)") }
                let subscribed = shared.board.get().subscribed
                if !wait(15, { shared.board.get().ended.count == subscribed }) {
                    shared.problem(
                        "REST cycle \(cycles): \(shared.board.get().ended.count) of \(subscribed) saw STREAM_ENDED"
                    )
                }
                for ledger in shared.board.get().ended {
                    if ledger.ended != .deleted {
                        shared.problem("REST cycle \(cycles): ended \(String(describing: ledger.ended))")
                    }
                    if !ledger.violations.isEmpty {
                        shared.problem("REST cycle \(cycles): \(ledger.violations.prefix(3))")
                    }
                    if let tail = ledger.checkTail(lastPublished: accepted) {
                        shared.problem("REST cycle \(cycles): \(tail)")
                    }
                }
            } catch {
                shared.problem("REST cycle \(cycles): \(error)")
            }
        }
        shared.board.set(DoomedBoard())
        return cycles
    }
}

// MARK: - The verdict

/// Checks every connection's finished subscriptions against what was published.
struct SoakSummary {
    var healthy = 0
    var slow = 0
    var trickle = 0
    var slowDropped: UInt64 = 0
    var slowDue: UInt64 = 0
    var churnCycles = 0
    var problems: [String] = []

    mutating func add(_ client: SoakClient, published: PublisherResult) {
        problems += client.problems
        churnCycles += client.churnCycles
        for subscription in client.finished {
            let ledger = subscription.ledger
            let context = "\(client.role) fd \(client.fd)"
            if !ledger.violations.isEmpty { problems.append("\(context): \(ledger.violations.prefix(3))") }
            let last = published.last(key: subscription.key)
            switch client.role {
            case .healthy, .trickle:
                if case .healthy = client.role { healthy += 1 } else { trickle += 1 }
                if ledger.ended != .deleted { problems.append("\(context): ended \(String(describing: ledger.ended))") }
                if ledger.dropped > 0 { problems.append("\(context): a healthy subscriber lost \(ledger.dropped)") }
                if let last, ledger.received != Int(last) {
                    problems.append("\(context): received \(ledger.received) of \(last)")
                }
            case .slow:
                slow += 1
                slowDropped += ledger.dropped
                slowDue += ledger.accounted
                if ledger.ended != .deleted { problems.append("\(context): ended \(String(describing: ledger.ended))") }
                if let last, let tail = ledger.checkTail(lastPublished: last) { problems.append("\(context): \(tail)") }
            case .churner:
                if let reason = ledger.ended, reason != .deleted { problems.append("\(context): ended \(reason)") }
                if ledger.ended != nil, let last, let tail = ledger.checkTail(lastPublished: last) {
                    problems.append("\(context): \(tail)")
                }
            case .doomed:
                break  // checked by the REST churn, cycle by cycle
            }
        }
    }
}
