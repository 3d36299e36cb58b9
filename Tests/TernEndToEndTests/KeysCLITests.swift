import Foundation
import TernAuth
import TernWire
import Testing

/// `tern keys` and `tern token create` against a real `ternd` with `--auth required`.
@Suite(.serialized)
struct KeysCLITests {
    @Test func keysAndTokensFromTheCommandLine() throws {
        let daemon = try TernDaemon.start(extraArguments: ["--auth", "required"])
        defer { daemon.stop() }
        let token = try daemon.generatedAuthToken()
        let options = [
            "--control", daemon.controlBase, "--account-sid", daemon.accountSid, "--auth-token", token,
            "--data", "127.0.0.1:\(daemon.dataPort)",
        ]
        let created = try ProgramRun.tern(["keys", "create", "--friendly-name", "cli worker"] + options)
        #expect(created.status == 0, "\(created.stderr)")
        let sid = try #require(created.jsonObject["sid"] as? String)
        let secret = try #require(created.jsonObject["secret"] as? String)
        #expect(created.stderr.contains("keep the secret"), "\(created.stderr)")

        let listed = try ProgramRun.tern(["keys", "list"] + options)
        #expect(((listed.jsonObject["keys"] as? [[String: Any]]) ?? []).compactMap { $0["sid"] as? String } == [sid])

        // Minted by the CLI: same format as Twilio's library, narrowed to prices.*.
        let minted = try ProgramRun.tern(
            [
                "token", "create", "--key", sid, "--secret", secret, "--identity", "worker-7", "--subscribe",
                "prices.*",
                "--publish", "orders", "--ttl", "1h", "--service", daemon.serviceSid,
            ] + options
        )
        #expect(minted.status == 0, "\(minted.stderr)")
        let jwt = minted.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let claims = try AccessTokenVerifier(accountSid: daemon.accountSid, clockSkewSeconds: 0)
            .verify(jwt, now: Int64(Date().timeIntervalSince1970)) { $0 == sid ? secret : nil }
        #expect(claims.identity == "worker-7" && claims.serviceSid == daemon.serviceSid)
        #expect(claims.streamGrants == StreamGrants(subscribe: ["prices.*"], publish: ["orders"]))
        #expect(abs(claims.expires - Int64(Date().timeIntervalSince1970) - 3600) <= 2)

        for name in ["prices.eur", "news"] {
            _ = try daemon.request(
                "POST",
                "/v1/Services/\(daemon.serviceSid)/Streams",
                form: [("UniqueName", name)],
                token: token
            )
        }
        let subscriber = try ProgramRun.startTern(["sub", "prices.eur", "--access-token", jwt] + options)
        #expect(
            subscriber.waitForStderr(containing: "subscribed", timeout: 10),
            "tern sub with the token did not subscribe"
        )
        let refused = try ProgramRun.tern(["sub", "news", "--access-token", jwt] + options, timeout: 10)
        #expect(refused.status != 0 && refused.stderr.contains("SUBSCRIBE_NOT_GRANTED"), "\(refused.stderr)")

        let deleted = try ProgramRun.tern(["keys", "delete", sid] + options)
        #expect(deleted.status == 0, "\(deleted.stderr)")
        let ended = subscriber.wait(timeout: 5)
        #expect(ended.stderr.contains("reason=keyRevoked"), "\(ended.stderr)")
        #expect(try daemon.request("GET", APIKeyTests.keyPath(daemon, sid), token: token).status == 404)
        let bad = try ProgramRun.tern(
            ["token", "create", "--key", sid, "--secret", "s", "--identity", "w", "--ttl", "soon"] + options
        )
        #expect(bad.status != 0 && bad.stderr.contains("--ttl"), "\(bad.stderr)")
    }
}
