import ArgumentParser
import TernClient
import TernWire

/// `tern sub`: one JSON line per message on stdout, notices on stderr.
///
/// The `subscribed …` notice on stderr is printed once every stream is subscribed, so a script (or
/// a test) can wait for it before publishing.
struct SubscribeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sub",
        abstract: "Subscribe to streams; prints each message as one JSON line.",
        discussion: """
            stdout: {"stream":"TO…","sid":"TZ…","seq":N,"data":{…}} per message. stderr: subscribed, dropped, \
            ended and error notices. Exits 0 when every stream has ended, after --count messages, or at \
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

    func run() throws {
        let data = try connection.makeDataConnection(clientName: "tern sub")
        defer { data.close() }
        var subscriptions: [UInt32: Frame.Subscribed] = [:]
        for stream in streams {
            let subscribed = try data.subscribe(stream)
            subscriptions[subscribed.streamID] = subscribed
            Output.notice(
                "subscribed \(subscribed.streamSid)"
                    + (subscribed.uniqueName.isEmpty ? "" : " (\(subscribed.uniqueName))")
                    + " stream_id=\(subscribed.streamID) next_seq=\(subscribed.nextSequence)")
        }

        let end = timeout.map { ContinuousClock.now.advanced(by: .milliseconds(Int64($0 * 1000))) }
        var received = 0
        while !subscriptions.isEmpty {
            if let count, received >= count { break }
            // Look at what is already buffered first; flush stdout only before actually waiting.
            var frame = try data.nextFrame(timeout: .zero)
            if frame == nil {
                Output.flush()
                let left = end.map { ContinuousClock.now.duration(to: $0) }
                if let left, left <= .zero { break }
                frame = try data.nextFrame(timeout: left)
            }
            guard let frame else { continue }
            switch frame {
            case .message(let message):
                guard let subscription = subscriptions[message.streamID] else { continue }
                Output.bytesLine(MessageLine.render(message, of: subscription))
                received += 1
            case .dropped(let dropped):
                let sid = subscriptions[dropped.streamID]?.streamSid ?? "\(dropped.streamID)"
                Output.notice("dropped \(sid) count=\(dropped.count) reason=\(dropped.reason)")
            case .streamEnded(let streamID, let reason):
                let sid = subscriptions.removeValue(forKey: streamID)?.streamSid ?? "\(streamID)"
                Output.notice("ended \(sid) reason=\(reason)")
            case .error(let error):
                Output.notice("error \(error.code.name) (\(error.code.rawValue)): \(error.message)")
                if error.fatal { throw TernClientError.server(error) }
            default:
                continue
            }
        }
        Output.flush()
        if let count, received < count, !subscriptions.isEmpty {
            Output.notice("timed out with \(received) of \(count) messages")
            throw ExitCode.failure
        }
    }
}
