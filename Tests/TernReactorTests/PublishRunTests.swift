import TernCore
import TernWire
import Testing

@testable import TernReactor

/// Consecutive PUBLISH frames are appended to their stream as one run. Whatever goes wrong inside
/// a run, answers come back in request order, each failed request gets its own ERROR, and the
/// accepted messages carry consecutive sequences. (Embedded: no sockets, milliseconds.)
@Suite("Publish runs")
struct PublishRunTests {
    private func answersAndMessages(_ frames: [Frame]) -> (answers: [Frame], messages: [Frame.Message]) {
        var answers: [Frame] = []
        var messages: [Frame.Message] = []
        for frame in frames {
            switch frame {
            case .message(let message): messages.append(message)
            case .published, .error, .unsubscribed: answers.append(frame)
            default: break
            }
        }
        return (answers, messages)
    }

    @Test func failuresInsideARunAreAnsweredInOrder() throws {
        let harness = try EmbeddedDataPlane()
        _ = try harness.createStream("runs")
        let client = harness.connect()
        try client.handshake()
        let subscribed = try client.subscribe("runs")
        let id = subscribed.streamID
        let frames: [Frame.Publish] = [
            .init(requestID: 1, streamID: id, payload: Array(#"{"i":1}"#.utf8), ack: true),
            .init(requestID: 2, streamID: id, payload: Array("[1]".utf8), ack: true),
            .init(requestID: 3, streamID: id, payload: Array(#"{"i":3}"#.utf8), ack: true),
            .init(requestID: 4, streamID: id, payload: Array(#"{"i":4}"#.utf8)),
            .init(requestID: 5, streamID: id &+ 999, payload: Array(#"{"i":5}"#.utf8), ack: true),
            .init(requestID: 6, streamID: id, payload: Array(#"{"i":6}"#.utf8), ack: true),
            .init(requestID: 7, streamID: id, payload: Array(#"{"i":"\u"}"#.utf8)),
            .init(requestID: 8, streamID: id, payload: Array(#"{"i":8}"#.utf8), ack: true),
        ]
        var bytes: [UInt8] = []
        for frame in frames { Frame.publish(frame).encode(into: &bytes) }
        client.send(bytes)

        let (answers, messages) = answersAndMessages(try client.received())
        let first = subscribed.nextSequence
        // (The end-to-end version of this test stopped at six answers and returned early when a
        // seventh had come: it checked nothing. Seven answers is right: 1, 2, 3, 5, 6, 7, 8.)
        try #require(answers.count == 7, "\(answers)")
        #expect(
            answers[0]
                == .published(.init(requestID: 1, streamID: id, sidPrefix: subscribed.sidPrefix, sequence: first))
        )
        guard case .error(let invalid) = answers[1], case .error(let unknown) = answers[3],
            case .error(let escape) = answers[5]
        else {
            Issue.record("expected errors at 2, 5 and 7: \(answers)")
            return
        }
        #expect(invalid.requestID == 2 && invalid.code == .invalidPayload && !invalid.fatal)
        #expect(
            answers[2]
                == .published(.init(requestID: 3, streamID: id, sidPrefix: subscribed.sidPrefix, sequence: first + 1))
        )
        #expect(unknown.requestID == 5 && unknown.code == .notSubscribed)
        // Request 4 (no ack) took sequence first + 2.
        #expect(
            answers[4]
                == .published(.init(requestID: 6, streamID: id, sidPrefix: subscribed.sidPrefix, sequence: first + 3))
        )
        #expect(escape.requestID == 7 && escape.code == .invalidPayload)
        #expect(
            answers[6]
                == .published(.init(requestID: 8, streamID: id, sidPrefix: subscribed.sidPrefix, sequence: first + 4))
        )
        #expect(messages.map(\.sequence) == (0..<5).map { first + UInt64($0) })
        #expect(
            messages.map { String(decoding: $0.payload, as: UTF8.self) } == [1, 3, 4, 6, 8].map { #"{"i":\#($0)}"# }
        )
    }

    @Test func aRateLimitSplitsARunAndEveryRefusalIsAnswered() throws {
        var limits = BrokerLimits()
        limits.publishRatePerSecond = 0.001  // no refill within the test: exactly the burst passes
        limits.publishBurst = 3
        let harness = try EmbeddedDataPlane(limits: limits)
        _ = try harness.createStream("limited-run")
        let client = harness.connect()
        try client.handshake()
        let subscribed = try client.subscribe("limited-run")
        var bytes: [UInt8] = []
        for request in 1...10 {
            Frame.publish(
                .init(
                    requestID: UInt32(request),
                    streamID: subscribed.streamID,
                    payload: Array(#"{"n":\#(request)}"#.utf8),
                    ack: true
                )
            )
            .encode(into: &bytes)
        }
        client.send(bytes)

        let (answers, messages) = answersAndMessages(try client.received())
        let requestIDs = answers.map { frame -> UInt32 in
            switch frame {
            case .published(let ack): return ack.requestID
            case .error(let error): return error.requestID
            default: return 0
            }
        }
        #expect(requestIDs == Array(1...10))
        let accepted = answers.prefix { if case .published = $0 { return true } else { return false } }
        #expect(accepted.count == 3, "\(answers)")
        for answer in answers.dropFirst(accepted.count) {
            guard case .error(let error) = answer else {
                Issue.record("a publish after a refusal was accepted: \(answers)")
                continue
            }
            #expect(error.code == .rateLimited && !error.fatal)
        }
        #expect(messages.map(\.sequence) == [0, 1, 2].map { subscribed.nextSequence + $0 })
        #expect(harness.broker.messagesRateLimited.load(ordering: .relaxed) == 7)
    }

    /// A run is bound to the stream it was checked against; a frame between two PUBLISH frames
    /// (here UNSUBSCRIBE) ends it, so the second PUBLISH is checked afresh and refused.
    @Test func anUnsubscribeBetweenPublishesEndsTheRun() throws {
        let harness = try EmbeddedDataPlane()
        _ = try harness.createStream("leave")
        let client = harness.connect()
        try client.handshake()
        let subscribed = try client.subscribe("leave")
        var bytes: [UInt8] = []
        Frame.publish(.init(requestID: 1, streamID: subscribed.streamID, payload: Array("{}".utf8), ack: true)).encode(
            into: &bytes
        )
        Frame.unsubscribe(requestID: 2, streamID: subscribed.streamID).encode(into: &bytes)
        Frame.publish(.init(requestID: 3, streamID: subscribed.streamID, payload: Array("{}".utf8), ack: true)).encode(
            into: &bytes
        )
        client.send(bytes)

        let answers = answersAndMessages(try client.received()).answers
        try #require(answers.count == 3, "\(answers)")
        #expect(
            answers[0]
                == .published(
                    .init(
                        requestID: 1,
                        streamID: subscribed.streamID,
                        sidPrefix: subscribed.sidPrefix,
                        sequence: subscribed.nextSequence
                    )
                )
        )
        #expect(answers[1] == .unsubscribed(requestID: 2, streamID: subscribed.streamID))
        guard case .error(let refused) = answers[2] else {
            Issue.record("a publish after UNSUBSCRIBE was accepted: \(answers[2])")
            return
        }
        #expect(refused.requestID == 3 && refused.code == .notSubscribed)
    }
}
