import ArgumentParser

struct ServicesCreateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create",
        abstract: "Create a service; prints its JSON."
    )

    @OptionGroup var connection: ConnectionOptions

    @Option(help: "A name for people to read (Twilio's FriendlyName).")
    var friendlyName: String?

    func run() throws {
        let form = friendlyName.map { [("FriendlyName", $0)] } ?? []
        let response = try connection.makeControlClient().request(
            method: "POST",
            path: ControlPath.services,
            form: form
        )
        try response.requireSuccess()
        Output.bytesLine(response.body)
    }
}
