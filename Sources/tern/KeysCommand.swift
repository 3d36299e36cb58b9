import ArgumentParser
import Foundation
import TernClient

/// `tern keys`: Twilio's API Key resource on the control port (`/2010-04-01/Accounts/{AC}/Keys`).
struct KeysCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys",
        abstract: "Create, list and delete API keys (control port; the account's auth token only).",
        subcommands: [KeysCreateCommand.self, KeysListCommand.self, KeysDeleteCommand.self]
    )
}

struct KeysCreateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create",
        abstract: "Create an API key; prints its JSON, with the secret (shown only this once)."
    )

    @OptionGroup var connection: ConnectionOptions

    @Option(help: "A name for people to read (Twilio's FriendlyName, at most 64 characters).")
    var friendlyName: String?

    func run() throws {
        let client = try connection.makeControlClient()
        let form = friendlyName.map { [("FriendlyName", $0)] } ?? []
        let response = try client.request(method: "POST", path: try KeysPath.list(connection, client), form: form)
        try response.requireSuccess()
        Output.bytesLine(response.body)
        Output.notice("keep the secret now: the server stores only a hash of it")
    }
}

struct KeysListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List API keys; prints the JSON.")

    @OptionGroup var connection: ConnectionOptions

    func run() throws {
        let client = try connection.makeControlClient()
        let response = try client.request(method: "GET", path: try KeysPath.list(connection, client))
        try response.requireSuccess()
        Output.bytesLine(response.body)
    }
}

struct KeysDeleteCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "delete",
        abstract: "Delete an API key: its tokens stop working and its connections end at once."
    )

    @OptionGroup var connection: ConnectionOptions

    @Argument(help: "The key's sid (SK…).")
    var sid: String

    func run() throws {
        let client = try connection.makeControlClient()
        let path =
            try KeysPath.list(connection, client).dropLast(".json".count) + "/" + ControlPath.segment(sid) + ".json"
        let response = try client.request(method: "DELETE", path: String(path))
        try response.requireSuccess()
    }
}

enum KeysPath {
    /// `/2010-04-01/Accounts/{AccountSid}/Keys.json`, the account sid from the options or else
    /// from the server's first service.
    static func list(_ connection: ConnectionOptions, _ client: ControlClient) throws -> String {
        "/2010-04-01/Accounts/\(ControlPath.segment(try accountSid(connection, client)))/Keys.json"
    }

    static func accountSid(_ connection: ConnectionOptions, _ client: ControlClient) throws -> String {
        if let sid = connection.resolvedAccountSid { return sid }
        let response = try client.request(method: "GET", path: ControlPath.services)
        try response.requireSuccess()
        let services = try response.jsonObject()["services"] as? [[String: Any]] ?? []
        guard let sid = services.first?["account_sid"] as? String else {
            throw ValidationError("cannot tell the account sid: pass --account-sid (or TERN_ACCOUNT_SID)")
        }
        return sid
    }
}
