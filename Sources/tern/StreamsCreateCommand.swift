import ArgumentParser

struct StreamsCreateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create",
        abstract: "Create a stream; prints its JSON."
    )

    @OptionGroup var connection: ConnectionOptions

    @Option(help: "Unique name for the stream.")
    var uniqueName: String?

    @Option(help: "Seconds until the stream expires (default: never).")
    var ttl: Int?

    func run() throws {
        let stream = try connection.makeControlClient().createStream(uniqueName: uniqueName, ttl: ttl)
        Output.bytesLine(stream.json)
    }
}
