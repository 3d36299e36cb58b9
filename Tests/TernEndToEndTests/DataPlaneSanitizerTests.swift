import Foundation
import Glibc
import TernWire
import Testing

/// The data plane's threads at work: fan-out with subscribers and publishers on both reactor
/// threads, a slow consumer, and SIGTERM with subscribers connected. In the ordinary test run
/// these are scenario tests. `make test-tsan` runs them again against the ternd built with
/// `--sanitize=thread` (the one next to that test bundle; `TERN_EXPECT_TSAN=1` makes the suite
/// insist that it is instrumented), and then any ThreadSanitizer report in ternd's log, or
/// TSan's exit status 66, fails the test.
@Suite(.serialized)
struct DataPlaneSanitizerTests {
    /// ThreadSanitizer's exit status for a process that reported something.
    static let tsanExitStatus: Int32 = 66

    /// Whether the ternd under test carries ThreadSanitizer's runtime (`__tsan_*` symbols).
    static func terndIsInstrumented() throws -> Bool {
        let nm = try ProgramRun.run("/usr/bin/nm", [try Binaries.path(of: "ternd")], timeout: 120)
        return nm.stdout.contains("__tsan_init") || nm.stdout.contains("__tsan_func_entry")
    }

    /// Environment for ternd: TSan's documented suppressions (by-design seqlock copies only), if any.
    static var daemonEnvironment: [String: String] {
        let suppressions = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../scripts/tsan-suppressions.txt").standardized.path
        var options = "halt_on_error=0 exitcode=\(tsanExitStatus) second_deadlock_stack=1"
        if FileManager.default.fileExists(atPath: suppressions) { options += " suppressions=\(suppressions)" }
        return ["TSAN_OPTIONS": options]
    }

    static func start(_ arguments: [String]) throws -> TernDaemon {
        try TernDaemon.start(
            extraArguments: ["--threads", "2"] + arguments,
            environment: daemonEnvironment,
            timeout: 60
        )
    }

    /// Stops `daemon` with SIGTERM (unless it already exited) and fails on any sign of TSan.
    static func expectClean(
        _ daemon: TernDaemon,
        status: Int32? = nil,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        let status = status ?? daemon.stop(timeout: 60)
        let log = daemon.log
        if let report = log.range(of: "WARNING: ThreadSanitizer") {
            let excerpt = log[report.lowerBound...].prefix(6000)
            Issue.record("ThreadSanitizer reported in ternd:\n\(excerpt)", sourceLocation: sourceLocation)
        }
        #expect(status != tsanExitStatus, "ternd exited with TSan's status 66", sourceLocation: sourceLocation)
        #expect(status == 0, "ternd's exit status \(status)", sourceLocation: sourceLocation)
    }

    @Test func theDaemonUnderTestIsInstrumentedWhenExpected() throws {
        let instrumented = try Self.terndIsInstrumented()
        let path = try Binaries.path(of: "ternd")
        if ProcessInfo.processInfo.environment["TERN_EXPECT_TSAN"] == "1" {
            #expect(instrumented, "TERN_EXPECT_TSAN=1 but \(path) has no __tsan symbols")
        } else {
            print("DataPlaneSanitizerTests: ternd \(instrumented ? "is" : "is not") built with Thread Sanitizer")
        }
    }

    /// Connects clients named `prefix-N` until they sit on both reactor threads (the threads
    /// race to accept, so the spread is checked in /connz, not assumed).
    static func spread(
        _ daemon: TernDaemon,
        prefix: String,
        atLeast count: Int,
        maxVersion: UInt16 = 1,
        setUp: (RawDataClient) throws -> Void
    ) throws -> [RawDataClient] {
        var clients: [RawDataClient] = []
        for _ in 0..<16 {
            // Connected four at a time, so that both threads are woken to accept.
            let batch = try (0..<4).map { _ in try RawDataClient(port: daemon.dataPort) }
            for client in batch {
                try client.handshake(name: "\(prefix)-\(clients.count)", maxVersion: maxVersion)
                try setUp(client)
                clients.append(client)
            }
            if clients.count >= count, try threads(of: prefix, in: daemon).count == 2 { return clients }
        }
        let connz = try HTTP.request(port: daemon.controlPort, method: "GET", path: "/connz").text
        throw HarnessError("\(prefix) clients never reached both reactor threads: \(connz.prefix(600))")
    }

