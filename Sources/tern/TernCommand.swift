import ArgumentParser

/// `tern`: manage services and streams, publish, subscribe and rotate credentials on a ternd server.
/// (The load generator is `tern-bench`, in the separate Benchmarks/ package.)
@main
struct TernCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tern",
        abstract: "Command-line client for the ternd stream relay.",
        discussion: """
            Every command takes --data, --control and --service (also from TERN_DATA, TERN_CONTROL and \
            TERN_SERVICE_SID), and --account-sid/--auth-token (TERN_ACCOUNT_SID, TERN_AUTH_TOKEN, else \
            TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN) when the server requires credentials (ternd --auth required);             sub and pub take --access-token (TERN_ACCESS_TOKEN) instead, an Access Token from `tern token create`.
            """,
        subcommands: [
            StreamsCommand.self, ServicesCommand.self, PublishCommand.self, SubscribeCommand.self, AuthCommand.self,
            KeysCommand.self, TokenCommand.self, ClusterCommand.self,
        ]
    )

    /// Runs the chosen command, then writes out whatever stdout `Output` still buffers, also when
    /// the command fails.
    static func main() async {
        do {
            var command = try parseAsRoot()
            if var asynchronous = command as? any AsyncParsableCommand {
                try await asynchronous.run()
            } else {
                try command.run()
            }
            Output.flush()
        } catch {
            Output.flush()
            exit(withError: error)
        }
    }
}
