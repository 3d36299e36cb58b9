import Foundation
import Testing

/// One rule for every listener, bound or socket-activated: without `--auth required` nothing
/// may be reachable from other hosts. The non-loopback socket lives in a network namespace the
/// test creates (`unshare --net`), so nothing outside this process tree can reach it.
@Suite(.serialized)
struct ExposureRuleTests {
    /// Listens on 0.0.0.0 inside a new network namespace, hands the socket to ternd as systemd
    /// would (`LISTEN_FDS`, `LISTEN_PID`, `LISTEN_FDNAMES`), and reports how ternd ended.
    static let activator = """
        import os, socket, subprocess, sys, time
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
        ternd, state, name, *extra = sys.argv[1:]
        listener = socket.socket()
        listener.bind(("0.0.0.0", 0))
        listener.listen(16)
        pid = os.fork()
        if pid == 0:
            os.dup2(listener.fileno(), 3)
            os.set_inheritable(3, True)
            env = {k: v for k, v in os.environ.items() if not k.startswith("TERND_") and k != "NOTIFY_SOCKET"}
            env.update(LISTEN_FDS="1", LISTEN_PID=str(os.getpid()), LISTEN_FDNAMES=name)
            os.execve(ternd, [ternd, "--state-dir", state, "--data-listen", "127.0.0.1:0",
                              "--control-listen", "127.0.0.1:0", "--unix-socket", "none", *extra], env)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                print("exit=%d" % os.waitstatus_to_exitcode(status), flush=True)
                sys.exit(0)
            time.sleep(0.05)
        print("running", flush=True)
        os.kill(pid, 15)
        os.waitpid(pid, 0)
        """

    private func activate(_ name: String, _ extra: [String]) throws -> ProgramRun.Result {
        let state = try TernDaemon.makeTemporaryDirectory()
        return try ProgramRun.run(
            "/usr/bin/unshare",
            ["--net", "/usr/bin/python3", "-c", Self.activator, try Binaries.path(of: "ternd"), state, name] + extra,
            timeout: 40
        )
    }

    @Test(arguments: ["control", "data"]) func nonLoopbackActivatedSocketIsRefusedWithoutAuth(name: String) throws {
        let result = try activate(name, [])
        #expect(result.stdout.contains("exit=") && !result.stdout.contains("exit=0"), "ternd served: \(result.stdout)")
        #expect(result.stderr.contains("socket-activated '\(name)' socket"), "\(result.stderr)")
        #expect(result.stderr.contains("is not a loopback address: serving other hosts needs --auth required"))
    }

    @Test func nonLoopbackActivatedSocketIsServedWithAuth() throws {
        let result = try activate("control", ["--auth", "required"])
        #expect(result.stdout.contains("ternd ready"), "stdout: \(result.stdout) stderr: \(result.stderr)")
        #expect(result.stdout.contains("control=0.0.0.0:"))
    }
}
