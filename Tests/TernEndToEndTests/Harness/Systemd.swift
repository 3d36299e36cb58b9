import Foundation
import Glibc

/// A test-owned `NOTIFY_SOCKET`: a Unix datagram socket in a temporary folder that records every
/// `sd_notify` message the daemon sends, with the time it arrived, as systemd would see them.
final class NotifySocketListener {
    struct Message {
        var text: String
        var arrival: Date
        /// `KEY=value` lines of the datagram.
        var fields: [String: String] {
            var fields: [String: String] = [:]
            for line in text.split(separator: "\n") {
                let pair = line.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                if pair.count == 2 { fields[String(pair[0])] = String(pair[1]) }
            }
            return fields
        }
    }

    let path: String
    private let fd: Int32
    private(set) var messages: [Message] = []

    init() throws {
        path = try TernDaemon.makeTemporaryDirectory() + "/notify.sock"
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw HarnessError("notify socket: errno \(errno)") }
        let result = TestSocket.withUnixAddress(path) { bind(fd, $0, $1) }
        guard result == 0 else {
            close(fd)
            throw HarnessError("bind \(path): errno \(errno)")
        }
    }

    deinit { close(fd) }

    /// Receives datagrams for up to `timeout` seconds, stopping early once one satisfies `until`.
    /// Returns the first that does, or nil.
    @discardableResult
    func receive(timeout: Double, until done: (Message) -> Bool = { _ in false }) -> Message? {
        let deadline = Date().addingTimeInterval(timeout)
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let remaining = deadline.timeIntervalSinceNow
            guard remaining > 0 else { return nil }
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, Int32(max(1, min(remaining, 0.1) * 1000))) > 0 else { continue }
            let count = recv(fd, &buffer, buffer.count, Int32(MSG_DONTWAIT))
            guard count > 0 else { continue }
            let message = Message(text: String(decoding: buffer[0..<count], as: UTF8.self), arrival: Date())
            messages.append(message)
            if done(message) { return message }
        }
    }

    /// Waits for a datagram that sets `key` (for example `READY` or `STOPPING`).
    func waitFor(_ key: String, timeout: Double) -> Message? {
        if let earlier = messages.first(where: { $0.fields[key] != nil }) { return earlier }
        return receive(timeout: timeout) { $0.fields[key] != nil }
    }

    func messages(setting key: String) -> [Message] { messages.filter { $0.fields[key] != nil } }
}

/// `ternd` started by `systemd-socket-activate`, the way systemd socket activation starts it:
/// the sockets are bound before the daemon exists, it is started on the first connection, and
/// it receives them as named file descriptors (`LISTEN_FDS`, `LISTEN_FDNAMES`).
final class SocketActivatedDaemon {
    /// One activated socket: `127.0.0.1:PORT` or a Unix socket path, and its fd name.
    struct Listener {
        var address: String
        var name: String
    }

    let process: Process
    let stateDirectory: String
    let listeners: [Listener]
    private let stdout: Pipe

    var pid: Int32 { process.processIdentifier }
    var logPath: String { stateDirectory + "/ternd.log" }
    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// Binds `listeners` through `systemd-socket-activate` and waits until it listens. `ternd` is
    /// not running yet: the first connection to any listener starts it.
    init(listeners: [Listener], arguments: [String], environment: [String: String] = [:]) throws {
        guard let activator = Self.findActivator() else {
            throw HarnessError("systemd-socket-activate not found (Debian package systemd)")
        }
        stateDirectory = try TernDaemon.makeTemporaryDirectory()
        self.listeners = listeners
        var activatorArguments: [String] = []
        for listener in listeners { activatorArguments += ["-l", listener.address, "--fdname=\(listener.name)"] }
        // systemd-socket-activate passes the child only the environment it is told to.
        for key in environment.keys.sorted() { activatorArguments += ["-E", key] }
        activatorArguments += [try Binaries.path(of: "ternd"), "--state-dir", stateDirectory] + arguments

        process = Process()
        process.executableURL = URL(fileURLWithPath: activator)
        process.arguments = activatorArguments
        process.environment = ["PATH": "/usr/bin:/bin"].merging(environment) { $1 }
        stdout = Pipe()
        process.standardOutput = stdout
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        try process.run()

        // It logs "Listening on ADDR as FD." per socket once bound.
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline && process.isRunning {
            if log.components(separatedBy: "Listening on").count - 1 >= listeners.count { return }
            usleep(20_000)
        }
        throw HarnessError("systemd-socket-activate did not bind \(listeners); log:\n\(log)")
    }

