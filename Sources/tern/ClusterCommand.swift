import ArgumentParser
import Foundation

/// `tern cluster status`: the nodes of a cluster, from any node's `GET /clusterz`.
struct ClusterCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cluster",
        abstract: "Cluster mode: show the nodes.",
        subcommands: [ClusterStatusCommand.self]
    )
}

struct ClusterStatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract:
            "One line per node (name, alive, addresses, streams, connections), then the backbone; --json for the raw view."
    )

    @OptionGroup var connection: ConnectionOptions

    @Flag(help: "Print the /clusterz JSON as the node answered it.")
    var json = false

    func run() throws {
        let response = try connection.makeControlClient().request(method: "GET", path: "/clusterz")
        try response.requireSuccess()
        if json {
            Output.bytesLine(response.body)
            return
        }
        let view = try response.jsonObject()
        for node in view["nodes"] as? [[String: Any]] ?? [] {
            let alive = node["alive"] as? Bool == true ? "alive" : "silent"
            Output.line(
                "\(node["node"] ?? "?") \(alive) control=\(node["control"] ?? "?") data=\(node["data"] ?? "?") "
                    + "streams=\(node["streams"] ?? 0) connections=\(node["connections"] ?? 0)"
            )
        }
        Output.line(
            "asked \(view["node"] ?? "?"): backbone=\(view["backbone"] ?? "?") nats=\(view["nats_server"] ?? "") bucket=\(view["bucket"] ?? "")"
        )
    }
}
