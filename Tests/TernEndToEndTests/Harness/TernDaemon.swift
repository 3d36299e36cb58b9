import Foundation
import Glibc

/// A real `ternd` process for a test: ephemeral loopback ports, its own temporary state folder,
/// stopped by PID. Its log (stderr) is kept in the state folder for failure messages.
final class TernDaemon: @unchecked Sendable {
    let process: Process
    let stateDirectory: String
    let dataPort: Int
    let controlPort: Int
    let unixSocketPath: String
    let serviceSid: String
    let accountSid: String
    let arguments: [String]

    var pid: Int32 { process.processIdentifier }
    var logPath: String { stateDirectory + "/ternd.log" }
    var controlBase: String { "http://127.0.0.1:\(controlPort)" }

    private init(
        process: Process,
        stateDirectory: String,
        ready: [String: String],
        arguments: [String]
    ) throws {
        self.process = process
        self.stateDirectory = stateDirectory
        self.arguments = arguments
        guard let data = ready["data"], let dataPort = Int(data.split(separator: ":").last ?? ""),
            let control = ready["control"], let controlPort = Int(control.split(separator: ":").last ?? ""),
            let service = ready["service"], let account = ready["account"]
        else { throw HarnessError("malformed ready line: \(ready)") }
        self.dataPort = dataPort
        self.controlPort = controlPort
        unixSocketPath = ready["unix"] ?? "none"
        serviceSid = service
        accountSid = account
    }

    /// Starts `ternd` and waits (at most `timeout` seconds) for its ready line.
    static func start(
        extraArguments: [String] = [],
        stateDirectory: String? = nil,
        environment: [String: String] = [:],
        timeout: Double = 30
    ) throws -> TernDaemon {
        let state = try stateDirectory ?? makeTemporaryDirectory()
        let arguments =
            [
                "--data-listen", "127.0.0.1:0", "--control-listen", "127.0.0.1:0", "--state-dir", state,
                "--threads", "2", "--log-level", "info",
            ] + extraArguments
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try Binaries.path(of: "ternd"))
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment.filter {
            !$0.key.hasPrefix("TERND_") && $0.key != "NOTIFY_SOCKET"
        }
        env.merge(environment) { $1 }
        process.environment = env
        let stdout = Pipe()
        process.standardOutput = stdout
        _ = FileManager.default.createFile(atPath: state + "/ternd.log", contents: nil)
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: state + "/ternd.log"))
        try process.run()

        let ready = try readReadyLine(
            from: stdout.fileHandleForReading,
            process: process,
            timeout: timeout,
            log: state + "/ternd.log"
        )
        return try TernDaemon(process: process, stateDirectory: state, ready: ready, arguments: extraArguments)
    }

    private static func readReadyLine(
        from handle: FileHandle,
        process: Process,
        timeout: Double,
        log: String
    ) throws
        -> [String: String]
    {
        let (fields, text) = ReadyLine.wait(on: handle.fileDescriptor, process: process, timeout: timeout)
        if let fields { return fields }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        let logText = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        throw HarnessError("ternd did not become ready (stdout: \(text)); log:\n\(logText)")
    }

    /// SIGTERM, then wait up to `timeout` seconds (SIGKILL after that). Returns the exit status.
    @discardableResult
    func stop(timeout: Double = 15) -> Int32 {
        guard process.isRunning else { return process.terminationStatus }
        kill(pid, SIGTERM)
        return waitForExit(timeout: timeout)
    }

    /// SIGKILL: the crash case.
    func kill9() {
        guard process.isRunning else { return }
        kill(pid, SIGKILL)
        _ = waitForExit(timeout: 10)
    }

    func waitForExit(timeout: Double) -> Int32 {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        if process.isRunning {
            kill(pid, SIGKILL)
            process.waitUntilExit()
        }
        return process.terminationStatus
    }

    /// A new daemon on the same state folder (after `stop` or `kill9`).
    func restart(extraArguments: [String]? = nil) throws -> TernDaemon {
        try TernDaemon.start(extraArguments: extraArguments ?? arguments, stateDirectory: stateDirectory)
    }

    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// Resident memory of the daemon, from /proc.
    var residentBytes: Int {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
            let kb = Int(line.split(separator: " ").dropFirst().first ?? "")
        else { return 0 }
        return kb * 1024
    }

    deinit {
        if process.isRunning {
            kill(pid, SIGKILL)
            process.waitUntilExit()
        }
    }

    static func makeTemporaryDirectory() throws -> String {
        var template = Array("/tmp/ternd-test-XXXXXX".utf8CString)
        guard let result = mkdtemp(&template) else { throw HarnessError("mkdtemp failed") }
        let path = String(cString: result)
        TemporaryDirectories.register(path)
        return path
    }
}

struct HarnessError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Built products live next to the test bundle.
enum Binaries {
    static func path(of name: String) throws -> String {
        let executable = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var directory = executable.deletingLastPathComponent()
        // The XCTest bundle on Linux is a file in the build folder; Swift Testing runs it the same way.
        for _ in 0..<3 {
            let candidate = directory.appendingPathComponent(name).path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            directory = directory.deletingLastPathComponent()
        }
        throw HarnessError("\(name) not found near \(executable.path); run `swift build` before `swift test`")
    }
}

/// State folders made by tests, removed when the test process exits.
enum TemporaryDirectories {
    nonisolated(unsafe) private static var paths: [String] = []
    private static let lock = NSLock()
    nonisolated(unsafe) private static var installed = false

    static func register(_ path: String) {
        lock.lock()
        defer { lock.unlock() }
        paths.append(path)
        if !installed {
            installed = true
            atexit {
                for path in TemporaryDirectories.paths { try? FileManager.default.removeItem(atPath: path) }
            }
        }
    }
}

/// ternd's `ternd ready key=value …` line, read from its stdout.
enum ReadyLine {
    /// Reads `fd` until the ready line arrives (its fields), the process exits, or `timeout`
    /// passes (nil). Also returns everything read, for failure messages.
    static func wait(on fd: Int32, process: Process, timeout: Double) -> (fields: [String: String]?, text: String) {
        let deadline = Date().addingTimeInterval(timeout)
        var text = ""
        while Date() < deadline {
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, 100) > 0 else {
                if !process.isRunning { break }
                continue
            }
            var buffer = [UInt8](repeating: 0, count: 4096)
            let count = read(fd, &buffer, buffer.count)
            if count <= 0 { break }
            text += String(decoding: buffer[0..<count], as: UTF8.self)
            if let line = text.split(separator: "\n").first(where: { $0.hasPrefix("ternd ready") }) {
                var fields: [String: String] = [:]
                for part in line.split(separator: " ").dropFirst(2) {
                    let pair = part.split(separator: "=", maxSplits: 1)
                    if pair.count == 2 { fields[String(pair[0])] = String(pair[1]) }
                }
                return (fields, text)
            }
        }
        return (nil, text)
    }
}
