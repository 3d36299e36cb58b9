import Foundation
import Glibc
import TernWire
import Testing

/// RESUME (protocol version 2) against a real ternd: replay from the ring with the exact loss
/// before it, the answer after a daemon restart, and a storm of 1,000 resumes that leaves a live
/// subscriber untouched and memory bounded.
@Suite(.serialized)
struct ResumeEndToEndTests {
    private func publisher(_ daemon: TernDaemon, _ stream: String) throws -> (RawDataClient, UInt32) {
        let client = try RawDataClient(port: daemon.dataPort)
        try client.handshake(name: "publisher")
        return (client, try client.subscribe(stream, attachOnly: true).streamID)
    }

    /// Publishes `count` messages of about 100 bytes; returns once all are accepted.
    private func publish(_ client: RawDataClient, _ streamID: UInt32, count: Int) throws {
        let payload = Array("{\"pad\":\"\(String(repeating: "z", count: 90))\"}".utf8)
        var bytes: [UInt8] = []
        for index in 0..<count {
            Frame.publish(.init(requestID: 1, streamID: streamID, payload: payload, ack: index == count - 1)).encode(
                into: &bytes
            )
        }
        try client.send(bytes)
        guard case .published? = try client.next() else { throw HarnessError("no PUBLISHED") }
    }

    private func resume(
        _ client: RawDataClient,
        _ stream: String,
        prefix: SidPrefix,
        after: UInt64
    ) throws
        -> (Frame.Subscribed, Frame.Resumed)
    {
        try client.send(.resume(.init(requestID: 4, sidPrefix: prefix, afterSequence: after, stream: stream)))
        guard case .subscribed(let subscribed)? = try client.next(), case .resumed(let resumed)? = try client.next()
        else {
            throw HarnessError("no SUBSCRIBED + RESUMED")
        }
        return (subscribed, resumed)
    }

    private func rssKilobytes(_ pid: Int32) -> Int {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
        return Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0
    }

    @Test func resumeReplaysTheRingAndCountsWhatItNoLongerHolds() throws {
        let daemon = try TernDaemon.start(extraArguments: ["--ring-bytes", "64K"])
        defer { daemon.stop() }
        let stream = try daemon.createStream(uniqueName: "resumed")
        let first = try RawDataClient(port: daemon.dataPort)
        #expect(try first.handshake(maxVersion: 2).version == 2)
        let subscribed = try first.subscribe("resumed")
        let (publisher, streamID) = try publisher(daemon, stream)
        try publish(publisher, streamID, count: 10)
        var seen = Ledger(nextSequence: subscribed.nextSequence)
        while seen.lastSequence < 10, case .message(let message)? = try first.next() {
            seen.message(sequence: message.sequence)
        }
        #expect(seen.received == 10)
        first.finishWriting()  // the worker goes away; its stream's ring stays for the retention
        _ = first.closedByServer()

        try publish(publisher, streamID, count: 30)  // while nobody subscribes: replayed in full
        let near = try RawDataClient(port: daemon.dataPort)
        try near.handshake(maxVersion: 2)
        let (nearSubscribed, nearResumed) = try resume(near, "resumed", prefix: subscribed.sidPrefix, after: 10)
        #expect(nearSubscribed.nextSequence == 11 && nearResumed.outcome == .continued)
        var nearLedger = Ledger(nextSequence: 11)
        while nearLedger.lastSequence < 40, let frame = try near.next() {
            guard case .message(let message) = frame else { throw HarnessError("unexpected \(frame)") }
            nearLedger.message(sequence: message.sequence)
        }
        #expect(nearLedger.received == 30 && nearLedger.violations.isEmpty)

        try publish(publisher, streamID, count: 2000)  // 240 KB through a 64 KiB ring
        let far = try RawDataClient(port: daemon.dataPort)
        try far.handshake(maxVersion: 2)
        _ = try resume(far, "resumed", prefix: subscribed.sidPrefix, after: 10)
        guard case .dropped(let notRetained)? = try far.next() else { throw HarnessError("no DROPPED first") }
        #expect(notRetained.reason == .notRetained)
        var farLedger = Ledger(nextSequence: 11)
        farLedger.dropped(count: notRetained.count)
        while farLedger.lastSequence < 2040, case .message(let message)? = try far.next() {
            farLedger.message(sequence: message.sequence)
        }
        #expect(farLedger.violations.isEmpty, "\(farLedger.violations)")
        #expect(farLedger.accounted == 2030 && farLedger.received > 300)
        // The near resumer, now live, has every one of the 2,000 delivered or counted (a burst
        // larger than the ring laps its reader thread, as for any subscriber).
        while nearLedger.lastSequence + nearLedger.unmatched < 2040, let frame = try near.next() {
            switch frame {
            case .message(let message): nearLedger.message(sequence: message.sequence)
            case .dropped(let notice): nearLedger.dropped(count: notice.count)
            default: break
            }
        }
        #expect(nearLedger.accounted == 2030 && nearLedger.violations.isEmpty, "\(nearLedger.violations)")
        let metrics = try daemon.metrics()
        #expect(metrics.value("tern_resumes_total") == 2)
        #expect(metrics.value("tern_messages_dropped_total", ["reason": "not_retained"]) == Double(notRetained.count))
    }