    static func threads(of prefix: String, in daemon: TernDaemon) throws -> Set<Int> {
        Set(try placement(of: prefix, in: daemon).values)
    }

    /// The reactor thread of each connection whose client name starts with `prefix-`, from /connz.
    static func placement(of prefix: String, in daemon: TernDaemon) throws -> [String: Int] {
        let response = try HTTP.request(port: daemon.controlPort, method: "GET", path: "/connz")
        let connections = response.object["connections"] as? [[String: Any]] ?? []
        var placement: [String: Int] = [:]
        for connection in connections {
            if let name = connection["client_name"] as? String, name.hasPrefix(prefix + "-"),
                let thread = connection["reactor_thread"] as? Int
            {
                placement[name] = thread
            }
        }
        return placement
    }

    /// Subscribers spread over both reactor threads; one subscriber on each thread also
    /// publishes (a subscriber may publish to its streams), so publishers sit on both threads.
    /// Both publish to two streams at once; every subscriber gets every message of both, in
    /// order, then STREAM_ENDED when the streams are deleted.
    @Test func fanOutAcrossBothReactorThreads() throws {
        let daemon = try Self.start([])
        let sids = [try daemon.createStream(), try daemon.createStream()]
        var ledgers: [[UInt32: Ledger]] = []
        let subscribers = try Self.spread(daemon, prefix: "subscriber", atLeast: 6) { client in
            var mine: [UInt32: Ledger] = [:]
            for (index, sid) in sids.enumerated() {
                let subscribed = try client.subscribe(sid, requestID: UInt32(index + 1))
                mine[subscribed.streamID] = Ledger(nextSequence: subscribed.nextSequence)
            }
            ledgers.append(mine)
        }
        let placement = try Self.placement(of: "subscriber", in: daemon)
        let publishing = [0, 1].compactMap { thread in
            subscribers.indices.first { placement["subscriber-\($0)"] == thread }
        }
        try #require(publishing.count == 2, "no subscriber on each reactor thread: \(placement)")
        let perPublisher = 400
        let done = DispatchGroup()
        let failures = Locked<[String]>([])
        for index in publishing {
            var bytes: [UInt8] = []
            for number in 0..<perPublisher {
                for streamID in ledgers[index].keys.sorted() {
                    Frame.publish(
                        .init(
                            requestID: 9,
                            streamID: streamID,
                            payload: Array("{\"n\":\(number)}".utf8),
                            ack: number == perPublisher - 1
                        )
                    )
                    .encode(into: &bytes)
                }
            }
            let (fd, frames) = (subscribers[index].fd, bytes)
            DispatchQueue.global().async(group: done) {
                do { try TestSocket.writeAll(fd, frames) } catch { failures.mutate { $0.append("\(error)") } }
            }
        }
        done.wait()
        #expect(failures.get().isEmpty, "\(failures.get())")
        // Reads `subscriber` into its ledgers until `enough`.
        func pump(_ index: Int, until enough: (_ published: Int, _ ended: Int) -> Bool) throws {
            var published = 0
            while !enough(published, ledgers[index].values.filter { $0.ended != nil }.count),
                let frame = try subscribers[index].next(timeout: 60)
            {
                switch frame {
                case .message(let message):
                    ledgers[index][message.streamID, default: Ledger(nextSequence: 1)].message(
                        sequence: message.sequence
                    )
                case .dropped(let notice):
                    ledgers[index][notice.streamID, default: Ledger(nextSequence: 1)].dropped(count: notice.count)
                case .streamEnded(let streamID, let reason):
                    ledgers[index][streamID, default: Ledger(nextSequence: 1)].ended(reason)
                case .published: published += 1
                case .error(let error): Issue.record("subscriber \(index): ERROR \(error.code.name) \(error.message)")
                default: break
                }
            }
        }
        for index in publishing { try pump(index) { published, _ in published == sids.count } }
        for sid in sids { #expect(try daemon.deleteStream(sid).status == 204) }
        let expected = publishing.count * perPublisher
        for index in subscribers.indices {
            try pump(index) { _, ended in ended == sids.count }
            #expect(ledgers[index].count == sids.count)
            for ledger in ledgers[index].values {
                #expect(ledger.ended == .deleted)
                #expect(ledger.violations.isEmpty, "\(ledger.violations.prefix(3))")
                #expect(
                    ledger.dropped == 0 && ledger.received == expected,
                    "received \(ledger.received), dropped \(ledger.dropped) of \(expected)"
                )
            }
        }
        withExtendedLifetime(subscribers) {}
        Self.expectClean(daemon)
    }

