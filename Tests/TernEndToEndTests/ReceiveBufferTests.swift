import Foundation
import TernWire
import Testing

/// `--read-budget` is also each TCP data connection's receive buffer, so a turn's worth of a fast
/// publisher's backlog is there to read; where `net.core.rmem_max` would cut it short, ternd keeps
/// the kernel's autotuning instead and says so. Checked on the real sockets with `ss` (iproute2).
@Suite(.serialized)
struct ReceiveBufferTests {
    static var rmemMax: Int? {
        (try? String(contentsOfFile: "/proc/sys/net/core/rmem_max", encoding: .utf8))
            .flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }

    /// The receive buffer (`rb` of `ss -m`) of ternd's end of the one connection on `port`.
    func serverReceiveBuffer(port: Int) throws -> Int? {
        let result = try ProgramRun.run(
            "/usr/bin/env",
            ["ss", "-tmnH", "state", "established", "( sport = :\(port) )"]
        )
        #expect(result.status == 0, "ss failed: \(result.stderr)")
        guard let range = result.stdout.range(of: #"rb(\d+)"#, options: .regularExpression) else { return nil }
        return Int(result.stdout[range].dropFirst(2))
    }

    @Test func theReadBudgetBecomesTheReceiveBuffer() throws {
        let maximum = try #require(Self.rmemMax)
        let budget = min(maximum, 4 << 20) / 1024 * 1024
        try #require(budget >= 64 * 1024, "net.core.rmem_max (\(maximum)) is below the smallest read budget")
        let daemon = try TernDaemon.start(extraArguments: ["--read-budget", "\(budget)"])
        defer { daemon.stop() }
        let client = try RawDataClient(port: daemon.dataPort)
        try client.handshake()
        // The kernel doubles SO_RCVBUF for its bookkeeping.
        #expect(try serverReceiveBuffer(port: daemon.dataPort) == 2 * budget)
        #expect(!daemon.log.contains("receive-buffer autotuning"))
    }

    @Test func aBudgetAboveRmemMaxKeepsAutotuning() throws {
        let maximum = try #require(Self.rmemMax)
        let budget = (maximum / 1024 + 64) * 1024
        let daemon = try TernDaemon.start(extraArguments: ["--read-budget", "\(budget)"])
        defer { daemon.stop() }
        let client = try RawDataClient(port: daemon.dataPort)
        try client.handshake()
        let buffer = try #require(try serverReceiveBuffer(port: daemon.dataPort))
        // Not set: the kernel's starting size (tcp_rmem's middle value), far from 2 × the budget.
        #expect(buffer < 2 * budget)
        #expect(
            daemon.log.contains(
                "below the read budget (\(budget)): data connections keep the kernel's receive-buffer autotuning"
            )
        )
        // Reads still work.
        try client.send(.ping(9))
        #expect(try client.next() == .pong(9))
    }
}