    @Test func resumeAfterRestartSaysTheSequenceSpaceRestarted() throws {
        let daemon = try TernDaemon.start()
        let stream = try daemon.createStream(uniqueName: "restarts")
        let before = try RawDataClient(port: daemon.dataPort)
        try before.handshake(maxVersion: 2)
        let old = try before.subscribe("restarts")
        daemon.kill9()
        let again = try daemon.restart()
        defer { again.stop() }
        _ = try again.publishREST(stream: stream, data: "{\"run\":2}")
        let client = try RawDataClient(port: again.dataPort)
        try client.handshake(maxVersion: 2)
        let (subscribed, resumed) = try resume(client, "restarts", prefix: old.sidPrefix, after: 7)
        #expect(resumed.outcome == .restarted && subscribed.nextSequence == 1 && subscribed.sidPrefix != old.sidPrefix)
        // Nobody subscribed in the new run when it was published: counted, not replayed.
        #expect(try client.next() == .dropped(.init(streamID: subscribed.streamID, count: 1, reason: .notRetained)))
        // A sequence this run has not reached, under its own prefix: RESUME_AHEAD, not fatal.
        let ahead = try RawDataClient(port: again.dataPort)
        try ahead.handshake(maxVersion: 2)
        try ahead.send(
            .resume(.init(requestID: 9, sidPrefix: subscribed.sidPrefix, afterSequence: 2, stream: "restarts"))
        )
        guard case .error(let error)? = try ahead.next() else { throw HarnessError("no ERROR") }
        #expect(error.code == .resumeAhead && !error.fatal && error.requestID == 9)
    }

    /// 1,000 connections resume at once while a live subscriber follows a publisher: every
    /// resumer gets its exact replay, the live subscriber loses nothing, memory stays bounded.
    @Test func thousandResumesAtOnce() throws {
        let daemon = try TernDaemon.start()
        defer { daemon.stop() }
        let stream = try daemon.createStream(uniqueName: "storm")
        let live = try RawDataClient(port: daemon.dataPort)
        try live.handshake(maxVersion: 2)
        let liveSubscribed = try live.subscribe("storm")
        let (publisher, streamID) = try publisher(daemon, stream)
        try publish(publisher, streamID, count: 100)
        let rssBefore = rssKilobytes(daemon.pid)

        var hello: [UInt8] = Frame.hello(.init(maxVersion: 2, clientName: "storm")).encoded()
        Frame.resume(.init(requestID: 1, sidPrefix: liveSubscribed.sidPrefix, afterSequence: 50, stream: "storm"))
            .encode(into: &hello)
        let resumers = try (0..<1000).map { _ in
            let client = try RawDataClient(port: daemon.dataPort)
            try client.send(hello)
            return client
        }
        try publish(publisher, streamID, count: 100)
        for resumer in resumers {
            guard case .welcome? = try resumer.next(), case .subscribed(let subscribed)? = try resumer.next(),
                case .resumed? = try resumer.next()
            else { throw HarnessError("no WELCOME, SUBSCRIBED, RESUMED") }
            var ledger = Ledger(nextSequence: subscribed.nextSequence)
            while ledger.lastSequence < 200, case .message(let message)? = try resumer.next() {
                ledger.message(sequence: message.sequence)
            }
            #expect(ledger.received == 150 && ledger.violations.isEmpty)
        }
        var liveLedger = Ledger(nextSequence: liveSubscribed.nextSequence)
        while liveLedger.lastSequence < 200, case .message(let message)? = try live.next() {
            liveLedger.message(sequence: message.sequence)
        }
        #expect(liveLedger.received == 200 && liveLedger.dropped == 0)
        // 1,000 replays of 12 KB each went through out-buffers of 1 MiB at most, and are gone.
        #expect(rssKilobytes(daemon.pid) - rssBefore < 256 * 1024)
    }
}
