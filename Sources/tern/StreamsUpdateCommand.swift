import ArgumentParser

struct StreamsUpdateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "update",
        abstract: "Change a stream's time to live; prints its JSON.",
        discussion: "The new expiry counts from now. --ttl 0 makes the stream never expire."
    )

    @OptionGroup var connection: ConnectionOptions

    @Argument(help: "Stream sid (TO…) or unique name.")
    var stream: String

    @Option(help: "Seconds from now until the stream expires; 0 for never.")
    var ttl: Int

    func run() throws {
        let control = try connection.makeControlClient()
        let response = try control.request(
            method: "POST",
            path: ControlPath.stream(serviceSid: try control.serviceSid(), stream),
            form: [("Ttl", String(ttl))]
        )
        try response.requireSuccess()
        Output.bytesLine(response.body)
    }
}