    /// Reads ternd's `ternd ready …` line (after a connection has started it).
    func readyLine(timeout: Double = 30) throws -> [String: String] {
        let (fields, text) = ReadyLine.wait(
            on: stdout.fileHandleForReading.fileDescriptor,
            process: process,
            timeout: timeout
        )
        if let fields { return fields }
        throw HarnessError("socket-activated ternd did not become ready (stdout: \(text)); log:\n\(log)")
    }

    /// Waits for the process to exit on its own; returns its status, or nil if still running.
    func exitStatus(within timeout: Double) -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        return process.isRunning ? nil : process.terminationStatus
    }

    /// SIGTERM (systemd-socket-activate execs ternd, so the PID is ternd's), then SIGKILL after `timeout`.
    @discardableResult
    func stop(timeout: Double = 15) -> Int32 {
        guard process.isRunning else { return process.terminationStatus }
        kill(pid, SIGTERM)
        if let status = exitStatus(within: timeout) { return status }
        kill(pid, SIGKILL)
        process.waitUntilExit()
        return process.terminationStatus
    }

    deinit {
        if process.isRunning {
            kill(pid, SIGKILL)
            process.waitUntilExit()
        }
    }

    private static func findActivator() -> String? {
        ["/usr/bin/systemd-socket-activate", "/bin/systemd-socket-activate", "/usr/local/bin/systemd-socket-activate"]
            .first { FileManager.default.isExecutableFile(atPath: $0) }
    }
}

/// Loopback ports and Unix socket paths for activated listeners.
enum ActivationAddress {
    /// A port that was free a moment ago: bind port 0, read it back, close.
    static func freeLoopbackPort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw HarnessError("socket failed") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0
            }
        }
        guard bound else { throw HarnessError("bind port 0 failed: errno \(errno)") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

/// Stops one thread of another process with ptrace (`PTRACE_SEIZE` + `PTRACE_INTERRUPT` on its
/// thread id), leaving its other threads running: a real stuck thread, without a test hook in
/// the daemon. Uses python3's ctypes because Swift cannot call the variadic `ptrace`. The thread
/// resumes when the tracer exits, after `seconds` at most.
final class ThreadStall {
    private let tracer: Process

    /// The thread ids of `pid` whose name (`/proc/PID/task/TID/comm`) starts with `prefix`.
    static func threads(of pid: Int32, named prefix: String) -> [Int32] {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
        return tasks.compactMap { tid -> Int32? in
            let name = (try? String(contentsOfFile: "/proc/\(pid)/task/\(tid)/comm", encoding: .utf8)) ?? ""
            return name.hasPrefix(prefix) ? Int32(tid) : nil
        }.sorted()
    }

    init(thread tid: Int32, seconds: Double) throws {
        let script = """
            import ctypes, os, sys, time
            libc = ctypes.CDLL(None, use_errno=True)
            libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
            tid = int(sys.argv[1])
            if libc.ptrace(0x4206, tid, None, None) != 0: sys.exit("PTRACE_SEIZE: " + os.strerror(ctypes.get_errno()))
            if libc.ptrace(0x4207, tid, None, None) != 0: sys.exit("PTRACE_INTERRUPT: " + os.strerror(ctypes.get_errno()))
            os.waitpid(tid, 0x40000000)
            print("stopped", flush=True)
            time.sleep(float(sys.argv[2]))
            """
        tracer = Process()
        tracer.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        tracer.arguments = ["python3", "-c", script, String(tid), String(seconds)]
        let output = Pipe()
        tracer.standardOutput = output
        let errors = Pipe()
        tracer.standardError = errors
        try tracer.run()
        let line = String(decoding: output.fileHandleForReading.availableData, as: UTF8.self)
        guard line.hasPrefix("stopped") else {
            tracer.waitUntilExit()
            let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            throw HarnessError("could not stop thread \(tid): \(message)")
        }
    }

    /// Lets the thread run again (the kernel detaches a tracee when its tracer exits).
    func release() {
        if tracer.isRunning { kill(tracer.processIdentifier, SIGKILL) }
        tracer.waitUntilExit()
    }

    deinit { release() }
}
