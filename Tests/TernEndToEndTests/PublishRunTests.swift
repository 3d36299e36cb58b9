import Foundation
import Testing
import TernWire

/// Consecutive PUBLISH frames are appended to their stream as one run. Whatever goes wrong inside
/// a run, answers come back in request order, each failed request gets its own ERROR, and the
/// accepted messages carry consecutive sequences.
@Suite(.serialized)
struct PublishRunTests {
    /// The answers (PUBLISHED and ERROR) and messages the client receives, until `answers` answers are in.
    func collect(_ client: RawDataClient, answers wanted: Int, messages wantedMessages: Int) throws -> ([Frame], [Frame.Message]) {
        var answers: [Frame] = []
        var messages: [Frame.Message] = []
        while answers.count < wanted || messages.count < wantedMessages {
            guard let frame = try client.next() else {
                Issue.record("connection ended after \(answers.count) answers and \(messages.count) messages")
                break
            }
            switch frame {
            case .message(let message): messages.append(message)
            case .published, .error: answers.append(frame)
            default: Issue.record("unexpected \(frame)")
            }
        }
        return (answers, messages)
    }

    /// A daemon with one stream, and a client subscribed to it.
    func subscribedClient(stream name: String, daemonArguments: [String] = []) throws
        -> (TernDaemon, RawDataClient, Frame.Subscribed)
    {
        let daemon = try TernDaemon.start(extraArguments: daemonArguments)
        _ = try daemon.createStream(uniqueName: name)
        let client = try RawDataClient(port: daemon.dataPort)
        try client.handshake()
        return (daemon, client, try client.subscribe(name))
    }

    @Test func failuresInsideARunAreAnsweredInOrder() throws {
        let (daemon, client, subscribed) = try subscribedClient(stream: "runs")
        defer { daemon.stop() }
        let id = subscribed.streamID

        // One write: every kind of refusal between good publishes, with and without ack.
        var bytes: [UInt8] = []
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
        for frame in frames { Frame.publish(frame).encode(into: &bytes) }
        try client.send(bytes)

        let (answers, messages) = try collect(client, answers: 6, messages: 5)
        let first = subscribed.nextSequence
        guard answers.count == 6 else { return }
        #expect(answers[0] == .published(.init(requestID: 1, streamID: id, sidPrefix: subscribed.sidPrefix, sequence: first)))
        guard case .error(let invalid) = answers[1], case .error(let unknown) = answers[3], case .error(let escape) = answers[4]
        else {
            Issue.record("expected errors at 2, 4 and 5: \(answers)")
            return
        }
        #expect(invalid.requestID == 2 && invalid.code == .invalidPayload && !invalid.fatal)
        #expect(answers[2] == .published(.init(requestID: 3, streamID: id, sidPrefix: subscribed.sidPrefix, sequence: first + 1)))
        #expect(unknown.requestID == 5 && unknown.code == .notSubscribed)
        #expect(escape.requestID == 7 && escape.code == .invalidPayload)
        // Request 4 (no ack) took sequence first + 2.
        #expect(answers[5] == .published(.init(requestID: 8, streamID: id, sidPrefix: subscribed.sidPrefix, sequence: first + 4)))
        #expect(messages.map(\.sequence) == (0..<5).map { first + UInt64($0) })
        #expect(messages.map { String(decoding: $0.payload, as: UTF8.self) } == [1, 3, 4, 6, 8].map { #"{"i":\#($0)}"# })
    }

    @Test func aRateLimitSplitsARunAndEveryRefusalIsAnswered() throws {
        let (daemon, client, subscribed) = try subscribedClient(stream: "limited-run", daemonArguments: ["--publish-rate", "1", "--publish-burst", "3"])
        defer { daemon.stop() }

        var bytes: [UInt8] = []
        for request in 1...10 {
            Frame.publish(.init(requestID: UInt32(request), streamID: subscribed.streamID, payload: Array(#"{"n":\#(request)}"#.utf8), ack: true))
                .encode(into: &bytes)
        }
        try client.send(bytes)

        let (answers, messages) = try collect(client, answers: 10, messages: 3)
        let requestIDs = answers.map { frame -> UInt32 in
            switch frame {
            case .published(let ack): return ack.requestID
            case .error(let error): return error.requestID
            default: return 0
            }
        }
        #expect(requestIDs == Array(1...10))
        // The bucket holds 3 and refills at 1 per second: the first 3 pass (a 4th only on a very slow machine).
        let accepted = answers.prefix { if case .published = $0 { return true } else { return false } }
        #expect(accepted.count == 3 || accepted.count == 4, "\(answers)")
        for answer in answers.dropFirst(accepted.count) {
            guard case .error(let error) = answer else {
                Issue.record("a publish after a refusal was accepted: \(answers)")
                continue
            }
            #expect(error.code == .rateLimited && !error.fatal)
        }
        #expect(Array(messages.map(\.sequence).prefix(3)) == [0, 1, 2].map { subscribed.nextSequence + $0 })
    }

    /// A run is bound to the stream it was checked against; a frame between two PUBLISH frames
    /// (here UNSUBSCRIBE) ends it, so the second PUBLISH is checked afresh and refused.
    @Test func anUnsubscribeBetweenPublishesEndsTheRun() throws {
        let (daemon, client, subscribed) = try subscribedClient(stream: "leave")
        defer { daemon.stop() }
        var bytes: [UInt8] = []
        Frame.publish(.init(requestID: 1, streamID: subscribed.streamID, payload: Array("{}".utf8), ack: true)).encode(into: &bytes)
        Frame.unsubscribe(requestID: 2, streamID: subscribed.streamID).encode(into: &bytes)
        Frame.publish(.init(requestID: 3, streamID: subscribed.streamID, payload: Array("{}".utf8), ack: true)).encode(into: &bytes)
        try client.send(bytes)

        var answers: [Frame] = []
        while answers.count < 3, let frame = try client.next() {
            if case .message = frame { continue }
            answers.append(frame)
        }
        guard answers.count == 3 else {
            Issue.record("expected three answers, got \(answers)")
            return
        }
        #expect(answers[0] == .published(.init(requestID: 1, streamID: subscribed.streamID, sidPrefix: subscribed.sidPrefix, sequence: subscribed.nextSequence)))
        #expect(answers[1] == .unsubscribed(requestID: 2, streamID: subscribed.streamID))
        guard case .error(let refused) = answers[2] else {
            Issue.record("a publish after UNSUBSCRIBE was accepted: \(answers[2])")
            return
        }
        #expect(refused.requestID == 3 && refused.code == .notSubscribed)
    }
}
