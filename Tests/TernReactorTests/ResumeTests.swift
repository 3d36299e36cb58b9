import TernCore
import TernWire
import Testing

@testable import TernReactor

/// RESUME (protocol version 2), driven without sockets: the replay is the ring's bytes, the loss
/// before it is counted exactly, other runs and impossible sequences get precise answers, and a
/// slow resumer is cut like any slow subscriber.
@Suite("Resume")
struct ResumeTests {
    typealias Ledger = FanOutTests.Ledger

    private func client(_ harness: EmbeddedDataPlane, version: UInt16 = 2) throws -> EmbeddedClient {
        let client = harness.connect()
        let welcome = try client.handshake(maxVersion: version)
        #expect(welcome.version == version)
        return client
    }

    private func publish(_ harness: EmbeddedDataPlane, _ stream: BrokerStream, count: Int, size: Int = 100) throws {
        let payload = Array("{\"p\":\"\(String(repeating: "x", count: size))\"}".utf8)
        for _ in 0..<count {
            _ = try harness.broker.publish(to: stream, payload: payload.span.bytes, wake: true)
        }
        harness.finishTurn()
    }

    /// SUBSCRIBED and RESUMED answering a RESUME, and the frames after them.
    private func resume(
        _ client: EmbeddedClient,
        _ name: String,
        prefix: SidPrefix,
        after: UInt64,
        requestID: UInt32 = 7
    ) throws -> (Frame.Subscribed, Frame.Resumed, [Frame]) {
        client.send(.resume(.init(requestID: requestID, sidPrefix: prefix, afterSequence: after, stream: name)))
        let frames = try client.received()
        guard frames.count >= 2, case .subscribed(let subscribed) = frames[0], case .resumed(let resumed) = frames[1]
        else {
            throw EmbeddedError("no SUBSCRIBED + RESUMED: \(frames.prefix(3))")
        }
        #expect(subscribed.requestID == requestID && resumed.requestID == requestID)
        #expect(resumed.streamID == subscribed.streamID)
        return (subscribed, resumed, Array(frames[2...]))
    }

    @Test func versionIsTheHighestBothSpeak() throws {
        let harness = try EmbeddedDataPlane()
        #expect(try client(harness, version: 1).connection.version == 1)
        #expect(try client(harness, version: 2).connection.version == 2)
        #expect(try client(harness, version: 3).connection.version == 3)
        let future = harness.connect()
        future.send(.hello(.init(minVersion: 1, maxVersion: 9, clientName: "future")))
        guard case .welcome(let welcome)? = try future.received().first else { throw EmbeddedError("no WELCOME") }
        #expect(welcome.version == 3)
        let tooNew = harness.connect()
        tooNew.send(.hello(.init(minVersion: 4, maxVersion: 9, clientName: "too new")))
        guard case .error(let error)? = try tooNew.received().first else { throw EmbeddedError("no ERROR") }
        #expect(error.code == .unsupportedVersion && error.fatal)
    }

    /// Version 1 does not define RESUME: a version-1 connection that sends one is refused as if
    /// the type did not exist, so version-1 clients see exactly the version-1 protocol.
    @Test func versionOneConnectionsDoNotKnowResume() throws {
        let harness = try EmbeddedDataPlane()
        _ = try harness.createStream("v1")
        let old = try client(harness, version: 1)
        old.send(.resume(.init(requestID: 1, sidPrefix: SidPrefix(value: 1), afterSequence: 0, stream: "v1")))
        guard case .error(let error)? = try old.received().first else { throw EmbeddedError("no ERROR") }
        #expect(error.code == .unknownFrameType && error.fatal)
    }

    /// The replay is the same bytes a live subscriber got, then the subscription goes live.
    @Test func replaysTheRingBytesThenGoesLive() throws {
        let harness = try EmbeddedDataPlane()
        let stream = try harness.createStream("replay")
        let live = try client(harness)
        let liveSubscribed = try live.subscribe("replay")
        _ = try live.received()
        let before = live.io.written.count
        try publish(harness, stream, count: 50)
        let liveBytes = Array(live.io.written[before...])

        let resumer = try client(harness)
        let (subscribed, resumed, frames) = try resume(resumer, "replay", prefix: liveSubscribed.sidPrefix, after: 20)
        #expect(subscribed.nextSequence == 21 && resumed.outcome == .continued)
        #expect(frames.map(\.sequence) == Array(21...50).map { Optional($0) })
        // The replayed frames are byte for byte the last 30 the live subscriber got.
        let frameSize = liveBytes.count / 50
        let replayStart = resumer.io.written.count - 30 * frameSize
        #expect(Array(resumer.io.written[replayStart...]) == Array(liveBytes[(20 * frameSize)...]))

        var ledger = Ledger(subscribed: subscribed)
        ledger.read(frames)
        try publish(harness, stream, count: 5)
        ledger.read(try resumer.received())
        #expect(ledger.violations.isEmpty, "\(ledger.violations)")
        #expect(ledger.received == Array(21...55))
        #expect(harness.mailbox.counters.value(.resumes) == 1)
        #expect(harness.mailbox.counters.value(.messagesReplayed) == 30)
    }

