import ArgumentParser

struct StreamsGetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "get", abstract: "Fetch a stream; prints its JSON.")

    @OptionGroup var connection: ConnectionOptions

    @Argument(help: "Stream sid (TO…) or unique name.")
    var stream: String

    func run() throws {
        Output.bytesLine(try connection.makeControlClient().fetchStream(stream).json)
    }
}
