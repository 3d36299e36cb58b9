import Foundation
import Glibc
import TernClient
import TernWire
import Testing

/// The async Swift client against real daemons: subscriptions as async sequences, publish with
/// and without acknowledgement, reconnect and resume across a kill -9 and restart (the restart is
/// reported), the version-1 fallback, and a cancelled task closing its connection.
@Suite(.serialized, .timeLimit(.minutes(1)))
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

    /// Publishes three messages over REST and receives them, then kills the daemon (-9) and
    /// starts it again on the same state folder; returns the new daemon.
    private func receiveThreeThenRestart(
        _ daemon: TernDaemon,
        _ stream: String,
        _ events: inout TernSubscription.AsyncIterator
    ) async throws -> TernDaemon {
        for index in 1...3 { _ = try daemon.publishREST(stream: stream, data: "{\"i\":\(index)}") }
        for _ in 1...3 {
            guard case .message = try await next(&events) else { throw HarnessError("expected a message") }
        }
        daemon.kill9()
        return try daemon.restart()
    }

    /// On the Unix socket with version 3 a subscription reads the stream's ring from shared
    /// memory; the events are the same, STREAM_ENDED after the last message.
    @Test func sharedMemorySubscriptionOnTheUnixSocket() async throws {
        let daemon = try TernDaemon.start()
        defer { daemon.stop() }
        let sid = try daemon.createStream(uniqueName: "async-mapped")
        try await client(daemon.unixSocketPath, maxVersion: 3).withConnection { connection in
            #expect(await connection.version == 3)
            let subscription = try await connection.subscribe("async-mapped")
            #expect(subscription.isMapped)
            for number in 1...500 {
                try await connection.publish(
                    "async-mapped",
                    payload: Array(#"{"n":\#(number)}"#.utf8),
                    ack: number == 500
                )
            }
            var iterator = subscription.makeAsyncIterator()
            for sequence in UInt64(1)...500 {
                guard case .message(let message, _) = try await next(&iterator) else {
                    Issue.record("not a message")
                    return
                }
                #expect(message.sequence == sequence && message.payload == Array(#"{"n":\#(sequence)}"#.utf8))
            }
            #expect(try daemon.deleteStream(sid).status == 204)
            await #expect(throws: TernClientError.self) { _ = try await iterator.next() }
        }
    }

    /// `unsubscribe()` ends the iteration and leaves the stream on the server, for a socket
    /// subscription and a mapped one alike; the stream can be subscribed again afterwards.
    @Test(arguments: [false, true])
    func unsubscribeEndsTheIterationAndLeavesTheStream(mapped: Bool) async throws {
        let daemon = try TernDaemon.start()
        defer { daemon.stop() }
        _ = try daemon.createStream(uniqueName: "left")
        let address = mapped ? daemon.unixSocketPath : "127.0.0.1:\(daemon.dataPort)"
        try await client(address, maxVersion: 3).withConnection { connection in
            let subscription = try await connection.subscribe("left")
            #expect(subscription.isMapped == mapped)
            try await connection.publish("left", payload: Array(#"{"n":1}"#.utf8))
            var events = subscription.makeAsyncIterator()
            guard case .message(let first, _) = try await next(&events) else { throw HarnessError("no message") }
            #expect(first.sequence == 1)
            let gauge = mapped ? "tern_mapped_subscriptions" : "tern_subscriptions"
            #expect(try await waitFor(daemon, gauge, toBe: 1))
            try await subscription.unsubscribe()
            #expect(await Self.firstOutcome(of: subscription, within: .seconds(5)) == "ended")
            #expect(try await waitFor(daemon, gauge, toBe: 0))
            try await connection.publish("left", payload: Array(#"{"n":2}"#.utf8))
            let again = try await connection.subscribe("left")
            #expect(again.nextSequence == 3)
        }
    }

    /// A mapped subscription lives on a connection and thread of its own, yet ends with
    /// `withConnection` like any other: its iteration finishes and its connection closes.
    @Test func mappedSubscriptionEndsWithItsConnection() async throws {
        let daemon = try TernDaemon.start()
        defer { daemon.stop() }
        _ = try daemon.createStream(uniqueName: "scoped")
        let subscription = try await client(daemon.unixSocketPath, maxVersion: 3).withConnection { connection in
            let subscription = try await connection.subscribe("scoped")
            #expect(subscription.isMapped)
            #expect(try await waitFor(daemon, "tern_connections_open", toBe: 2))
            return subscription
        }
        #expect(await Self.firstOutcome(of: subscription, within: .seconds(5)) == "ended")
        #expect(try await waitFor(daemon, "tern_connections_open", toBe: 0))
    }

    /// What iterating `subscription` comes to first: "ended", "event", "threw", or "timed out"
    /// if nothing within `limit` (the iteration is then cancelled).
    static func firstOutcome(of subscription: TernSubscription, within limit: Duration) async -> String {
        await withTaskGroup(of: String.self) { group in
            group.addTask {
                var events = subscription.makeAsyncIterator()
                do { return try await events.next() == nil ? "ended" : "event" } catch { return "threw" }
            }
            group.addTask {
                try? await Task.sleep(for: limit)
                return "timed out"
            }
            let first = await group.next() ?? "timed out"
            group.cancelAll()
            return first
        }
    }

    /// A mapped subscription whose connection dies with the daemon (kill -9) reconnects on its
    /// own, subscribes again, reports the restart, and reads the new run's ring.
    @Test func mappedSubscriptionReconnectsAfterARestart() async throws {
        let daemon = try TernDaemon.start()
        let stream = try daemon.createStream(uniqueName: "mapped-survives")
        var restarted: TernDaemon?
        defer { (restarted ?? daemon).stop() }
        try await client(daemon.unixSocketPath, maxVersion: 3, initialDelay: .seconds(1)).withConnection {
            connection in
            let subscription = try await connection.subscribe("mapped-survives")
            #expect(subscription.isMapped)
            var events = subscription.makeAsyncIterator()
            let again = try await receiveThreeThenRestart(daemon, stream, &events)
            restarted = again
            guard case .resubscribed(let back) = try await next(&events) else { throw HarnessError("no resubscribed") }
            #expect(back.serverRestarted && !back.resumed && back.missed == nil)
            #expect(back.lastSequence == 3)
            #expect(try again.publishREST(stream: stream, data: #"{"run":2}"#).status == 201)
            guard case .message(let message, _) = try await next(&events) else {
                throw HarnessError("expected a message")
            }
            #expect(message.payload == Array(#"{"run":2}"#.utf8))
        }
    }

    /// A mapped subscriber whose consumer stops taking events stops reading the ring, not the
    /// socket: it still answers PING, so the server (pinging every second here) keeps it, and
    /// what the ring still holds is delivered once the consumer is back, with no reconnect.
    @Test func mappedSlowConsumerKeepsItsConnection() async throws {
        let daemon = try TernDaemon.start(extraArguments: ["--ping-interval", "1"])
        defer { daemon.stop() }
        let stream = try daemon.createStream(uniqueName: "mapped-slow")
        let client = TernAsyncClient(
            endpoint: try DataEndpoint(parsing: daemon.unixSocketPath),
            maxVersion: 3,
            maxPending: 10
        )
        try await client.withConnection { connection in
            let subscription = try await connection.subscribe("mapped-slow")
            #expect(subscription.isMapped)
            for index in 1...100 { _ = try daemon.publishREST(stream: stream, data: "{\"i\":\(index)}") }
            // Three ping intervals without taking an event: an unanswered PING ends a connection
            // after two.
            try await Task.sleep(for: .seconds(3))
            var events = subscription.makeAsyncIterator()
            for expected in UInt64(1)...100 {
                guard case .message(let message, _) = try await next(&events) else {
                    throw HarnessError("expected message \(expected)")
                }
                #expect(message.sequence == expected)
            }
            #expect(try daemon.metrics().value("tern_connections_closed_total") == 0)
        }
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
            let again = try await receiveThreeThenRestart(daemon, stream, &events)
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

    /// `maxAttempts` bounds the attempts in a row: every connection that opens starts the count
    /// again (protocol.md §7.5), so a client allowed 3 attempts outlives 4 restarts.
    @Test func reconnectAttemptsCountFromTheLastOpenConnection() async throws {
        var daemon = try TernDaemon.start()
        defer { daemon.stop() }
        _ = try daemon.createStream(uniqueName: "restarted-often")
        let client = TernAsyncClient(
            endpoint: try DataEndpoint(parsing: daemon.unixSocketPath),
            reconnect: ReconnectPolicy(initialDelay: .seconds(1), maxDelay: .seconds(1), maxAttempts: 3),
            maxVersion: 2
        )
        try await client.withConnection { connection in
            var events = try await connection.subscribe("restarted-often").makeAsyncIterator()
            for round in 1...4 {
                daemon.kill9()
                daemon = try daemon.restart()
                guard case .resubscribed(let back) = try await next(&events) else {
                    throw HarnessError("no resubscribed after restart \(round)")
                }
                #expect(back.serverRestarted)
            }
            #expect(await connection.reconnects == 4)
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
