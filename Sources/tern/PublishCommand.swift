import ArgumentParser
import TernClient

struct PublishCommand: ParsableCommand {
    enum Route: String, ExpressibleByArgument, CaseIterable {
        case data, rest
    }

    static let configuration = CommandConfiguration(
        commandName: "pub",
        abstract: "Publish a JSON object to a stream; prints each message sid."
    )

    @OptionGroup var connection: ConnectionOptions

    @Argument(help: "Stream sid (TO…) or unique name.")
    var stream: String

    @Argument(help: "The message: a JSON object, e.g. '{\"px\":1}'.")
    var json: String

    @Option(help: "Publish over the data port (acknowledged) or the REST control port.")
    var via: Route = .data

    @Option(help: "How many times to publish the message.")
    var count: Int = 1

    func validate() throws {
        guard count >= 1 else { throw ValidationError("--count must be at least 1") }
    }

    func run() throws {
        switch via {
        case .data:
            let data = try connection.makeDataConnection(clientName: "tern pub")
            defer { data.close() }
            let attached = try data.subscribe(stream, attachOnly: true)
            for _ in 0..<count {
                if let sid = try data.publish(streamID: attached.streamID, payload: json, ack: true) {
                    Output.line(sid)
                }
            }
        case .rest:
            let control = try connection.makeControlClient()
            for _ in 0..<count {
                Output.line(try control.publish(stream: stream, data: json).sid)
            }
        }
        Output.flush()
    }
}
