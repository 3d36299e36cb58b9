import ArgumentParser
import Foundation
import TernAuth

/// `tern token create`: mints a Twilio Access Token locally, as Twilio's helper libraries do
/// (`AccessToken` + `SyncGrant`), with Tern's optional per-stream grant.
struct TokenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token",
        abstract: "Mint Access Tokens for the data port.",
        subcommands: [TokenCreateCommand.self]
    )
}

struct TokenCreateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create",
        abstract: "Print a signed Access Token (JWT HS256, Twilio's format).",
        discussion: """
            Without --subscribe and --publish the token grants the whole service, as Twilio's do. With either, \
            it grants only what they list (stream sids, unique names, or prefixes ending in '*'). The account \
            and service sids come from the options, else from the control port.
            """
    )

    @OptionGroup var connection: ConnectionOptions

    @Option(help: "The API key sid (SK…) that signs the token (its iss).")
    var key: String

    @Option(help: "The API key's secret.")
    var secret: String

    @Option(help: "grants.identity: who the client is.")
    var identity: String

    @Option(help: "Streams the token may subscribe to (repeatable; 'prices.*' is a prefix).")
    var subscribe: [String] = []

    @Option(help: "Streams the token may publish to (repeatable).")
    var publish: [String] = []

    @Option(help: "Lifetime: seconds, or with a unit: 90s, 15m, 1h, 1d.")
    var ttl: String = "1h"

    func run() throws {
        guard let seconds = Self.seconds(ttl), seconds > 0 else {
            throw ValidationError("--ttl '\(ttl)' is not a duration such as 3600, 90s, 15m, 1h or 1d")
        }
        var accountSid = connection.resolvedAccountSid
        var serviceSid = connection.serviceSid
        if accountSid == nil || serviceSid == nil {
            let client = try connection.makeControlClient()
            accountSid = try accountSid ?? KeysPath.accountSid(connection, client)
            serviceSid = try serviceSid ?? client.serviceSid()
        }
        let grants = subscribe.isEmpty && publish.isEmpty ? nil : StreamGrants(subscribe: subscribe, publish: publish)
        let token = AccessTokenMinter.mint(
            keySid: key,
            secret: secret,
            accountSid: accountSid ?? "",
            identity: identity,
            serviceSid: serviceSid ?? "",
            streamGrants: grants,
            ttlSeconds: seconds,
            now: Int64(Date().timeIntervalSince1970)
        )
        Output.line(token)
    }

    static func seconds(_ text: String) -> Int64? {
        let units: [Character: Int64] = ["s": 1, "m": 60, "h": 3600, "d": 86400]
        if let last = text.last, let unit = units[last] { return Int64(text.dropLast()).map { $0 * unit } }
        return Int64(text)
    }
}
