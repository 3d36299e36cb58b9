import Foundation
import TernWire
import Testing

/// Twilio's Key resource on a real ternd: CRUD field for field, HTTP Basic with `SK…:secret`,
/// secrets never stored, keys surviving restarts and kill -9.
@Suite(.serialized)
struct APIKeyTests {
    static func keysPath(_ daemon: TernDaemon) -> String { "/2010-04-01/Accounts/\(daemon.accountSid)/Keys.json" }
    static func keyPath(_ daemon: TernDaemon, _ sid: String) -> String {
        "/2010-04-01/Accounts/\(daemon.accountSid)/Keys/\(sid).json"
    }

    /// Creates a key with the auth token; returns its sid and secret.
    static func createKey(
        _ daemon: TernDaemon,
        token: String?,
        name: String = "worker"
    ) throws -> (sid: String, secret: String) {
        let created = try daemon.request("POST", keysPath(daemon), form: [("FriendlyName", name)], token: token)
        guard created.status == 201, let sid = created.object["sid"] as? String,
            let secret = created.object["secret"] as? String
        else { throw HarnessError("key create failed: \(created.status) \(created.text)") }
        return (sid, secret)
    }

    @Test func crudFieldForFieldAsTwilio() throws {
        let daemon = try TernDaemon.start(extraArguments: ["--auth", "required"])
        defer { daemon.stop() }
        let token = try daemon.generatedAuthToken()

        let created = try daemon.request(
            "POST",
            Self.keysPath(daemon),
            form: [("FriendlyName", "worker-7")],
            token: token
        )
        #expect(created.status == 201, "\(created.text)")
        #expect(Set(created.object.keys) == ["sid", "friendly_name", "date_created", "date_updated", "secret"])
        let sid = try #require(created.object["sid"] as? String)
        let secret = try #require(created.object["secret"] as? String)
        #expect(sid.hasPrefix("SK") && sid.utf8.count == 34)
        #expect(secret.utf8.count == 32 && secret.allSatisfy { $0.isLetter || $0.isNumber })
        #expect(created.object["friendly_name"] as? String == "worker-7")
        // RFC 2822, as the 2010 API writes dates: "Fri, 27 Nov 2026 14:05:43 +0000".
        let date = try #require(created.object["date_created"] as? String)
        #expect(date.hasSuffix(" +0000") && date.count == 31, "\(date)")

        let fetched = try daemon.request("GET", Self.keyPath(daemon, sid), token: token)
        #expect(fetched.status == 200)
        #expect(
            Set(fetched.object.keys) == ["sid", "friendly_name", "date_created", "date_updated"],
            "no secret after create"
        )
        #expect(fetched.object["sid"] as? String == sid)

        let updated = try daemon.request(
            "POST",
            Self.keyPath(daemon, sid),
            form: [("FriendlyName", "renamed")],
            token: token
        )
        #expect(updated.status == 200 && updated.object["friendly_name"] as? String == "renamed")
        expectTwilioError(
            try daemon.request(
                "POST",
                Self.keyPath(daemon, sid),
                form: [("FriendlyName", String(repeating: "x", count: 65))],
                token: token
            ),
            status: 400,
            code: 20002
        )

