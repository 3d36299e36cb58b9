import Logging
import TernCore
import TernWire

@testable import TernReactor

/// A connection's output in memory, as `EmbeddedChannel` keeps NIO's: every byte the data plane
/// writes lands in `written`. `room` plays the socket's send buffer: nil takes everything, a
/// number takes that many bytes and then answers "would block" until the test gives more.
final class MemoryIO: ConnectionIO {
    var written: [UInt8] = []
    var room: Int?
    /// Set to make the next write fail as a vanished peer's would.
    var failure: String?
    private(set) var closed = false

    func write(_ bytes: UnsafeRawBufferPointer) -> WriteOutcome {
        if let failure { return .failed(failure) }
        let taken = min(bytes.count, room ?? bytes.count)
        if taken == 0 && bytes.count > 0 { return .wouldBlock }
        written.append(contentsOf: bytes[..<taken])
        if let room { self.room = room - taken }
        return .wrote(taken)
    }

    func close() { closed = true }
}

/// One reactor thread's data plane (session, fan-out, writes) with no event loop, no sockets and
/// a clock the test moves: bytes go in through `EmbeddedClient.send`, frames come out of
/// `EmbeddedClient.received()`. Each `send` is a whole loop turn: read, wake readers, drain,
/// flush.
final class EmbeddedDataPlane {
    let broker: Broker
    let plane: DataPlane
    let mailbox: ReactorMailbox
    let shared = ReactorShared(receiveBufferBytes: nil)
    var clock: Int64 = EmbeddedDataPlane.startClock
    static let startClock: Int64 = 1_000_000
    /// The wall clock (Unix seconds) when `clock` is at its start; it moves with `clock`.
    static let unixEpoch: Int64 = 1_700_000_000
    var unixSeconds: Int64 { Self.unixEpoch + (clock - Self.startClock) / 1000 }
    private var nextSlot: Int32 = 1000
    private var work = ReactorMailbox.Work()

    init(limits: BrokerLimits = BrokerLimits(), configure: (inout ReactorConfiguration) -> Void = { _ in }) throws {
        var configuration = ReactorConfiguration()
        configuration.threads = 1
        configure(&configuration)
        broker = try Broker(
            limits: limits,
            accountSid: Sid.generate(.account),
            defaultServiceSid: Sid.generate(.service)
        )
        mailbox = try ReactorMailbox(index: 0)
        broker.installReaderGroups([mailbox])
        let clock = ClockBox()
        plane = DataPlane(
            index: 0,
            broker: broker,
            configuration: configuration,
            counters: mailbox.counters,
            shared: shared,
            logger: Logger(label: "embedded"),
            now: { clock.now },
            unixSeconds: { Self.unixEpoch + (clock.now - Self.startClock) / 1000 }
        )
        clockBox = clock
        clockBox.now = self.clock
    }

    private let clockBox: ClockBox

    /// A new connection, not yet past HELLO.
    func connect() -> EmbeddedClient {
        nextSlot += 1
        let io = MemoryIO()
        _ = shared.openConnections.add(1, ordering: .relaxed)
        let connection = Connection(
            fd: nextSlot,
            io: io,
            id: UInt64(nextSlot),
            peer: "embedded",
            now: clock,
            outBufferBytes: plane.configuration.outBufferBytes
        )
        return EmbeddedClient(harness: self, connection: connection, io: io)
    }

    /// The rest of a loop turn after reading: wake readers, take the mailbox's work, drain, flush.
    func finishTurn() {
        plane.turn.finish(waking: broker)
        plane.drainUnfinished()
        if mailbox.hasWork {
            mailbox.take(into: &work)
            plane.streamsChanged(dirty: work.dirty, ended: work.ended)
            work = ReactorMailbox.Work()
        }
        plane.flushQueued()
    }

    /// Moves the clock and runs every connection's timers.
    func advance(milliseconds: Int64, connections: [EmbeddedClient]) {
        clock += milliseconds
        clockBox.now = clock
        for client in connections { plane.session.checkTimers(client.connection, now: clock, stopping: false) }
        finishTurn()
    }

    func createStream(_ name: String) throws -> BrokerStream {
        try broker.createStream(serviceSid: broker.defaultServiceSid, uniqueName: name, ttl: nil)
    }
}

private final class ClockBox {
    var now: Int64 = 0
}

/// One embedded connection: what it sends goes through the session as one read; what the data
/// plane wrote to it is decoded frame by frame.
final class EmbeddedClient {
    unowned let harness: EmbeddedDataPlane
    let connection: Connection
    let io: MemoryIO
    private var pendingInput: [UInt8] = []
    private var readOffset = 0

    init(harness: EmbeddedDataPlane, connection: Connection, io: MemoryIO) {
        self.harness = harness
        self.connection = connection
        self.io = io
    }

    /// Delivers `bytes` as one read (with any partial frame left from before), then ends the turn.
    func send(_ bytes: [UInt8]) {
        let input = pendingInput + bytes
        let consumed = input.withUnsafeBytes { harness.plane.session.receive($0, from: connection) }
        pendingInput = connection.state == .open || connection.state == .awaitingHello ? Array(input[consumed...]) : []
        harness.finishTurn()
    }

    func send(_ frames: Frame...) {
        var bytes: [UInt8] = []
        for frame in frames { frame.encode(into: &bytes) }
        send(bytes)
    }

    /// HELLO, and the WELCOME it gets.
    @discardableResult
    func handshake(name: String = "embedded", maxVersion: UInt16 = 1) throws -> Frame.Welcome {
        send(.hello(.init(maxVersion: maxVersion, clientName: name)))
        guard case .welcome(let welcome)? = try received().first else { throw EmbeddedError("no WELCOME") }
        return welcome
    }

    func subscribe(_ name: String, requestID: UInt32 = 1, attachOnly: Bool = false) throws -> Frame.Subscribed {
        send(.subscribe(.init(requestID: requestID, stream: name, attachOnly: attachOnly)))
        for frame in try received() {
            if case .subscribed(let subscribed) = frame { return subscribed }
        }
        throw EmbeddedError("no SUBSCRIBED")
    }

    /// Every whole frame written since the last call.
    func received() throws -> [Frame] {
        var frames: [Frame] = []
        let bytes = io.written
        while bytes.count - readOffset >= WireLimits.headerSize {
            let length = bytes[readOffset..<readOffset + 4].reduce(0) { $0 << 8 | Int($1) }
            guard bytes.count - readOffset >= WireLimits.headerSize + length else { break }
            let frame = try bytes[readOffset..<readOffset + WireLimits.headerSize + length].withUnsafeBytes { raw in
                let header = try FrameHeader.parse(raw, maxBody: Int(UInt32.max))
                return try Frame.decode(
                    header: header,
                    body: UnsafeRawBufferPointer(rebasing: raw[WireLimits.headerSize...])
                )
            }
            frames.append(frame)
            readOffset += WireLimits.headerSize + length
        }
        return frames
    }

    /// The socket stops taking bytes (its buffer is full).
    func stall() { io.room = 0 }

    /// The socket takes `bytes` more, as after the peer read that much; the data plane hears it
    /// as an EPOLLOUT would tell it.
    func drainSocket(_ bytes: Int? = nil) {
        io.room = bytes
        connection.writable = true
        harness.plane.flush(connection)
        harness.finishTurn()
    }

    var isClosed: Bool { connection.state == .closed }
}

struct EmbeddedError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
