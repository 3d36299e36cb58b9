import ArgumentParser
import TernClient
import TernWire

/// `tern sub`: one JSON line per message on stdout, notices on stderr.
///
/// The `subscribed …` notice on stderr is printed once every stream is subscribed, so a script (or
/// a test) can wait for it before publishing.
struct SubscribeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sub",
        abstract: "Subscribe to streams; prints each message as one JSON line.",
        discussion: """
            stdout: {"stream":"TO…","sid":"TZ…","seq":N,"data":{…}} per message. stderr: subscribed, dropped, \
            resumed (after a reconnect: the gap, or a server restart) and ended notices. Reconnects by itself \
            with backoff and resumes each stream after the last message printed. Exits 0 when every stream has ended, after --count messages, or at \
            --timeout (exit 1 then if --count was not reached).
            """
    )

    @OptionGroup var connection: ConnectionOptions

    @Argument(help: "Stream sids (TO…) or unique names.")
    var streams: [String]

    @Option(help: "Exit after this many messages (over all streams).")
    var count: Int?

    @Option(help: "Exit after this many seconds.")
    var timeout: Double?

    func validate() throws {
        if streams.isEmpty { throw ValidationError("name at least one stream") }
        if let count, count < 1 { throw ValidationError("--count must be at least 1") }
        if let timeout, timeout <= 0 { throw ValidationError("--timeout must be positive") }
    }

    func run() async throws {
        let client = TernAsyncClient(
            endpoint: try DataEndpoint(parsing: connection.dataAddress),
            clientName: "tern sub",
            token: connection.helloToken,
            // The socket, also on the Unix socket: `tern sub` resumes after a break, where the
            // async client's mapped subscriptions only subscribe again and count what they missed.
            sharedMemory: false
        )
        let limit = count
        let deadline = timeout.map { ContinuousClock.now.advanced(by: .milliseconds(Int64($0 * 1000))) }
        let received = try await client.withConnection { data in
            var subscriptions: [TernSubscription] = []
            for stream in streams {
                let subscription = try await data.subscribe(stream)
                subscriptions.append(subscription)
                Output.notice(
                    "subscribed \(subscription.streamSid)"
                        + (subscription.uniqueName.isEmpty ? "" : " (\(subscription.uniqueName))")
                        + " stream_id=\(subscription.streamID) next_seq=\(subscription.nextSequence)"
                )
            }
            return try await Self.print(subscriptions, count: limit, until: deadline)
        }
        Output.flush()
        if let count, received < count {
            Output.notice("timed out with \(received) of \(count) messages")
            throw ExitCode.failure
        }
    }

    /// One line per message of any of `subscriptions` until `count` messages, `deadline`, or
    /// every stream's end; notices for gaps, reconnects and ends. Returns the messages printed.
    private static func print(
        _ subscriptions: [TernSubscription],
        count: Int?,
        until deadline: ContinuousClock.Instant?
    ) async throws -> Int {
        enum Item: Sendable {
            case event(String, SubscriptionEvent)
            case ended(String, String)
        }
        let (items, sink) = AsyncThrowingStream<Item, any Error>.makeStream()
        return try await withThrowingTaskGroup(of: Void.self) { group in
            for subscription in subscriptions {
                group.addTask {
                    do {
                        for try await event in subscription { sink.yield(.event(subscription.streamSid, event)) }
                        sink.yield(.ended(subscription.streamSid, "closed"))
                    } catch TernClientError.streamEnded(let sid, let reason) {
                        sink.yield(.ended(sid, "\(reason)"))
                    }
                }
            }
            group.addTask {
                if let deadline {
                    try await Task.sleep(until: deadline)
                } else {
                    try await Task.sleep(for: .seconds(1 << 40))
                }
                sink.finish()
            }
            defer { group.cancelAll() }
            var received = 0
            var open = subscriptions.count
            for try await item in items {
                switch item {
                case .event(let sid, .message(let message, let messageSid)):
                    Output.bytesLine(MessageLine.render(message, streamSid: sid, messageSid: messageSid))
                    received += 1
                    if let count, received >= count { return received }
                case .event(let sid, .dropped(let lost, let reason, let raw)):
                    Output.flush()
                    Output.notice(
                        "dropped \(sid) count=\(lost) reason=\(raw == reason.rawValue ? "\(reason)" : "\(raw)")"
                    )
                case .event(let sid, .resubscribed(let back)):
                    Output.flush()
                    Output.notice(
                        "\(back.resumed ? "resumed" : "resubscribed") \(sid) next_seq=\(back.nextSequence) "
                            + "last_seq=\(back.lastSequence) restarted=\(back.serverRestarted ? "yes" : "no") "
                            + "missed=\(back.missed.map(String.init) ?? "unknown")"
                    )
                case .ended(let sid, let reason):
                    Output.flush()
                    Output.notice("ended \(sid) reason=\(reason)")
                    open -= 1
                    if open == 0 { return received }
                }
            }
            return received
        }
    }
}
