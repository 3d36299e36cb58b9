import Foundation
import Glibc
import TernClient
import TernWire
import Testing

/// The async Swift client against real daemons: subscriptions as async sequences, publish with
/// and without acknowledgement, reconnect and resume across a kill -9 and restart (the restart is
/// reported), the version-1 fallback, and a cancelled task closing its connection.
@Suite(.serialized)
struct AsyncClientTests {
    private func client(
        _ address: String,
        maxVersion: UInt16 = 2,
        initialDelay: Duration = .milliseconds(50)
    ) throws
        -> TernAsyncClient
    {
        TernAsyncClient(
            endpoint: try DataEndpoint(parsing: address),
            reconnect: ReconnectPolicy(initialDelay: initialDelay, maxDelay: .seconds(1), maxAttempts: 100),
            maxVersion: maxVersion
        )
    }

    /// Polls `/metrics` without blocking a cooperative thread between scrapes.
    private func waitFor(_ daemon: TernDaemon, _ metric: String, toBe expected: Double) async throws -> Bool {
        for _ in 0..<100 {
            if try daemon.metrics().value(metric) == expected { return true }
            try await Task.sleep(for: .milliseconds(50))
        }
        return false
    }

    private func next(_ iterator: inout TernSubscription.AsyncIterator) async throws -> SubscriptionEvent {
        guard let event = try await iterator.next() else { throw HarnessError("the subscription ended") }
        return event
    }

