import Foundation
import Glibc
import Testing

/// What the operator sees when things go wrong: store failures logged with their cause and
/// counted, start-up errors that name the file and the fix, and a log no client can flood.
@Suite(.serialized)
struct OperatorVisibilityTests {
    /// A small tmpfs of the test's own, so "disk full" and "read-only" are real and harmless.
    final class SmallFileSystem {
        let path: String
        init(kilobytes: Int) throws {
            path = try TernDaemon.makeTemporaryDirectory()
            let mount = try ProgramRun.run("/bin/mount", ["-t", "tmpfs", "-o", "size=\(kilobytes)k", "tmpfs", path])
            guard mount.status == 0 else { throw HarnessError("mount tmpfs: \(mount.stderr)") }
            try FileManager.default.createDirectory(atPath: path + "/state", withIntermediateDirectories: true)
        }
        /// A read-only view of the same files (a bind mount made read-only; the test still holds
        /// the first daemon's log open for writing, which a plain `remount,ro` refuses).
        func readOnlyView() throws -> String {
            let view = try TernDaemon.makeTemporaryDirectory()
            let bind = try ProgramRun.run("/bin/mount", ["--bind", path, view])
            guard bind.status == 0 else { throw HarnessError("bind mount: \(bind.stderr)") }
            views.append(view)
            let remount = try ProgramRun.run("/bin/mount", ["-o", "remount,ro,bind", view])
            guard remount.status == 0 else { throw HarnessError("remount: \(remount.stderr)") }
            return view
        }
        private var views: [String] = []
        /// Writes a file until the file system is full.
        func fill() {
            let fd = open(path + "/filler", O_WRONLY | O_CREAT | O_TRUNC, 0o600)
            let chunk = [UInt8](repeating: 0, count: 4096)
            while write(fd, chunk, chunk.count) > 0 {}
            close(fd)
        }
        func unfill() { unlink(path + "/filler") }
        deinit {
            for view in views { _ = try? ProgramRun.run("/bin/umount", ["-l", view]) }
            _ = try? ProgramRun.run("/bin/umount", ["-l", path])
        }
    }

    @Test func storeFailuresAreLoggedCountedAndRecoverable() throws {
        let disk = try SmallFileSystem(kilobytes: 1024)
        let daemon = try TernDaemon.start(stateDirectory: disk.path + "/state")
        defer { daemon.stop() }
        _ = try daemon.createStream(uniqueName: "before")
        disk.fill()
        var failed: HTTP.Response?
        // SQLite may fit a few more pages in what is left: create until the store refuses.
        for index in 0..<200 {
            let response = try HTTP.request(
                port: daemon.controlPort,
                method: "POST",
                path: "/v1/Services/\(daemon.serviceSid)/Streams",
                form: [("UniqueName", "full-\(index)-" + String(repeating: "n", count: 200))]
            )
            if response.status != 201 {
                failed = response
                break
            }
        }
        let refusal = try #require(failed, "the store never refused a write on a full file system")
        #expect(refusal.status == 500)
        #expect(refusal.object["code"] as? Int == 20500)
        let lines = daemon.logLines(containing: "store write failed")
        #expect(lines.count == 1, "one failure, one line: \(lines)")
        #expect(lines.first?.contains("tern.sqlite") == true, "the line names the file")
        #expect(try daemon.metrics().value("tern_store_failures_total") == 1)
        disk.unfill()
        #expect(
            try HTTP.request(
                port: daemon.controlPort,
                method: "GET",
                path: "/v1/Services/\(daemon.serviceSid)/Streams/before"
            ).status == 200
        )
        _ = try daemon.createStream(uniqueName: "after")
    }

    @Test func readOnlyStateFolderStopsTheStartNamingTheFolderAndTheFix() throws {
        let disk = try SmallFileSystem(kilobytes: 1024)
        let first = try TernDaemon.start(stateDirectory: disk.path + "/state")
        #expect(first.stop() == 0)
        let readOnly = try disk.readOnlyView()
        let started = try ProgramRun.run(
            try Binaries.path(of: "ternd"),
            ["--state-dir", readOnly + "/state", "--data-listen", "127.0.0.1:0", "--control-listen", "127.0.0.1:0"],
            timeout: 20
        )
        #expect(started.status != 0)
        #expect(started.stderr.contains(readOnly + "/state"), "names the folder: \(started.stderr)")
        #expect(started.stderr.contains("not writable"), "\(started.stderr)")
        #expect(started.stderr.contains("--state-dir"), "says what to do: \(started.stderr)")
    }

    /// One client closing hundreds of connections with protocol errors costs the log a burst
    /// and then about a line a second, and the next line says how many were skipped.
    @Test func fatalClosesCannotFloodTheLog() throws {
        let daemon = try TernDaemon.start(extraArguments: ["--threads", "1"])
        defer { daemon.stop() }
        let garbage: [UInt8] = [0, 0, 0, 0, 0x7e, 0, 0, 0]
        func offend() throws {
            let client = try RawDataClient(port: daemon.dataPort)
            try client.send(garbage)
            _ = client.closedByServer(timeout: 2)
        }
        let started = Date()
        for _ in 0..<400 { try offend() }
        let elapsed = Date().timeIntervalSince(started)
        usleep(1_200_000)
        try offend()
        usleep(200_000)
        let lines = daemon.logLines(containing: "closing connection")
        #expect(
            lines.count <= 22 + Int(elapsed.rounded(.up)) + 2,
            "\(lines.count) lines for 401 offences in \(elapsed) s"
        )
        #expect(lines.last?.contains("suppressed_similar=") == true, "\(lines.last ?? "")")
    }
}
