import TernCore
import TernWire
import Testing

@testable import TernReactor

/// The fan-out's promises, driven without sockets: one copy of a batch reaches every subscriber,
/// a slow subscriber is cut at whole frames and told exactly how many it lost, always before the
/// next message of the stream, before UNSUBSCRIBED and before STREAM_ENDED; a lapped reader
/// counts its loss from the sequences.
@Suite("Stream fan-out")
struct FanOutTests {
    /// Follows one subscription's frames and checks the gap rule of protocol.md §4.9.
    struct Ledger {
        var received: [UInt64] = []
        var dropped: [DropReason: UInt64] = [:]
        var unmatched: UInt64 = 0
        var last: UInt64
        var violations: [String] = []
        var ended: StreamEndReason?
        var unsubscribed = false

        init(subscribed: Frame.Subscribed) { last = subscribed.nextSequence - 1 }

        mutating func read(_ frames: [Frame]) {
            for frame in frames {
                switch frame {
                case .message(let message):
                    if message.sequence - last - 1 != unmatched {
                        violations.append("\(last) -> \(message.sequence) after DROPPED \(unmatched)")
                    }
                    if ended != nil || unsubscribed { violations.append("message after the end") }
                    unmatched = 0
                    last = message.sequence
                    received.append(message.sequence)
                case .dropped(let notice):
                    if ended != nil || unsubscribed { violations.append("DROPPED after the end") }
                    unmatched += notice.count
                    dropped[notice.reason, default: 0] += notice.count
                case .streamEnded(_, let reason): ended = reason
                case .unsubscribed: unsubscribed = true
                default: break
                }
            }
        }

        var totalDropped: UInt64 { dropped.values.reduce(0, +) }
    }

    private func publisher(_ harness: EmbeddedDataPlane, _ stream: String) throws -> (EmbeddedClient, UInt32) {
        let client = harness.connect()
        try client.handshake(name: "publisher")
        let attached = try client.subscribe(stream, attachOnly: true)
        _ = try client.received()
        return (client, attached.streamID)
    }

    private func publish(_ client: EmbeddedClient, _ streamID: UInt32, count: Int, size: Int = 100) {
        let payload = Array("{\"p\":\"\(String(repeating: "x", count: size))\"}".utf8)
        var bytes: [UInt8] = []
        for index in 0..<count {
            Frame.publish(.init(requestID: UInt32(index + 1), streamID: streamID, payload: payload)).encode(
                into: &bytes
            )
        }
        client.send(bytes)
    }

    @Test func everySubscriberGetsTheSameBytes() throws {
        let harness = try EmbeddedDataPlane()
        _ = try harness.createStream("fan")
        let subscribers = try (0..<3).map { _ in
            let client = harness.connect()
            try client.handshake()
            _ = try client.subscribe("fan")
            _ = try client.received()
            return client
        }
        let (publisher, id) = try publisher(harness, "fan")
        let before = subscribers.map { $0.io.written.count }
        publish(publisher, id, count: 50)
        let runs = zip(subscribers, before).map { Array($0.io.written[$1...]) }
        #expect(runs[0].count == 50 * (MessageFrame.prefixSize + 108))
        #expect(runs[1] == runs[0] && runs[2] == runs[0])
        #expect(harness.mailbox.counters.value(.messagesDelivered) == 150)
    }

    /// A stalled subscriber keeps whole frames up to its out-buffer, loses the rest, and learns
    /// the exact count before its next message once it reads again.
    @Test func slowSubscriberIsCutAtWholeFramesAndToldExactly() throws {
        let harness = try EmbeddedDataPlane { $0.outBufferBytes = 16 * 1024 }
        _ = try harness.createStream("slow")
        let slow = harness.connect()
        try slow.handshake()
        let subscribed = try slow.subscribe("slow")
        var ledger = Ledger(subscribed: subscribed)
        ledger.read(try slow.received())
        let (publisher, id) = try publisher(harness, "slow")
        slow.stall()
        for _ in 0..<10 { publish(publisher, id, count: 100) }
        #expect(slow.connection.outbound.count <= 16 * 1024)
        slow.drainSocket()
        ledger.read(try slow.received())
        publish(publisher, id, count: 5)  // after the gap: DROPPED must come first
        ledger.read(try slow.received())
        #expect(ledger.violations.isEmpty, "\(ledger.violations)")
        #expect(ledger.dropped[.slowConsumer, default: 0] > 0)
        #expect(UInt64(ledger.received.count) + ledger.totalDropped == 1005)
        #expect(ledger.received.last == subscribed.nextSequence + 1004)
        #expect(harness.mailbox.counters.value(.messagesDroppedSlowConsumer) == ledger.totalDropped)
    }

