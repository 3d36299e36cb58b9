import Foundation
import TernWire
import Testing

/// HTTP Basic on the control port (`ternd --auth required`) and Tern's token rotation
/// (`POST /v1/Tern/AuthToken`), which switches both ports over at once.
@Suite(.serialized)
struct ControlAuthTests {
    @Test func everyPathButHealthzNeedsCredentials() throws {
        let daemon = try TernDaemon.start(extraArguments: ["--auth", "required"])
        defer { daemon.stop() }
        let token = try daemon.generatedAuthToken()

        let health = try daemon.request("GET", "/healthz")
        #expect(health.status == 200)

        let streams = "/v1/Services/\(daemon.serviceSid)/Streams"
        // Unknown paths and wrong methods too: without credentials nothing about the API shows.
        let paths: [(String, String)] = [
            ("GET", "/v1/Services"), ("GET", "/v1/Services/\(daemon.serviceSid)"), ("POST", streams),
            ("GET", streams), ("POST", "\(streams)/x/Messages"), ("GET", "/v1/Nope"), ("PUT", "/v1/Services"),
            ("POST", "/v1/Tern/AuthToken"),
        ]
        for (method, path) in paths {
            let response = try daemon.request(method, path)
            expectTwilioError(response, status: 401, code: 20003)
            #expect(response.object["message"] as? String == "Authenticate")
            #expect(response.headers["www-authenticate"] == #"Basic realm="Tern""#, "\(method) \(path)")
        }

        let wrong: [[String: String]] = [
            ["Authorization": HTTP.basic(user: daemon.accountSid, password: String(repeating: "0", count: 32))],
            ["Authorization": HTTP.basic(user: "AC" + String(repeating: "0", count: 32), password: token)],
            ["Authorization": HTTP.basic(user: daemon.accountSid, password: token + "x")],
            ["Authorization": HTTP.basic(user: daemon.accountSid, password: "")],
            ["Authorization": "Bearer \(token)"],
            ["Authorization": "Basic !!not-base64!!"],
            ["Authorization": "Basic " + Data("\(daemon.accountSid)\(token)".utf8).base64EncodedString()],
        ]
        for headers in wrong {
            expectTwilioError(try daemon.request("GET", "/v1/Services", headers: headers), status: 401, code: 20003)
        }

        let listed = try daemon.request("GET", "/v1/Services", token: token)
        #expect(listed.status == 200)
        #expect((listed.object["services"] as? [[String: Any]])?.first?["sid"] as? String == daemon.serviceSid)
        // The scheme name is case-insensitive (RFC 7617).
        let lowercase = HTTP.basic(user: daemon.accountSid, password: token).replacingOccurrences(
            of: "Basic",
            with: "basic"
        )
        #expect(try daemon.request("GET", "/v1/Services", headers: ["Authorization": lowercase]).status == 200)
        let created = try daemon.request("POST", streams, form: [("UniqueName", "secured")], token: token)
        #expect(created.status == 201)
        // With valid credentials the usual errors come back.
        expectTwilioError(try daemon.request("GET", "/v1/Nope", token: token), status: 404, code: 20404)
    }

    /// The new token works at once on both ports, the old one on neither, and a restart keeps
    /// the new one.
    @Test func rotationSwitchesBothPortsAndPersists() throws {
        let daemon = try TernDaemon.start(extraArguments: ["--auth", "required"])
        let old = try daemon.generatedAuthToken()

        let rotated = try daemon.request("POST", "/v1/Tern/AuthToken", token: old)
        #expect(rotated.status == 200, "\(rotated.text)")
        #expect(Set(rotated.object.keys) == ["account_sid", "auth_token"])
        #expect(rotated.object["account_sid"] as? String == daemon.accountSid)
        let new = try #require(rotated.object["auth_token"] as? String)
        #expect(new.utf8.count == 32 && new.allSatisfy(\.isHexDigit) && new != old)

        expectTwilioError(try daemon.request("GET", "/v1/Services", token: old), status: 401, code: 20003)
        #expect(try daemon.request("GET", "/v1/Services", token: new).status == 200)
        // Rotating again needs the new token.
        expectTwilioError(try daemon.request("POST", "/v1/Tern/AuthToken", token: old), status: 401, code: 20003)

        try expectHello(port: daemon.dataPort, token: old, accepted: false)
        try expectHello(port: daemon.dataPort, token: new, accepted: true)

        #expect(daemon.stop() == 0)
        let restarted = try daemon.restart()
        defer { restarted.stop() }
        #expect(try restarted.request("GET", "/v1/Services", token: new).status == 200)
        expectTwilioError(try restarted.request("GET", "/v1/Services", token: old), status: 401, code: 20003)
        try expectHello(port: restarted.dataPort, token: new, accepted: true)
    }

