import ArgumentParser

struct ServicesGetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "get", abstract: "Fetch a service; prints its JSON.")

    @OptionGroup var connection: ConnectionOptions

    @Argument(help: "Service sid (IS…).")
    var sid: String

    func run() throws {
        let response = try connection.makeControlClient().request(method: "GET", path: ControlPath.service(sid))
        try response.requireSuccess()
        Output.bytesLine(response.body)
    }
}