    /// A stalled subscriber next to a healthy one on the other thread: drops counted exactly
    /// while the publisher and the healthy subscriber go on.
    @Test func slowConsumerNextToAHealthyOne() throws {
        let daemon = try Self.start(["--out-buffer", "64K"])
        let sid = try daemon.createStream()
        let stalled = try RawDataClient(port: daemon.dataPort)
        stalled.shrinkReceiveBuffer()
        try stalled.handshake(name: "stalled")
        let subscribed = try stalled.subscribe(sid)
        let healthy = try RawDataClient(port: daemon.dataPort)
        try healthy.handshake(name: "healthy")
        let healthySubscribed = try healthy.subscribe(sid)
        let publisher = try RawDataClient(port: daemon.dataPort)
        try publisher.handshake(name: "publisher")
        let attached = try publisher.subscribe(sid, attachOnly: true)

        let chunks = 80
        let perChunk = 100
        var healthyLedger = Ledger(nextSequence: healthySubscribed.nextSequence)
        for chunk in 0..<chunks {
            try publisher.send(
                SlowConsumerTests.kilobytePublishes(perChunk, to: attached.streamID, ackLast: true, chunk: chunk)
            )
            guard case .published? = try publisher.next(timeout: 30) else {
                Issue.record("no PUBLISHED")
                return
            }
            while healthyLedger.accounted < UInt64((chunk + 1) * perChunk), let frame = try healthy.next(timeout: 30) {
                if case .message(let message) = frame { healthyLedger.message(sequence: message.sequence) }
                if case .dropped(let notice) = frame { healthyLedger.dropped(count: notice.count) }
            }
        }
        #expect(try daemon.deleteStream(sid).status == 204)
        var ledger = Ledger(nextSequence: subscribed.nextSequence)
        try ledger.read(stalled, timeout: 30)
        #expect(ledger.ended == .deleted)
        #expect(ledger.violations.isEmpty, "\(ledger.violations.prefix(3))")
        #expect(ledger.dropped > 0, "the stalled subscriber lost nothing: the scenario proved nothing")
        #expect(ledger.accounted == UInt64(chunks * perChunk))
        #expect(
            healthyLedger.violations.isEmpty && healthyLedger.dropped == 0
                && healthyLedger.received == chunks * perChunk
        )
        Self.expectClean(daemon)
    }

    /// SIGTERM while publishers publish and subscribers on both threads are connected: each
    /// subscription ends with STREAM_ENDED (SHUTDOWN), losses reported in place, exit 0.
    /// Resumes on both reactor threads while a publisher writes the stream's small ring from a
    /// third connection: replay copies race the writer by design (seqlock), and every resumer
    /// still gets each message after its sequence delivered or counted, in order.
    @Test func resumesWhileThePublisherLapsTheRing() throws {
        let daemon = try Self.start(["--ring-bytes", "64K"])
        let sid = try daemon.createStream()
        let holder = try RawDataClient(port: daemon.dataPort)
        try holder.handshake(name: "holder", maxVersion: 2)
        let prefix = try holder.subscribe(sid).sidPrefix
        let resumers = try Self.spread(daemon, prefix: "resumer", atLeast: 4, maxVersion: 2) { _ in }
        let publisher = try RawDataClient(port: daemon.dataPort)
        try publisher.handshake(name: "publisher")
        let streamID = try publisher.subscribe(sid, attachOnly: true).streamID
        let payload = Array("{\"pad\":\"\(String(repeating: "r", count: 200))\"}".utf8)
        var published: UInt64 = 0
        for round in 0..<6 {
            var batch: [UInt8] = []
            for index in 0..<500 {
                Frame.publish(.init(requestID: 1, streamID: streamID, payload: payload, ack: index == 499)).encode(
                    into: &batch
                )
            }
            try publisher.send(batch)  // answered below, so resumes overlap the appends
            for (index, resumer) in resumers.enumerated() {
                let after = published > 0 ? UInt64(index * 97 + round * 13) % published : 0
                try resumer.send(.resume(.init(requestID: 10, sidPrefix: prefix, afterSequence: after, stream: sid)))
                guard case .subscribed(let subscribed)? = try resumer.next(), case .resumed? = try resumer.next() else {
                    throw HarnessError("no SUBSCRIBED + RESUMED")
                }
                var ledger = Ledger(nextSequence: subscribed.nextSequence)
                try resumer.send(.unsubscribe(requestID: 11, streamID: subscribed.streamID))
                while let frame = try resumer.next() {
                    if case .message(let message) = frame { ledger.message(sequence: message.sequence) }
                    if case .dropped(let notice) = frame { ledger.dropped(count: notice.count) }
                    if case .unsubscribed = frame { break }
                }
                #expect(ledger.violations.isEmpty, "\(ledger.violations)")
            }
            guard case .published? = try publisher.next() else { throw HarnessError("no PUBLISHED") }
            published += 500
        }
        Self.expectClean(daemon)
    }

    @Test func shutdownWithSubscribersConnected() throws {
        let daemon = try Self.start(["--out-buffer", "64K", "--shutdown-grace", "10"])
        let sid = try daemon.createStream()
        var nextSequences: [UInt64] = []
        let subscribers = try Self.spread(daemon, prefix: "subscriber", atLeast: 4) { client in
            nextSequences.append(try client.subscribe(sid).nextSequence)
        }
        subscribers[0].shrinkReceiveBuffer()
        let publisher = try RawDataClient(port: daemon.dataPort)
        try publisher.handshake(name: "publisher")
        let attached = try publisher.subscribe(sid, attachOnly: true)
        // A publisher that keeps writing from another thread until the daemon goes away.
        let fd = publisher.fd
        let bytes = SlowConsumerTests.kilobytePublishes(100, to: attached.streamID)
        let sender = DispatchGroup()
        DispatchQueue.global().async(group: sender) {
            let deadline = Date().addingTimeInterval(30)
            while Date() < deadline, (try? TestSocket.writeAll(fd, bytes)) != nil { usleep(1000) }
        }
        usleep(500_000)
        kill(daemon.pid, SIGTERM)
        // All read at once: the grace period is for everyone's out-buffer.
        let outcomes = Locked<[String]>([])
        let readers = Locked((subscribers, nextSequences))
        DispatchQueue.concurrentPerform(iterations: subscribers.count) { index in
            let (subscribers, nextSequences) = readers.get()
            var ledger = Ledger(nextSequence: nextSequences[index])
            do { try ledger.read(subscribers[index], timeout: 60) } catch { ledger.violations.append("\(error)") }
            if ledger.ended != .shutdown { ledger.violations.append("ended \(String(describing: ledger.ended))") }
            if !subscribers[index].closedByServer(timeout: 30) { ledger.violations.append("not closed by the server") }
            let problems = ledger.violations
            outcomes.mutate { $0 += problems.prefix(3).map { "subscriber \(index): \($0)" } }
        }
        #expect(outcomes.get().isEmpty, "\(outcomes.get())")
        let status = daemon.waitForExit(timeout: 60)
        sender.wait()
        withExtendedLifetime(publisher) {}
        Self.expectClean(daemon, status: status)
    }
}

extension SlowConsumerTests {
    /// `count` 1 KiB publishes, the last one with ACK.
    static func kilobytePublishes(_ count: Int, to streamID: UInt32, ackLast: Bool, chunk: Int) -> [UInt8] {
        let payload = Array("{\"pad\":\"\(String(repeating: "x", count: 1000))\"}".utf8)
        var bytes: [UInt8] = []
        for index in 0..<count {
            Frame.publish(
                .init(
                    requestID: UInt32(chunk),
                    streamID: streamID,
                    payload: payload,
                    ack: ackLast && index == count - 1
                )
            )
            .encode(into: &bytes)
        }
        return bytes
    }
}
