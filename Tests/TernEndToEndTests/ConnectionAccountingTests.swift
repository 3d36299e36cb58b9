import Foundation
import Glibc
import TernWire
import Testing

/// The data port's connection count is exact whatever way a connection ends, so
/// `--max-connections` holds; and at the process's file-descriptor limit the daemon refuses
/// connections calmly instead of spinning.
@Suite(.serialized)
struct ConnectionAccountingTests {
    /// A client that earns a fatal ERROR and closes without reading it once made the server
    /// count the close twice (the ERROR's write failed and closed the connection, then the
    /// fatal path closed it again), so the open count went negative and the limit admitted all.
    @Test func abruptClosesAfterFatalErrorsKeepTheLimit() throws {
        let daemon = try TernDaemon.start(extraArguments: ["--max-connections", "5", "--threads", "1"])
        defer { daemon.stop() }
        var hello: [UInt8] = []
        Frame.hello(.init(clientName: "abrupt")).encode(into: &hello)
        let garbage: [UInt8] = [0, 0, 0, 0, 0x7e, 0, 0, 0]  // an undefined client frame type: fatal
        for attempt in 0..<200 {
            let fd = try TestSocket.connectTCP(port: daemon.dataPort)
            // With and without HELLO first: fatal before and after the handshake.
            try TestSocket.writeAll(fd, (attempt % 2 == 0 ? hello : []) + garbage)
            close(fd)
        }
        #expect(try daemon.waitForMetric("tern_connections_open", toBe: 0) == 0)
        var clients: [RawDataClient] = []
        for index in 0..<5 {
            let client = try RawDataClient(port: daemon.dataPort)
            try client.handshake(name: "keeper-\(index)")
            clients.append(client)
        }
        let sixth = try RawDataClient(port: daemon.dataPort)
        guard case .error(let refusal)? = try sixth.next() else {
            Issue.record("the sixth connection was admitted past --max-connections 5")
            return
        }
        #expect(refusal.code == .tooManyConnections)
        #expect(try daemon.metrics().value("tern_connections_open") == 5)
        clients.removeAll()
        #expect(try daemon.waitForMetric("tern_connections_open", toBe: 0) == 0)
    }

    /// At the descriptor limit the listener stays readable; the daemon must refuse (close) the
    /// connections it cannot take, log a bounded number of lines, stay responsive, and count it.
    @Test func atTheFileDescriptorLimitConnectionsAreRefusedWithoutSpinning() throws {
        let daemon = try TernDaemon.start(extraArguments: ["--max-connections", "10000", "--threads", "2"])
        defer { daemon.stop() }
        let open = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(daemon.pid)/fd").count
        let limit = open + 40
        let prlimit = try ProgramRun.run("/usr/bin/prlimit", ["--pid", "\(daemon.pid)", "--nofile=\(limit):\(limit)"])
        try #require(prlimit.status == 0, "prlimit: \(prlimit.stderr)")

        var held: [Int32] = []
        defer { for fd in held { close(fd) } }
        for _ in 0..<120 { held.append(try TestSocket.connectTCP(port: daemon.dataPort)) }
        // Connections beyond the limit are accepted and closed at once: their clients see EOF.
        let cpuBefore = daemon.cpuSeconds
        usleep(1_500_000)
        let cpu = daemon.cpuSeconds - cpuBefore
        #expect(cpu < 0.5, "the daemon used \(cpu) s of CPU in 1.5 s while at its descriptor limit")
        var refused = 0
        for fd in held {
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            if poll(&poller, 1, 0) > 0 {
                var byte: UInt8 = 0
                if read(fd, &byte, 1) <= 0 { refused += 1 }
            }
        }
        #expect(refused > 0, "no connection over the limit was refused")
        let warnings = daemon.logLines(containing: "Too many open files")
        #expect(warnings.count >= 1 && warnings.count <= 40, "\(warnings.count) log lines about the descriptor limit")

        // Freed descriptors: the daemon serves again, and says what happened.
        for fd in held { close(fd) }
        held.removeAll()
        _ = try ProgramRun.run("/usr/bin/prlimit", ["--pid", "\(daemon.pid)", "--nofile=4096:4096"])
        // Connections still queued from the limit may be taken (and refused) first: serving
        // again means a new client gets WELCOME within a few tries.
        var welcomed = false
        for _ in 0..<10 where !welcomed {
            let client = try RawDataClient(port: daemon.dataPort)
            welcomed = (try? client.handshake(name: "after")) != nil
            if !welcomed { usleep(300_000) }
        }
        #expect(welcomed, "no WELCOME in 10 tries after the descriptor limit was raised")
        let refusedAtLimit = try #require(
            try daemon.metrics().value("tern_accept_errors_total", ["reason": "fd_limit"])
        )
        #expect(refusedAtLimit >= 1)
    }
}

extension TernDaemon {
    /// User plus system CPU time of the daemon so far, in seconds (from /proc).
    var cpuSeconds: Double {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return 0 }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // After the command: state is field 3, utime 14 and stime 15 (1-based, whole line).
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }
}