        _ = try Self.createKey(daemon, token: token, name: "second")
        let page = try daemon.request("GET", Self.keysPath(daemon) + "?PageSize=1", token: token)
        #expect(page.status == 200)
        #expect(
            Set(page.object.keys) == [
                "keys", "end", "first_page_uri", "next_page_uri", "page", "page_size", "previous_page_uri", "start",
                "uri",
            ]
        )
        let first = try #require(page.object["keys"] as? [[String: Any]])
        #expect(first.count == 1 && first[0]["sid"] as? String == sid && first[0]["secret"] == nil)
        let next = try #require(page.object["next_page_uri"] as? String)
        #expect(next.hasPrefix("/2010-04-01/Accounts/\(daemon.accountSid)/Keys.json?PageSize=1&Page=1&PageToken="))
        let second = try daemon.request("GET", next, token: token)
        #expect((second.object["keys"] as? [[String: Any]])?.first?["friendly_name"] as? String == "second")
        #expect(second.object["next_page_uri"] is NSNull)

        #expect(try daemon.request("DELETE", Self.keyPath(daemon, sid), token: token).status == 204)
        expectTwilioError(try daemon.request("GET", Self.keyPath(daemon, sid), token: token), status: 404, code: 20404)
        expectTwilioError(
            try daemon.request("DELETE", Self.keyPath(daemon, sid), token: token),
            status: 404,
            code: 20404
        )
        let otherAccount = "/2010-04-01/Accounts/AC\(String(repeating: "0", count: 32))/Keys.json"
        expectTwilioError(try daemon.request("GET", otherAccount, token: token), status: 404, code: 20404)
        expectTwilioError(try daemon.request("GET", Self.keysPath(daemon)), status: 401, code: 20003)
    }

    /// `SK…:secret` opens the Sync API as Twilio's does, but cannot manage keys or the token;
    /// a deleted key's secret stops working at once.
    @Test func apiKeyCredentialsOnTheControlPort() throws {
        let daemon = try TernDaemon.start(extraArguments: ["--auth", "required"])
        defer { daemon.stop() }
        let token = try daemon.generatedAuthToken()
        let key = try Self.createKey(daemon, token: token)

        let services = try daemon.request("GET", "/v1/Services", account: key.sid, token: key.secret)
        #expect(services.status == 200, "\(services.text)")
        expectTwilioError(
            try daemon.request("GET", "/v1/Services", account: key.sid, token: key.secret + "x"),
            status: 401,
            code: 20003
        )
        expectTwilioError(
            try daemon.request("GET", "/v1/Services", account: key.sid, token: token),
            status: 401,
            code: 20003
        )
        expectTwilioError(
            try daemon.request("GET", Self.keysPath(daemon), account: key.sid, token: key.secret),
            status: 403,
            code: 20403
        )
        expectTwilioError(
            try daemon.request("POST", "/v1/Tern/AuthToken", account: key.sid, token: key.secret),
            status: 403,
            code: 20403
        )

        #expect(try daemon.request("DELETE", Self.keyPath(daemon, key.sid), token: token).status == 204)
        expectTwilioError(
            try daemon.request("GET", "/v1/Services", account: key.sid, token: key.secret),
            status: 401,
            code: 20003
        )
    }

    /// The database holds a salted hash, never the secret; a restart keeps the key, its secret
    /// and its tokens working; a key answered 201 survives kill -9 right after.
    @Test func keysSurviveRestartAndKill9WithoutStoringSecrets() throws {
        let daemon = try TernDaemon.start(extraArguments: ["--auth", "required"])
        let token = try daemon.generatedAuthToken()
        let kept = try Self.createKey(daemon, token: token, name: "kept")
        #expect(daemon.stop() == 0)

        var restarted = try daemon.restart()
        #expect(try restarted.request("GET", Self.keyPath(restarted, kept.sid), token: token).status == 200)
        #expect(try restarted.request("GET", "/v1/Services", account: kept.sid, token: kept.secret).status == 200)

        let crashed = try Self.createKey(restarted, token: token, name: "crashed")
        restarted.kill9()
        restarted = try daemon.restart()
        defer { restarted.stop() }
        let fetched = try restarted.request("GET", Self.keyPath(restarted, crashed.sid), token: token)
        #expect(fetched.status == 200 && fetched.object["friendly_name"] as? String == "crashed")
        #expect(try restarted.request("GET", "/v1/Services", account: crashed.sid, token: crashed.secret).status == 200)

        // A token signed with the restored key is accepted on the data port.
        let client = try RawDataClient(port: restarted.dataPort)
        try client.send(.hello(.init(clientName: "t", token: AccessTokens.mint(restarted, key: crashed))))
        guard case .welcome? = try client.next() else { throw HarnessError("token of a restored key refused") }

        let files = try FileManager.default.contentsOfDirectory(atPath: daemon.stateDirectory).filter {
            $0.hasPrefix("tern.sqlite")
        }
        #expect(!files.isEmpty)
        for file in files {
            let bytes = try Data(contentsOf: URL(fileURLWithPath: daemon.stateDirectory + "/" + file))
            for secret in [kept.secret, crashed.secret] {
                #expect(bytes.range(of: Data(secret.utf8)) == nil, "\(file) holds a key secret in clear")
            }
        }
        let root = try FileManager.default.attributesOfItem(atPath: daemon.stateDirectory + "/key-root")
        #expect((root[.posixPermissions] as? Int) == 0o600)
        #expect((root[.size] as? Int) == 32)
    }
}