    /// What the ring no longer holds is one DROPPED NOT_RETAINED with the exact count, before
    /// the first replayed frame.
    @Test func lossBeforeTheRingIsCountedExactly() throws {
        var limits = BrokerLimits()
        limits.ringBytes = 64 * 1024
        let harness = try EmbeddedDataPlane(limits: limits)
        let stream = try harness.createStream("gap")
        let live = try client(harness)
        let liveSubscribed = try live.subscribe("gap")
        try publish(harness, stream, count: 1000)  // 128 KB of frames through a 64 KiB ring

        let resumer = try client(harness)
        let (subscribed, _, frames) = try resume(resumer, "gap", prefix: liveSubscribed.sidPrefix, after: 10)
        guard case .dropped(let dropped)? = frames.first else {
            throw EmbeddedError("no DROPPED first: \(frames.first!)")
        }
        #expect(dropped.reason == .notRetained && dropped.count > 0)
        var ledger = Ledger(subscribed: subscribed)
        ledger.read(frames)
        #expect(ledger.violations.isEmpty, "\(ledger.violations)")
        #expect(ledger.received.last == 1000)
        #expect(UInt64(ledger.received.count) + dropped.count == 990)
        // The ring holds about 64 KiB of 128-byte frames; the replay gives most of them.
        #expect(ledger.received.count > 400)
    }

    /// After the last subscriber leaves, the ring stays for the resume retention: what is
    /// published meanwhile can be resumed. Retention 0 frees it at once, and the whole gap is a
    /// DROPPED.
    @Test func ringOutlivesItsLastSubscriberForTheRetention() throws {
        for retention in [60.0, 0] {
            var limits = BrokerLimits()
            limits.resumeRetentionSeconds = retention
            let harness = try EmbeddedDataPlane(limits: limits)
            let stream = try harness.createStream("away")
            let first = try client(harness)
            let subscribed = try first.subscribe("away")
            try publish(harness, stream, count: 5)
            first.send(.unsubscribe(requestID: 2, streamID: subscribed.streamID))
            #expect(stream.hasRing == (retention > 0))
            try publish(harness, stream, count: 10)  // while nobody subscribes

            let back = try client(harness)
            let (_, _, frames) = try resume(back, "away", prefix: subscribed.sidPrefix, after: 5)
            if retention > 0 {
                #expect(frames.map(\.sequence) == Array(6...15).map { Optional($0) })
            } else {
                #expect(frames == [.dropped(.init(streamID: subscribed.streamID, count: 10, reason: .notRetained))])
            }
        }
        var limits = BrokerLimits()
        limits.resumeRetentionSeconds = 1
        let harness = try EmbeddedDataPlane(limits: limits)
        let stream = try harness.createStream("freed")
        let once = try client(harness)
        let subscribed = try once.subscribe("freed")
        once.send(.unsubscribe(requestID: 2, streamID: subscribed.streamID))
        #expect(stream.hasRing && harness.broker.idleRingCount == 1)
        #expect(harness.broker.releaseIdleRings() == 0)
        #expect(harness.broker.releaseIdleRings(now: .now + .seconds(2)) == 1)
        #expect(!stream.hasRing && harness.broker.idleRingCount == 0)
    }

    /// A sid prefix from another run (the server restarted): SUBSCRIBED from sequence 1 of this
    /// run, RESUMED RESTARTED, and the replay of this run from the ring.
    @Test func anotherRunsPrefixRestartsFromSequenceOne() throws {
        let harness = try EmbeddedDataPlane()
        let stream = try harness.createStream("restart")
        let holder = try client(harness)
        _ = try holder.subscribe("restart")
        try publish(harness, stream, count: 3)
        let other = SidPrefix(value: stream.sidPrefix.value ^ 0xFFFF)
        let resumer = try client(harness)
        let (subscribed, resumed, frames) = try resume(resumer, "restart", prefix: other, after: 500)
        #expect(resumed.outcome == .restarted && subscribed.nextSequence == 1)
        #expect(subscribed.sidPrefix == stream.sidPrefix)
        #expect(frames.map(\.sequence) == [1, 2, 3])
    }

