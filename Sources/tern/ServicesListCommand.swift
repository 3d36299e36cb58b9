import ArgumentParser

struct ServicesListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List services; prints the JSON.")

    @OptionGroup var connection: ConnectionOptions

    func run() throws {
        let response = try connection.makeControlClient().request(method: "GET", path: "/v1/Services")
        try response.requireSuccess()
        Output.bytesLine(response.body)
    }
}
