import ArgumentParser

struct StreamsDeleteCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "delete",
        abstract: "Delete a stream; its subscribers receive STREAM_ENDED."
    )

    @OptionGroup var connection: ConnectionOptions

    @Argument(help: "Stream sid (TO…) or unique name.")
    var stream: String

    func run() throws {
        try connection.makeControlClient().deleteStream(stream)
    }
}
