import Foundation
import Glibc

/// A program the tests run (`tern`, `ss`, Python): its environment is the test process's minus
/// every `TERN_*` and `TWILIO_*` variable (a developer's shell must not leak in), plus what the
/// test gives. Output goes to temporary files, so no pipe can fill up; a program still running
/// when its test is done, or past its timeout, is killed by its pid.
final class ProgramRun {
    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String

        var lines: [String] { stdout.split(separator: "\n").map(String.init) }
        var jsonObject: [String: Any] {
            (try? JSONSerialization.jsonObject(with: Data(stdout.utf8))) as? [String: Any] ?? [:]
        }
    }

    private let process = Process()
    private let folder: String
    private let stdoutPath: String
    private let stderrPath: String

    private init(_ executable: String, _ arguments: [String], environment: [String: String]) throws {
        folder = try TernDaemon.makeTemporaryDirectory()
        stdoutPath = folder + "/stdout"
        stderrPath = folder + "/stderr"
        _ = FileManager.default.createFile(atPath: stdoutPath, contents: nil)
        _ = FileManager.default.createFile(atPath: stderrPath, contents: nil)
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment.filter {
            !$0.key.hasPrefix("TERN_") && !$0.key.hasPrefix("TWILIO_")
        }
        env.merge(environment) { $1 }
        process.environment = env
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: stdoutPath))
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: stderrPath))
        process.standardInput = FileHandle.nullDevice
        try process.run()
    }

    /// Starts a program and returns while it runs.
    static func start(
        _ executable: String,
        _ arguments: [String],
        environment: [String: String] = [:]
    ) throws -> ProgramRun {
        try ProgramRun(executable, arguments, environment: environment)
    }

    /// Runs a program to completion.
    static func run(
        _ executable: String,
        _ arguments: [String],
        environment: [String: String] = [:],
        timeout: Double = 60
    ) throws -> Result {
        try start(executable, arguments, environment: environment).wait(timeout: timeout)
    }

    /// Starts the built `tern` CLI.
    static func startTern(_ arguments: [String], environment: [String: String] = [:]) throws -> ProgramRun {
        try start(try Binaries.path(of: "tern"), arguments, environment: environment)
    }

    /// Runs the built `tern` CLI to completion.
    static func tern(_ arguments: [String], environment: [String: String] = [:], timeout: Double = 30) throws -> Result
    {
        try run(try Binaries.path(of: "tern"), arguments, environment: environment, timeout: timeout)
    }

    /// The running program's pid (to signal it).
    var pid: Int32 { process.processIdentifier }

    private var stderrText: String { (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "" }

    func waitForStderr(containing text: String, timeout: Double) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if stderrText.contains(text) { return true }
            if !process.isRunning { return stderrText.contains(text) }
            usleep(10_000)
        }
        return false
    }

    /// Waits for exit; kills the process (by its pid) if it outlives `timeout` seconds.
    func wait(timeout: Double) -> Result {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        return Result(
            status: process.terminationStatus,
            stdout: (try? String(contentsOfFile: stdoutPath, encoding: .utf8)) ?? "",
            stderr: stderrText
        )
    }

    deinit {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(atPath: folder)
    }
}
