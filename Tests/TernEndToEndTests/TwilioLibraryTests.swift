import Foundation
import Testing

/// Twilio's official Python helper library against a real `ternd`: `Tests/TwilioCompatibility/compat.py`
/// drives services, streams, paging, messages, errors and authentication through the stock
/// `twilio` package, pointed at ternd by its Sync base URL only.
///
/// Needs the virtual environment `scripts/install-deps.sh test` makes (`.venv-twilio`, with
/// `twilio` from PyPI). Without it the test fails and says how to make it: a compatibility claim
/// that silently goes untested is worse than a red test.
@Suite(.serialized)
struct TwilioLibraryTests {
    static let python = repositoryRoot + "/.venv-twilio/bin/python"
    static let script = repositoryRoot + "/Tests/TwilioCompatibility/compat.py"

    @Test func officialPythonLibraryWorksAgainstTernd() throws {
        try #require(
            FileManager.default.isExecutableFile(atPath: Self.python),
            "\(Self.python) is missing: run `scripts/install-deps.sh test` (it makes .venv-twilio with twilio from PyPI)"
        )
        let daemon = try TernDaemon.start(extraArguments: ["--auth", "required"])
        defer { daemon.stop() }
        let token = try daemon.generatedAuthToken()

        let run = try ProgramRun.run(
            Self.python,
            [Self.script],
            environment: [
                "TERN_CONTROL_PORT": String(daemon.controlPort), "TERN_SERVICE_SID": daemon.serviceSid,
                "TERN_ACCOUNT_SID": daemon.accountSid, "TERN_AUTH_TOKEN": token, "PYTHONDONTWRITEBYTECODE": "1",
            ],
            timeout: 120
        )
        #expect(run.status == 0, "compat.py failed:\n\(run.stdout)\n\(run.stderr)\nternd log:\n\(daemon.log)")
        #expect(run.stdout.contains("compat: authentication ok"), "the authentication checks ran:\n\(run.stdout)")
        #expect(run.stdout.contains("checks passed"), "\(run.stdout)")
    }

    /// API keys through the library's Keys resource, and Access Tokens minted by its
    /// `AccessToken` + `SyncGrant`, presented on the data port (`keys_and_tokens.py`).
    @Test func officialLibraryKeysAndAccessTokens() throws {
        try #require(
            FileManager.default.isExecutableFile(atPath: Self.python),
            "\(Self.python) is missing: run `scripts/install-deps.sh test`"
        )
        let daemon = try TernDaemon.start(extraArguments: ["--auth", "required"])
        defer { daemon.stop() }
        let run = try ProgramRun.run(
            Self.python,
            [repositoryRoot + "/Tests/TwilioCompatibility/keys_and_tokens.py"],
            environment: [
                "TERN_CONTROL_PORT": String(daemon.controlPort), "TERN_DATA_PORT": String(daemon.dataPort),
                "TERN_SERVICE_SID": daemon.serviceSid, "TERN_ACCOUNT_SID": daemon.accountSid,
                "TERN_AUTH_TOKEN": try daemon.generatedAuthToken(), "PYTHONDONTWRITEBYTECODE": "1",
            ],
            timeout: 120
        )
        #expect(run.status == 0, "keys_and_tokens.py failed:\n\(run.stdout)\n\(run.stderr)\nternd log:\n\(daemon.log)")
        #expect(run.stdout.contains("keys_and_tokens: access tokens ok"), "\(run.stdout)")
    }
}
