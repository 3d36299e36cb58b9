import ArgumentParser

struct ServicesUpdateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "update",
        abstract: "Rename a service; prints its JSON.",
        discussion: "An empty --friendly-name clears the name."
    )

    @OptionGroup var connection: ConnectionOptions

    @Argument(help: "Service sid (IS…).")
    var sid: String

    @Option(help: "The new name (Twilio's FriendlyName).")
    var friendlyName: String

    func run() throws {
        let response = try connection.makeControlClient().request(
            method: "POST",
            path: ControlPath.service(sid),
            form: [("FriendlyName", friendlyName)]
        )
        try response.requireSuccess()
        Output.bytesLine(response.body)
    }
}