    /// A sequence not yet published is RESUME_AHEAD (the connection stays open, nothing is
    /// subscribed); the last published one is a resume with nothing to replay; 0 asks for all.
    @Test func impossibleAndEdgeSequences() throws {
        let harness = try EmbeddedDataPlane()
        let stream = try harness.createStream("edges")
        let holder = try client(harness)
        let held = try holder.subscribe("edges")
        try publish(harness, stream, count: 4)
        let resumer = try client(harness)
        resumer.send(.resume(.init(requestID: 3, sidPrefix: held.sidPrefix, afterSequence: 5, stream: "edges")))
        guard case .error(let error)? = try resumer.received().first else { throw EmbeddedError("no ERROR") }
        #expect(error.code == .resumeAhead && !error.fatal && error.requestID == 3)
        #expect(resumer.connection.subscriptions.isEmpty && resumer.connection.state == .open)

        let (caughtUp, _, nothing) = try resume(resumer, "edges", prefix: held.sidPrefix, after: 4)
        #expect(caughtUp.nextSequence == 5 && nothing.isEmpty)
        resumer.send(.unsubscribe(requestID: 9, streamID: caughtUp.streamID))
        _ = try resumer.received()
        let (all, _, everything) = try resume(resumer, "edges", prefix: held.sidPrefix, after: 0)
        #expect(all.nextSequence == 1 && everything.map(\.sequence) == [1, 2, 3, 4])

        // A second RESUME of a stream the connection subscribes is ALREADY_SUBSCRIBED.
        resumer.send(.resume(.init(requestID: 4, sidPrefix: held.sidPrefix, afterSequence: 1, stream: "edges")))
        guard case .error(let again)? = try resumer.received().first else { throw EmbeddedError("no ERROR") }
        #expect(again.code == .alreadySubscribed)
        resumer.send(.resume(.init(requestID: 5, sidPrefix: held.sidPrefix, afterSequence: 1, stream: "nope")))
        guard case .error(let missing)? = try resumer.received().first else { throw EmbeddedError("no ERROR") }
        #expect(missing.code == .streamNotFound)
    }

    /// A resumer that cannot take the replay is cut at whole frames and told exactly, and a live
    /// subscriber of the same stream loses nothing.
    @Test func slowResumerIsCutLikeAnySlowSubscriber() throws {
        var limits = BrokerLimits()
        limits.ringBytes = 256 * 1024
        let harness = try EmbeddedDataPlane(limits: limits) { $0.outBufferBytes = 16 * 1024 }
        let stream = try harness.createStream("cut")
        let live = try client(harness)
        var liveLedger = Ledger(subscribed: try live.subscribe("cut"))
        try publish(harness, stream, count: 1000)
        liveLedger.read(try live.received())

        let slow = try client(harness)
        slow.stall()
        slow.send(.resume(.init(requestID: 1, sidPrefix: stream.sidPrefix, afterSequence: 0, stream: "cut")))
        #expect(slow.connection.outbound.count <= 16 * 1024 + 1024)
        try publish(harness, stream, count: 10)
        liveLedger.read(try live.received())
        slow.drainSocket()
        try publish(harness, stream, count: 1)
        slow.drainSocket()
        let frames = try slow.received()
        guard case .subscribed(let subscribed)? = frames.first else { throw EmbeddedError("no SUBSCRIBED") }
        var ledger = Ledger(subscribed: subscribed)
        ledger.read(frames)
        #expect(ledger.violations.isEmpty, "\(ledger.violations)")
        #expect(ledger.dropped[.slowConsumer, default: 0] > 0)
        #expect(UInt64(ledger.received.count) + ledger.totalDropped == 1011)
        #expect(liveLedger.violations.isEmpty && liveLedger.totalDropped == 0 && liveLedger.received.count == 1010)
    }

    /// Many resumes at once: each gets its exact replay, and the live subscriber is untouched.
    @Test func manyResumesAtOnce() throws {
        let harness = try EmbeddedDataPlane()
        let stream = try harness.createStream("storm")
        let live = try client(harness)
        var liveLedger = Ledger(subscribed: try live.subscribe("storm"))
        try publish(harness, stream, count: 100)
        let resumers = try (0..<200).map { _ in try client(harness) }
        for (index, resumer) in resumers.enumerated() {
            resumer.send(
                .resume(
                    .init(
                        requestID: 1,
                        sidPrefix: stream.sidPrefix,
                        afterSequence: UInt64(index % 100),
                        stream: "storm"
                    )
                )
            )
        }
        try publish(harness, stream, count: 10)
        liveLedger.read(try live.received())
        for (index, resumer) in resumers.enumerated() {
            let frames = try resumer.received()
            guard case .subscribed(let subscribed)? = frames.first else { throw EmbeddedError("no SUBSCRIBED") }
            var ledger = Ledger(subscribed: subscribed)
            ledger.read(frames)
            #expect(ledger.violations.isEmpty && ledger.totalDropped == 0)
            #expect(ledger.received == Array(UInt64(index % 100 + 1)...110))
        }
        #expect(liveLedger.received.count == 110 && liveLedger.violations.isEmpty)
    }
}

extension Frame {
    /// The sequence of a MESSAGE, nil for other frames.
    var sequence: UInt64? {
        if case .message(let message) = self { return message.sequence }
        return nil
    }
}
