import ArgumentParser

struct StreamsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "streams",
        abstract: "Create, fetch, list, update and delete streams (control port).",
        subcommands: [
            StreamsCreateCommand.self, StreamsGetCommand.self, StreamsListCommand.self, StreamsUpdateCommand.self,
            StreamsDeleteCommand.self,
        ]
    )
}
