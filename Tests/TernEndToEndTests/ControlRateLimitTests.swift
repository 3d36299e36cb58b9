import Foundation
import Testing

/// The per-stream publish rate limit over REST: a token bucket (`--publish-rate`, `--publish-burst`,
/// or `--twilio-limits` for Twilio's 30 per second), refusals answered 429/54009.
@Suite(.serialized)
struct ControlRateLimitTests {
    /// Publishes `count` messages as fast as one connection per request allows; returns the
    /// responses and the seconds from the first request's start to the last answer's end.
    func publishBurst(_ daemon: TernDaemon, stream: String, count: Int) throws -> ([HTTP.Response], Double) {
        var responses: [HTTP.Response] = []
        let start = Date()
        for index in 0..<count { responses.append(try daemon.publishREST(stream: stream, data: #"{"n":\#(index)}"#)) }
        return (responses, Date().timeIntervalSince(start))
    }

    @Test func restPublishesBeyondTheRateAreRefused() throws {
        let daemon = try TernDaemon.start(extraArguments: ["--publish-rate", "5", "--publish-burst", "5"])
        defer { daemon.stop() }
        let stream = try daemon.createStream(uniqueName: "limited")
        let (responses, elapsed) = try publishBurst(daemon, stream: "limited", count: 20)

        let accepted = responses.filter { $0.status == 201 }
        let refused = responses.filter { $0.status == 429 }
        #expect(accepted.count + refused.count == 20, "only 201 and 429: \(responses.map(\.status))")
        // A full bucket of 5, refilled at 5 per second while the burst lasted.
        #expect(accepted.count >= 5)
        #expect(Double(accepted.count) <= 5 + elapsed * 5, "\(accepted.count) accepted in \(elapsed) s")
        // 20 requests fit in 3 s only on a very slow machine; then all may pass.
        if elapsed < 2.5 { #expect(!refused.isEmpty) }
        for response in refused {
            expectTwilioError(response, status: 429, code: 54009)
        }
        // The first five drained the bucket, so they are the ones accepted, numbered 1...5.
        let sequences = accepted.prefix(5).compactMap {
            ($0.object["sid"] as? String).flatMap { UInt64($0.suffix(16), radix: 16) }
        }
        #expect(sequences == [1, 2, 3, 4, 5])
        #expect(responses.prefix(5).allSatisfy { $0.status == 201 })

        // Tokens come back with time: after 1.2 s at least 5 more pass.
        Thread.sleep(forTimeInterval: 1.2)
        let later = try (0..<5).map { _ in try daemon.publishREST(stream: stream, data: "{}") }
        #expect(later.allSatisfy { $0.status == 201 }, "\(later.map(\.status))")
    }

    /// Each stream has its own bucket: one stream at its limit does not slow another.
    @Test func streamsHaveSeparateBuckets() throws {
        let daemon = try TernDaemon.start(extraArguments: ["--publish-rate", "2", "--publish-burst", "2"])
        defer { daemon.stop() }
        let first = try daemon.createStream()
        let second = try daemon.createStream()
        let (firstResponses, _) = try publishBurst(daemon, stream: first, count: 6)
        #expect(firstResponses.contains { $0.status == 429 })
        let (secondResponses, _) = try publishBurst(daemon, stream: second, count: 2)
        #expect(secondResponses.allSatisfy { $0.status == 201 }, "\(secondResponses.map(\.status))")
    }

    /// `--twilio-limits`: 30 per second and 4 KiB payloads.
    @Test func twilioLimits() throws {
        let daemon = try TernDaemon.start(extraArguments: ["--twilio-limits"])
        defer { daemon.stop() }
        let stream = try daemon.createStream()
        let (responses, elapsed) = try publishBurst(daemon, stream: stream, count: 60)
        let accepted = responses.filter { $0.status == 201 }.count
        #expect(accepted >= 30)
        #expect(Double(accepted) <= 30 + elapsed * 30, "\(accepted) accepted in \(elapsed) s")
        if elapsed < 0.9 { #expect(responses.contains { $0.status == 429 }) }
        for response in responses where response.status == 429 { expectTwilioError(response, status: 429, code: 54009) }

        Thread.sleep(forTimeInterval: 1.1)
        let payload = "{\"f\":\"" + String(repeating: "x", count: 4097 - 8) + "\"}"
        #expect(payload.utf8.count == 4097)
        expectTwilioError(try daemon.publishREST(stream: stream, data: payload), status: 413, code: 54006)
        let fits = "{\"f\":\"" + String(repeating: "x", count: 4096 - 8) + "\"}"
        #expect(try daemon.publishREST(stream: stream, data: fits).status == 201)
    }
}
