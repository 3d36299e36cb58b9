import Foundation
import Glibc
import Testing

/// Cluster mode over TLS to NATS: a real nats-server that requires TLS and verifies clients, with
/// certificates made here by `openssl`, and real ternd nodes.
@Suite(.serialized)
struct ClusterTLSTests {
    /// A CA, a server certificate for 127.0.0.1 and a client certificate, all signed by the CA;
    /// and a second, unrelated CA.
    final class Certificates {
        let directory: String
        init() throws {
            directory = try TernDaemon.makeTemporaryDirectory()
            for (name, subject) in [("ca", "/CN=tern test CA"), ("other-ca", "/CN=another CA")] {
                try openssl([
                    "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-keyout", path("\(name).key"), "-out", path("\(name).pem"), "-days", "2", "-subj", subject,
                ])
            }
            try sign("server", extensions: "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
            try sign("client", extensions: "extendedKeyUsage=clientAuth\n")
        }

        func path(_ name: String) -> String { directory + "/" + name }

        private func sign(_ name: String, extensions: String) throws {
            try openssl([
                "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-keyout", path("\(name).key"), "-out", path("\(name).csr"), "-subj", "/CN=tern test \(name)",
            ])
            try extensions.write(toFile: path("\(name).ext"), atomically: true, encoding: .utf8)
            try openssl([
                "x509", "-req", "-in", path("\(name).csr"), "-CA", path("ca.pem"), "-CAkey", path("ca.key"),
                "-CAcreateserial", "-out", path("\(name).pem"), "-days", "2", "-extfile", path("\(name).ext"),
            ])
        }

        private func openssl(_ arguments: [String]) throws {
            let result = try ProgramRun.run("/usr/bin/openssl", arguments, timeout: 30)
            guard result.status == 0 else {
                throw HarnessError("openssl \(arguments.first ?? "") failed: \(result.stderr)")
            }
        }
    }

    /// One nats-server with JetStream that requires TLS and a client certificate from `ca.pem`.
    private func startTLSServer(_ certificates: Certificates) throws -> (ProgramRun, Int) {
        let binary = try #require(NATSCluster.binary, "nats-server is missing: run `scripts/install-deps.sh test`")
        let port = try NATSCluster.freePort()
        let server = try ProgramRun.start(
            binary,
            [
                "-a", "127.0.0.1", "-p", String(port), "-js", "-sd", certificates.path("js"),
                "--tls", "--tlscert", certificates.path("server.pem"), "--tlskey", certificates.path("server.key"),
                "--tlscacert", certificates.path("ca.pem"), "--tlsverify",
            ]
        )
        try NATSCluster.waitForPort(port, timeout: 10)
        return (server, port)
    }

    private func clusterArguments(port: Int) -> [String] {
        ["--cluster", "nats://127.0.0.1:\(port)", "--cluster-replicas", "1", "--cluster-node", "tls-node"]
    }

    @Test func aNodeKeepsItsRegistryInNATSOverVerifiedTLS() throws {
        let certificates = try Certificates()
        let (server, port) = try startTLSServer(certificates)
        defer { _ = server.wait(timeout: 0) }
        let daemon = try TernDaemon.start(
            extraArguments: clusterArguments(port: port) + [
                "--cluster-tls-ca", certificates.path("ca.pem"),
                "--cluster-tls-cert", certificates.path("client.pem"), "--cluster-tls-key",
                certificates.path("client.key"),
            ]
        )
        defer { daemon.stop() }
        // The registry lives in the KV bucket: a create is a JetStream write over TLS.
        let sid = try daemon.createStream(uniqueName: "over-tls")
        #expect(sid.hasPrefix("TO"))
        let backbone = try HTTP.request(port: daemon.controlPort, method: "GET", path: "/healthz").object["backbone"]
        #expect(backbone as? String == "connected")
    }

    /// A server the node cannot verify, or that cannot verify the node, never gets CONNECT (with
    /// the credentials); the node says why and does not become ready.
    @Test func anUnverifiedPeerNeverGetsTheCredentialsAndTheReasonIsLogged() throws {
        let certificates = try Certificates()
        let (server, port) = try startTLSServer(certificates)
        defer { _ = server.wait(timeout: 0) }
        let cases: [(String, [String], String)] = [
            ("another CA", ["--cluster-tls-ca", certificates.path("other-ca.pem")], "cluster backbone: connecting to"),
            // No TLS settings: the server's INFO requires TLS, checked against the system's roots.
            ("the system's roots", [], "cluster backbone: connecting to"),
            // The right CA but no client certificate: the server refuses the handshake.
            (
                "no client certificate", ["--cluster-tls-ca", certificates.path("ca.pem")],
                "cluster backbone: connecting to"
            ),
        ]
        for (label, tls, logged) in cases {
            let state = try TernDaemon.makeTemporaryDirectory()
            let node = try ProgramRun.start(
                try Binaries.path(of: "ternd"),
                [
                    "--data-listen", "127.0.0.1:0", "--control-listen", "127.0.0.1:0", "--state-dir", state,
                    "--cluster-token", "secret-\(label.count)",
                ] + clusterArguments(port: port) + tls
            )
            #expect(node.waitForStderr(containing: logged, timeout: 10), "\(label): no reason logged")
            let result = node.wait(timeout: 0)
            #expect(!result.stdout.contains("ternd ready"), "\(label): the node became ready")
            #expect(
                result.stderr.lowercased().contains("tls") || result.stderr.lowercased().contains("certificate")
                    || result.stderr.lowercased().contains("handshake"),
                "\(label): \(result.stderr)"
            )
        }
        // The handshakes failed before CONNECT (which carries the token): the server says so.
        let log = server.wait(timeout: 0)
        #expect(log.stderr.contains("TLS handshake error"), "\(log.stderr.suffix(2000))")
    }

    @Test func anUnreadableCertificateFileStopsTheStartNamingTheFile() throws {
        let result = try ProgramRun.run(
            try Binaries.path(of: "ternd"),
            [
                "--check-config", "--cluster", "nats://127.0.0.1:4222", "--cluster-tls-ca", "/nonexistent/tern-ca.pem",
            ],
            timeout: 30
        )
        #expect(result.status != 0)
        #expect(result.stderr.contains("/nonexistent/tern-ca.pem"))
        let halfPair = try ProgramRun.run(
            try Binaries.path(of: "ternd"),
            [
                "--check-config", "--cluster", "nats://127.0.0.1:4222", "--cluster-tls-cert", "/tmp/client.pem",
            ],
            timeout: 30
        )
        #expect(halfPair.status != 0)
        #expect(halfPair.stderr.contains("both its certificate file and its key file"))
    }
}
