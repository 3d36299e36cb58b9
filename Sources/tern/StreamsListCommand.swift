import ArgumentParser

struct StreamsListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List streams; prints the first page's JSON (Twilio paging)."
    )

    @OptionGroup var connection: ConnectionOptions

    @Option(help: "Streams per page (Twilio: default 50, at most 100).")
    var pageSize: Int?

    func run() throws {
        Output.bytesLine(try connection.makeControlClient().listStreams(pageSize: pageSize).json)
    }
}
