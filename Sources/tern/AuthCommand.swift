import ArgumentParser

struct AuthCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "auth",
        abstract: "The account's auth token (control port).",
        subcommands: [AuthRotateCommand.self]
    )
}

/// `tern auth rotate`: Tern's `POST /v1/Tern/AuthToken` (not part of Twilio's API).
struct AuthRotateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rotate",
        abstract: "Replace the auth token; prints the new one.",
        discussion: """
            Authenticate with the current token. The server saves the new token before switching to it; from \
            then on the old token is refused on both ports, so update TERN_AUTH_TOKEN (or TWILIO_AUTH_TOKEN) \
            and every client.
            """
    )

    @OptionGroup var connection: ConnectionOptions

    func run() throws {
        let response = try connection.makeControlClient().request(method: "POST", path: ControlPath.authToken)
        try response.requireSuccess()
        guard let token = try response.jsonObject()["auth_token"] as? String else {
            throw ValidationError("the server's answer has no auth_token: \(response.text.prefix(200))")
        }
        Output.line(token)
        Output.notice("auth token rotated: the old token no longer works")
    }
}