    /// While a DROPPED cannot be sent (the out-buffer is more than half full), later messages of
    /// the stream wait with it: they are dropped too, and counted in it.
    @Test func droppedIsNeverOvertakenByLaterMessages() throws {
        let harness = try EmbeddedDataPlane { $0.outBufferBytes = 16 * 1024 }
        _ = try harness.createStream("order")
        let slow = harness.connect()
        try slow.handshake()
        var ledger = Ledger(subscribed: try slow.subscribe("order"))
        ledger.read(try slow.received())
        let (publisher, id) = try publisher(harness, "order")
        slow.stall()
        for round in 0..<20 {
            publish(publisher, id, count: 30)
            // Let a little out each round: never half the buffer, so DROPPED keeps waiting.
            slow.drainSocket(round % 2 == 0 ? 3000 : 0)
            ledger.read(try slow.received())
        }
        slow.drainSocket()
        publish(publisher, id, count: 1)
        ledger.read(try slow.received())
        #expect(ledger.violations.isEmpty, "\(ledger.violations)")
        #expect(UInt64(ledger.received.count) + ledger.totalDropped == 601)
    }

    @Test func pendingDropsAreReportedBeforeUnsubscribedAndStreamEnded() throws {
        let harness = try EmbeddedDataPlane { $0.outBufferBytes = 16 * 1024 }
        let stream = try harness.createStream("ends")
        _ = try harness.createStream("leaves")
        let (publisher, endsID) = try publisher(harness, "ends")
        publisher.send(.subscribe(.init(requestID: 9, stream: "leaves", attachOnly: true)))
        guard case .subscribed(let leavesAttached)? = try publisher.received().first else {
            Issue.record("no SUBSCRIBED")
            return
        }
        let slow = harness.connect()
        try slow.handshake()
        var ends = Ledger(subscribed: try slow.subscribe("ends", requestID: 1))
        var leaves = Ledger(subscribed: try slow.subscribe("leaves", requestID: 2))
        _ = try slow.received()
        slow.stall()
        publish(publisher, endsID, count: 400)
        publish(publisher, leavesAttached.streamID, count: 400)
        slow.drainSocket(0)
        slow.send(.unsubscribe(requestID: 3, streamID: leavesAttached.streamID))
        _ = try harness.broker.deleteStream(stream)
        harness.finishTurn()
        slow.drainSocket()
        let frames = try slow.received()
        ends.read(frames.filter { $0.streamID == endsID })
        leaves.read(frames.filter { $0.streamID == leavesAttached.streamID })
        #expect(ends.ended == .deleted && leaves.unsubscribed)
        #expect(ends.violations.isEmpty && leaves.violations.isEmpty, "\(ends.violations) \(leaves.violations)")
        #expect(UInt64(ends.received.count) + ends.totalDropped == 400)
        #expect(UInt64(leaves.received.count) + leaves.totalDropped == 400)
        #expect(ends.totalDropped > 0 && leaves.totalDropped > 0)
    }

    /// A ring smaller than what is published between two drains laps this thread's reader: every
    /// subscriber is told LAPPED with the exact number of frames overwritten.
    @Test func lappedReaderCountsItsLossFromSequences() throws {
        var limits = BrokerLimits()
        limits.ringBytes = 64 * 1024
        let harness = try EmbeddedDataPlane(limits: limits)
        let stream = try harness.createStream("lap")
        let readers = try (0..<2).map { _ in
            let client = harness.connect()
            try client.handshake()
            return (client, try client.subscribe("lap"))
        }
        var ledgers = readers.map { Ledger(subscribed: $0.1) }
        for (index, reader) in readers.enumerated() { ledgers[index].read(try reader.0.received()) }
        // Published from another thread's point of view: straight into the broker, no drain between.
        let payload = Array("{\"p\":\"\(String(repeating: "y", count: 1000))\"}".utf8)
        for _ in 0..<300 {
            _ = try harness.broker.publish(to: stream, payload: payload.span.bytes, wake: true)
        }
        harness.finishTurn()
        for (index, reader) in readers.enumerated() {
            ledgers[index].read(try reader.0.received())
            #expect(ledgers[index].violations.isEmpty, "\(ledgers[index].violations)")
            #expect(ledgers[index].dropped[.lapped, default: 0] > 0)
            #expect(UInt64(ledgers[index].received.count) + ledgers[index].totalDropped == 300)
        }
    }
}

extension Frame {
    /// The stream a stream-related server frame is about.
    var streamID: UInt32? {
        switch self {
        case .message(let message): return message.streamID
        case .dropped(let notice): return notice.streamID
        case .streamEnded(let id, _): return id
        case .unsubscribed(_, let id): return id
        case .subscribed(let subscribed): return subscribed.streamID
        default: return nil
        }
    }
}
