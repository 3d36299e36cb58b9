import ArgumentParser
import Foundation
import TernClient

/// Where the server is and who we are, shared by every command. Flags win over the environment,
/// which wins over the defaults (ternd's defaults).
///
/// Credentials come from `--account-sid`/`--auth-token`, else `TERN_ACCOUNT_SID`/`TERN_AUTH_TOKEN`,
/// else Twilio's own `TWILIO_ACCOUNT_SID`/`TWILIO_AUTH_TOKEN`, so a shell already set up for the
/// Twilio CLI or helper libraries works unchanged. They go to the control port as HTTP Basic and
/// to the data port as the HELLO token.
struct ConnectionOptions: ParsableArguments {
    @Option(help: "Data port: HOST:PORT or a Unix socket path (env TERN_DATA; default 127.0.0.1:7400).")
    var data: String?

    @Option(help: "Control port base URL (env TERN_CONTROL; default http://127.0.0.1:7480).")
    var control: String?

    @Option(help: "Sync service sid (env TERN_SERVICE_SID; default: the server's first service).")
    var service: String?

    @Option(help: "Account sid for HTTP Basic auth (env TERN_ACCOUNT_SID, else TWILIO_ACCOUNT_SID).")
    var accountSid: String?

    @Option(help: "Auth token for HTTP Basic auth and HELLO (env TERN_AUTH_TOKEN, else TWILIO_AUTH_TOKEN).")
    var authToken: String?

    @Option(help: "An Access Token for HELLO instead of the auth token (env TERN_ACCESS_TOKEN; `tern token create`).")
    var accessToken: String?

    private var environment: [String: String] { ProcessInfo.processInfo.environment }

    var dataAddress: String { data ?? environment["TERN_DATA"] ?? "127.0.0.1:7400" }
    var controlURL: String { control ?? environment["TERN_CONTROL"] ?? "http://127.0.0.1:7480" }
    var serviceSid: String? { service ?? environment["TERN_SERVICE_SID"] }
    var resolvedAccountSid: String? {
        accountSid ?? environment["TERN_ACCOUNT_SID"] ?? environment["TWILIO_ACCOUNT_SID"]
    }
    var resolvedAuthToken: String? { authToken ?? environment["TERN_AUTH_TOKEN"] ?? environment["TWILIO_AUTH_TOKEN"] }

    func makeControlClient() throws -> ControlClient {
        var credentials: ControlClient.Credentials?
        if let sid = resolvedAccountSid, let token = resolvedAuthToken {
            credentials = ControlClient.Credentials(accountSid: sid, authToken: token)
        }
        return try ControlClient(baseURL: controlURL, serviceSid: serviceSid, credentials: credentials)
    }

    /// What HELLO presents: an Access Token if given, else the auth token, else nothing.
    var helloToken: String { accessToken ?? environment["TERN_ACCESS_TOKEN"] ?? resolvedAuthToken ?? "" }

    func makeDataConnection(clientName: String = "tern") throws -> DataConnection {
        try DataConnection(dataAddress, clientName: clientName, token: helloToken)
    }
}