    @Test func subscribePublishAndReceive() async throws {
        let daemon = try TernDaemon.start()
        defer { daemon.stop() }
        _ = try daemon.createStream(uniqueName: "async")
        try await client("127.0.0.1:\(daemon.dataPort)").withConnection { connection in
            #expect(await connection.version == 2)
            let subscription = try await connection.subscribe("async")
            #expect(subscription.uniqueName == "async" && subscription.nextSequence == 1)
            let sequence = try await connection.publish("async", payload: Array(#"{"n":1}"#.utf8))
            #expect(sequence == 1)
            #expect(try await connection.publish("async", payload: Array(#"{"n":2}"#.utf8), ack: false) == nil)
            var events = subscription.makeAsyncIterator()
            for expected: UInt64 in [1, 2] {
                guard case .message(let message, let sid) = try await next(&events) else {
                    throw HarnessError("expected a message")
                }
                #expect(
                    message.sequence == expected && sid.hasPrefix("TZ") && sid.hasSuffix(String(expected, radix: 16))
                )
            }
            do {
                _ = try await connection.subscribe("no-such-stream")
                Issue.record("subscribed to a stream that does not exist")
            } catch let error as TernClientError {
                #expect(error.errorCode == .streamNotFound)
            }
        }
    }

    @Test func resumesAfterKill9AndReportsTheRestart() async throws {
        let daemon = try TernDaemon.start()
        let stream = try daemon.createStream(uniqueName: "survives")
        var restarted: TernDaemon?
        defer { (restarted ?? daemon).stop() }
        try await client(daemon.unixSocketPath, initialDelay: .seconds(1)).withConnection { connection in
            let subscription = try await connection.subscribe("survives")
            var events = subscription.makeAsyncIterator()
            for index in 1...3 { _ = try daemon.publishREST(stream: stream, data: "{\"i\":\(index)}") }
            for _ in 1...3 {
                guard case .message = try await next(&events) else { throw HarnessError("expected a message") }
            }
            daemon.kill9()
            let again = try daemon.restart()
            restarted = again
            // Published in the new run before the client is back (its backoff is 0.5–1 s).
            _ = try again.publishREST(stream: stream, data: "{\"run\":2}")
            guard case .resubscribed(let back) = try await next(&events) else { throw HarnessError("no resubscribed") }
            #expect(back.resumed && back.serverRestarted && back.missed == nil)
            #expect(back.lastSequence == 3 && back.nextSequence == 1)
            #expect(try await next(&events) == .dropped(count: 1, reason: .notRetained, rawReason: 3))
            #expect(try await connection.publish("survives", payload: Array("{}".utf8)) == 2)
            guard case .message(let message, _) = try await next(&events) else {
                throw HarnessError("expected a message")
            }
            #expect(message.sequence == 2)
            #expect(await connection.reconnects == 1)
        }
    }

    @Test func versionOneFallback() async throws {
        let daemon = try TernDaemon.start()
        defer { daemon.stop() }
        _ = try daemon.createStream(uniqueName: "old")
        try await client("127.0.0.1:\(daemon.dataPort)", maxVersion: 1).withConnection { connection in
            #expect(await connection.version == 1)
            let subscription = try await connection.subscribe("old")
            try await connection.publish("old", payload: Array("{}".utf8))
            var events = subscription.makeAsyncIterator()
            guard case .message = try await next(&events) else { throw HarnessError("expected a message") }
        }
    }

    /// Cancelling the task that runs `withConnection` ends the iteration, closes the socket (the
    /// server sees it go) and leaves no task behind: the task's value arrives.
    @Test func cancellingTheTaskClosesItsConnection() async throws {
        let daemon = try TernDaemon.start()
        defer { daemon.stop() }
        _ = try daemon.createStream(uniqueName: "cancelled")
        let client = try client("127.0.0.1:\(daemon.dataPort)")
        let task = Task {
            try await client.withConnection { connection in
                for try await _ in try await connection.subscribe("cancelled") {}
            }
        }
        #expect(try await waitFor(daemon, "tern_subscriptions", toBe: 1))
        task.cancel()
        _ = await task.result
        #expect(try await waitFor(daemon, "tern_connections_open", toBe: 0))
    }

    /// A server that stops answering (SIGSTOP) makes a request throw `timedOut` after the
    /// request timeout; once it answers again the connection is usable.
    @Test func unansweredRequestsTimeOut() async throws {
        let daemon = try TernDaemon.start()
        defer { daemon.stop() }
        _ = try daemon.createStream(uniqueName: "paused")
        _ = try daemon.createStream(uniqueName: "later")
        let client = TernAsyncClient(
            endpoint: try DataEndpoint(parsing: "127.0.0.1:\(daemon.dataPort)"),
            requestTimeout: .milliseconds(300)
        )
        try await client.withConnection { connection in
            kill(daemon.pid, SIGSTOP)
            // kill returns before every thread has stopped: under load the reactor could still
            // answer the next frame. Wait until the kernel reports the process stopped.
            #expect(try await Self.waitUntilStopped(daemon.pid), "ternd did not stop")
            let started = ContinuousClock.now
            do {
                _ = try await connection.subscribe("paused")
                Issue.record("a stopped server answered")
            } catch TernClientError.timedOut {
                #expect(ContinuousClock.now - started < .seconds(5))
            }
            kill(daemon.pid, SIGCONT)
            let later = try await connection.subscribe("later")
            #expect(later.uniqueName == "later")
        }
    }

    /// True once /proc says every thread of `pid` is stopped (state T), within 5 s.
    static func waitUntilStopped(_ pid: pid_t) async throws -> Bool {
        let deadline = ContinuousClock.now + .seconds(5)
        while ContinuousClock.now < deadline {
            let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
            let states = tasks.compactMap { task -> Character? in
                guard let stat = try? String(contentsOfFile: "/proc/\(pid)/task/\(task)/stat", encoding: .utf8),
                    let close = stat.lastIndex(of: ")")
                else { return nil }
                return stat[stat.index(close, offsetBy: 2)]
            }
            if !states.isEmpty && states.allSatisfy({ $0 == "T" || $0 == "t" }) { return true }
            try await Task.sleep(for: .milliseconds(5))
        }
        return false
    }

    /// A consumer that does not keep up: past `maxPending` the client stops reading, so the
    /// server drops for it (and says so) instead of this process buffering without bound; every
    /// message is then delivered or counted.
    @Test func slowConsumerIsBoundedAndToldExactly() async throws {
        let daemon = try TernDaemon.start(extraArguments: ["--out-buffer", "64K"])
        defer { daemon.stop() }
        let stream = try daemon.createStream(uniqueName: "slow")
        let client = TernAsyncClient(
            endpoint: try DataEndpoint(parsing: "127.0.0.1:\(daemon.dataPort)"),
            maxPending: 1000
        )
        try await client.withConnection { connection in
            let subscription = try await connection.subscribe("slow")
            let publisher = try RawDataClient(port: daemon.dataPort)
            try publisher.handshake()
            let streamID = try publisher.subscribe(stream, attachOnly: true).streamID
            let payload = Array("{\"pad\":\"\(String(repeating: "s", count: 100))\"}".utf8)
            for _ in 0..<50 {
                var batch: [UInt8] = []
                for index in 0..<1000 {
                    Frame.publish(.init(requestID: 1, streamID: streamID, payload: payload, ack: index == 999)).encode(
                        into: &batch
                    )
                }
                try publisher.send(batch)
                guard case .published? = try publisher.next() else { throw HarnessError("no PUBLISHED") }
            }
            #expect(try await waitForDrops(daemon))
            var delivered = 0
            var dropped: UInt64 = 0
            var last: UInt64 = 0
            for try await event in subscription {
                switch event {
                case .message(let message, _):
                    #expect(message.sequence > last)
                    last = message.sequence
                    delivered += 1
                case .dropped(let count, let reason, _):
                    #expect(reason == .slowConsumer)
                    dropped += count
                case .resubscribed:
                    Issue.record("unexpected reconnect")
                }
                if UInt64(delivered) + dropped == 50_000 { break }
            }
            #expect(UInt64(delivered) + dropped == 50_000 && dropped > 0 && delivered >= 1000)
        }
    }

    private func waitForDrops(_ daemon: TernDaemon) async throws -> Bool {
        for _ in 0..<100 {
            if (try daemon.metrics().value("tern_messages_dropped_total", ["reason": "slow_consumer"]) ?? 0) > 0 {
                return true
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        return false
    }
}