    @Test func rotationNeedsAuthenticationOn() throws {
        let daemon = try TernDaemon.start()
        defer { daemon.stop() }
        // With auth off there is no token to rotate, and requests need no credentials.
        expectTwilioError(try daemon.request("POST", "/v1/Tern/AuthToken"), status: 404, code: 20404)
        #expect(try daemon.request("GET", "/v1/Services").status == 200)
        #expect(try daemon.request("GET", "/v1/Services", token: "anything").status == 200)
    }

    /// `tern` takes credentials from flags, `TERN_*`, then `TWILIO_*`; `tern auth rotate` prints
    /// the new token.
    @Test func cliCredentialsAndRotate() throws {
        let daemon = try TernDaemon.start(extraArguments: ["--auth", "required"])
        defer { daemon.stop() }
        let old = try daemon.generatedAuthToken()
        let control = ["--control", daemon.controlBase]

        let anonymous = try ProgramRun.tern(["services", "list"] + control)
        #expect(anonymous.status != 0)
        #expect(anonymous.stderr.contains("401"), "\(anonymous.stderr)")

        let viaTwilioEnvironment = try ProgramRun.tern(
            ["services", "list"] + control,
            environment: ["TWILIO_ACCOUNT_SID": daemon.accountSid, "TWILIO_AUTH_TOKEN": old]
        )
        #expect(viaTwilioEnvironment.status == 0, "\(viaTwilioEnvironment.stderr)")
        #expect(viaTwilioEnvironment.stdout.contains(daemon.serviceSid))

        let rotate = try ProgramRun.tern(
            ["auth", "rotate"] + control,
            environment: ["TERN_ACCOUNT_SID": daemon.accountSid, "TERN_AUTH_TOKEN": old]
        )
        #expect(rotate.status == 0, "\(rotate.stderr)")
        let new = try #require(rotate.lines.first)
        #expect(rotate.lines.count == 1)
        #expect(new.utf8.count == 32 && new != old)

        // TERN_* wins over TWILIO_*, and flags win over both.
        let stale = try ProgramRun.tern(
            ["services", "list"] + control,
            environment: ["TERN_ACCOUNT_SID": daemon.accountSid, "TERN_AUTH_TOKEN": old, "TWILIO_AUTH_TOKEN": new]
        )
        #expect(stale.status != 0)
        #expect(stale.stderr.contains("20003"), "\(stale.stderr)")
        let flags = try ProgramRun.tern(
            ["services", "list", "--account-sid", daemon.accountSid, "--auth-token", new] + control,
            environment: ["TERN_AUTH_TOKEN": old]
        )
        #expect(flags.status == 0, "\(flags.stderr)")

        // The data port takes the same token in HELLO.
        let credentials = ["--account-sid", daemon.accountSid, "--auth-token", new]
        let stream = try #require(
            try ProgramRun.tern(["streams", "create", "--unique-name", "authed"] + credentials + control).jsonObject[
                "sid"
            ]
                as? String
        )
        let published = try ProgramRun.tern(
            ["pub", stream, #"{"n":1}"#, "--data", "127.0.0.1:\(daemon.dataPort)"] + credentials + control
        )
        #expect(published.status == 0, "\(published.stderr)")
        #expect(published.lines.first?.hasPrefix("TZ") == true)
    }

    /// HELLO with `token`: WELCOME if `accepted`, else ERROR AUTH_FAILED.
    func expectHello(
        port: Int,
        token: String,
        accepted: Bool,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let client = try RawDataClient(port: port)
        try client.send(.hello(.init(clientName: "auth-test", token: token)))
        let answer = try client.next(timeout: 5)
        if accepted {
            guard case .welcome? = answer else {
                Issue.record("expected WELCOME, got \(String(describing: answer))", sourceLocation: sourceLocation)
                return
            }
        } else {
            guard case .error(let error)? = answer else {
                Issue.record("expected ERROR, got \(String(describing: answer))", sourceLocation: sourceLocation)
                return
            }
            #expect(error.code == .authFailed, sourceLocation: sourceLocation)
        }
    }
}
