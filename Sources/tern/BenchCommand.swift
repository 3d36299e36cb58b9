import ArgumentParser

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench", abstract: "Load generators that measure a running ternd.",
        subcommands: [BenchFanoutCommand.self])
}
