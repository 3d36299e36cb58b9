import ArgumentParser

struct ServicesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "services",
        abstract: "Create, fetch, list, update and delete Sync services (control port).",
        subcommands: [
            ServicesCreateCommand.self, ServicesGetCommand.self, ServicesListCommand.self, ServicesUpdateCommand.self,
            ServicesDeleteCommand.self,
        ]
    )
}
