import ArgumentParser

struct ServicesDeleteCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "delete",
        abstract: "Delete a service and all its streams; their subscribers receive STREAM_ENDED.",
        discussion: "The server's default service cannot be deleted (403, code 20403)."
    )

    @OptionGroup var connection: ConnectionOptions

    @Argument(help: "Service sid (IS…).")
    var sid: String

    func run() throws {
        try connection.makeControlClient().request(method: "DELETE", path: ControlPath.service(sid)).requireSuccess()
    }
}
