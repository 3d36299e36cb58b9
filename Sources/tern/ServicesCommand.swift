import ArgumentParser

struct ServicesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "services", abstract: "Sync services (control port).", subcommands: [ServicesListCommand.self])
}
