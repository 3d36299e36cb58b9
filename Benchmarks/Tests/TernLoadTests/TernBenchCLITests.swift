import Foundation
import Glibc
import TernClient
import Testing

/// `tern-bench` run as a user would, against a real ternd.
///
/// ternd is the main package's: `$TERND_BIN` if set, else the repository's debug build
/// (`<repository>/.build/debug/ternd`, from `swift build` in the repository root). Without
/// one the suite is skipped, with that reason. `tern-bench` is this package's build, found
/// next to the test bundle.
@Suite(
    .serialized,
    .enabled(if: Programs.ternd != nil, "no ternd: run `swift build` in the repository root or set TERND_BIN")
)
struct TernBenchCLITests {
    @Test(.timeLimit(.minutes(2))) func fanoutReportsThroughputAndLatency() throws {
        let daemon = try Daemon.start()
        defer { daemon.stop() }
        let result = try Programs.runTernBench(
            ["fanout", "--subscribers", "3", "--payload", "100", "--duration", "1", "--json"] + daemon.options
        )
        try #require(result.status == 0, "\(result.stderr)")
        let report = (try? JSONSerialization.jsonObject(with: Data(result.stdout.utf8))) as? [String: Any] ?? [:]
        let published = report["published"] as? Int ?? 0
        let delivered = report["delivered"] as? Int ?? 0
        #expect(published > 1000)
        #expect(delivered > 0 && delivered <= published * 3)
        let ratio = report["delivery_ratio"] as? Double ?? -1
        #expect(ratio > 0 && ratio <= 1)
        #expect((report["published_per_s"] as? Double ?? 0) > 0)
        #expect((report["delivered_mb_per_s"] as? Double ?? 0) > 0)
        #expect(report["dropped"] is Int)
        let latency = report["latency_us"] as? [String: Any] ?? [:]
        for key in ["p50", "p99", "p99_9", "max"] { #expect((latency[key] as? Double ?? 0) > 0, "latency \(key)") }
        #expect((latency["samples"] as? Int ?? 0) > 0)
        #expect(report["latency_subscribers"] as? [Int] == [0, 1, 2])
        // The bench deletes the stream it created.
        #expect(try daemon.control().listStreams().streams.isEmpty)
    }

    @Test(.timeLimit(.minutes(2))) func pacedFanoutPublishesAtTheRequestedRate() throws {
        let daemon = try Daemon.start()
        defer { daemon.stop() }
        let result = try Programs.runTernBench(
            ["fanout", "--subscribers", "2", "--payload", "29", "--duration", "1", "--rate", "2000"]
                + ["--stream", "paced"] + daemon.options
        )
        try #require(result.status == 0, "\(result.stderr)")
        for field in ["published", "delivered", "delivery ratio", "dropped", "latency µs", "p50", "p99.9"] {
            #expect(result.stdout.contains(field), "text report names \(field)")
        }
        let publishedLine = result.stdout.split(separator: "\n").first { $0.hasPrefix("published") } ?? ""
        let count = Int(publishedLine.split(separator: " ")[1].filter(\.isNumber)) ?? 0
        #expect((1700...2300).contains(count), "paced at 2000/s for 1 s, published \(count)")
        // --stream with a name creates the stream and keeps it.
        #expect(try daemon.control().fetchStream("paced").uniqueName == "paced")
    }
}

extension TernBenchCLITests {
    /// `--window`: the publisher waits for the slowest subscriber, so a ternd whose out-buffers and
    /// ring are far smaller than what an unwindowed publisher pushes loses nothing.
    @Test(.timeLimit(.minutes(2))) func aWindowedFanoutIsLossless() throws {
        let daemon = try Daemon.start(extraArguments: ["--out-buffer", "16K", "--ring-bytes", "64K"])
        defer { daemon.stop() }
        let result = try Programs.runTernBench(
            ["fanout", "--subscribers", "4", "--payload", "64", "--duration", "1", "--window", "8192", "--json"]
                + daemon.options
        )
        try #require(result.status == 0, "\(result.stderr)")
        let report = (try? JSONSerialization.jsonObject(with: Data(result.stdout.utf8))) as? [String: Any] ?? [:]
        let published = report["published"] as? Int ?? 0
        #expect(published > 100)
        #expect(report["dropped"] as? Int == 0)
        #expect(report["delivered"] as? Int == published * 4)
        #expect(report["lossless"] as? Bool == true)
        #expect(report["window_bytes"] as? Int == 8192)
        // 8192 bytes of PUBLISH frames, in messages.
        #expect((report["window_messages"] as? Int ?? 0) > 0)
    }
}

extension TernBenchCLITests {
    /// `--delivery shm`: subscribers map the ring over the Unix socket and read it in place; the
    /// windowed run is lossless with every message counted once per subscriber.
    @Test(.timeLimit(.minutes(2))) func sharedMemorySubscribersCountEveryMessage() throws {
        let socket = FileManager.default.temporaryDirectory.appendingPathComponent("tern-bench-\(UUID()).sock").path
        let daemon = try Daemon.start(extraArguments: ["--unix-socket", socket, "--ring-bytes", "64K"])
        defer { daemon.stop() }
        let result = try Programs.runTernBench(
            ["fanout", "--subscribers", "5", "--payload", "64", "--duration", "1", "--window", "16384", "--json"]
                + daemon.options + ["--data", socket, "--delivery", "shm", "--reader-threads", "2"]
        )
        try #require(result.status == 0, "\(result.stderr)")
        let report = (try? JSONSerialization.jsonObject(with: Data(result.stdout.utf8))) as? [String: Any] ?? [:]
        let published = report["published"] as? Int ?? 0
        #expect(published > 100)
        #expect(report["dropped"] as? Int == 0)
        #expect(report["delivered"] as? Int == published * 5)
        #expect(report["lossless"] as? Bool == true)
        let latency = report["latency_us"] as? [String: Any] ?? [:]
        #expect((latency["samples"] as? Int ?? 0) > 0)
    }
}

extension TernBenchCLITests {
    /// `--inline-publisher`: the paced publisher runs between the spinning readers' passes on one
    /// thread; every message reaches every subscriber once, and each one's latency is sampled.
    @Test(.timeLimit(.minutes(2))) func anInlinePublisherReachesEverySpinningReader() throws {
        let socket = FileManager.default.temporaryDirectory.appendingPathComponent("tern-bench-\(UUID()).sock").path
        let daemon = try Daemon.start(extraArguments: ["--unix-socket", socket])
        defer { daemon.stop() }
        let result = try Programs.runTernBench(
            ["latency", "--rate", "500", "--subscribers", "3", "--duration", "1", "--json"]
                + daemon.options + ["--data", socket, "--delivery", "shm", "--spin", "--inline-publisher"]
        )
        try #require(result.status == 0, "\(result.stderr)")
        let report = (try? JSONSerialization.jsonObject(with: Data(result.stdout.utf8))) as? [String: Any] ?? [:]
        let published = report["published"] as? Int ?? 0
        #expect(published >= 400 && published <= 600, "paced at 500 msg/s for 1 s")
        #expect(report["delivered"] as? Int == published * 3)
        #expect(report["dropped"] as? Int == 0)
        let latency = report["latency_us"] as? [String: Any] ?? [:]
        #expect(latency["samples"] as? Int == published * 3)
    }

    /// The flag is refused where it cannot work: readers that sleep would hold the publisher up,
    /// and it has no thread of its own to pin.
    @Test func anInlinePublisherNeedsSpinningReadersAndNoCPUOfItsOwn() throws {
        let sleeping = try Programs.runTernBench(["latency", "--delivery", "shm", "--inline-publisher"])
        #expect(sleeping.status != 0)
        #expect(sleeping.stderr.contains("--inline-publisher needs --spin"))
        let pinned = try Programs.runTernBench(
            ["latency", "--delivery", "shm", "--spin", "--inline-publisher", "--publisher-cpu", "0"]
        )
        #expect(pinned.status != 0)
        #expect(pinned.stderr.contains("no --publisher-cpu"))
    }
}

/// The programs these tests run.
enum Programs {
    /// ternd: `$TERND_BIN`, else the repository's debug build; nil if neither exists.
    static let ternd: String? = {
        if let path = ProcessInfo.processInfo.environment["TERND_BIN"], !path.isEmpty { return path }
        // Benchmarks/Tests/TernLoadTests/<this file> → the repository.
        let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
        let path = repository.appendingPathComponent(".build/debug/ternd").path
        return FileManager.default.isExecutableFile(atPath: path) ? path : nil
    }()

    /// This package's tern-bench, next to the test bundle.
    static func ternBench() throws -> String {
        var directory = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
            .deletingLastPathComponent()
        for _ in 0..<3 {
            let candidate = directory.appendingPathComponent("tern-bench").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            directory = directory.deletingLastPathComponent()
        }
        throw TestFailure("tern-bench not found near the test bundle; run `swift build` here first")
    }

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Runs tern-bench to completion (killed by its pid after `timeout` seconds), with no
    /// TERN_*/TWILIO_* variables from the developer's shell.
    static func runTernBench(_ arguments: [String], timeout: Double = 60) throws -> Result {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tern-bench-test-\(UUID())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let out = folder.appendingPathComponent("stdout")
        let err = folder.appendingPathComponent("stderr")
        _ = FileManager.default.createFile(atPath: out.path, contents: nil)
        _ = FileManager.default.createFile(atPath: err.path, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try ternBench())
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.filter {
            !$0.key.hasPrefix("TERN_") && !$0.key.hasPrefix("TWILIO_")
        }
        process.standardOutput = try FileHandle(forWritingTo: out)
        process.standardError = try FileHandle(forWritingTo: err)
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        return Result(
            status: process.terminationStatus,
            stdout: (try? String(contentsOf: out, encoding: .utf8)) ?? "",
            stderr: (try? String(contentsOf: err, encoding: .utf8)) ?? ""
        )
    }
}

/// A ternd on ephemeral loopback ports with its own state folder, stopped by its pid.
final class Daemon {
    let process: Process
    let state: URL
    let dataAddress: String
    let controlBase: String
    let serviceSid: String

    var options: [String] { ["--data", dataAddress, "--control", controlBase] }

    private init(process: Process, state: URL, fields: [String: String]) throws {
        self.process = process
        self.state = state
        guard let data = fields["data"], let control = fields["control"], let service = fields["service"] else {
            throw TestFailure("malformed ready line: \(fields)")
        }
        dataAddress = data
        controlBase = "http://\(control)"
        serviceSid = service
    }

    static func start(extraArguments: [String] = []) throws -> Daemon {
        let state = FileManager.default.temporaryDirectory.appendingPathComponent("ternd-bench-test-\(UUID())")
        try FileManager.default.createDirectory(at: state, withIntermediateDirectories: true)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Programs.ternd!)
        process.arguments =
            [
                "--data-listen", "127.0.0.1:0", "--control-listen", "127.0.0.1:0", "--state-dir", state.path,
                "--unix-socket", "none", "--threads", "2",
            ] + extraArguments
        process.environment = ProcessInfo.processInfo.environment.filter {
            !$0.key.hasPrefix("TERND_") && $0.key != "NOTIFY_SOCKET"
        }
        let stdout = Pipe()
        process.standardOutput = stdout
        process.standardError = FileHandle.nullDevice
        try process.run()
        // `ternd ready data=… control=… … service=…` on stdout once every listener accepts.
        var text = ""
        let deadline = Date().addingTimeInterval(30)
        let fd = stdout.fileHandleForReading.fileDescriptor
        while Date() < deadline {
            var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&entry, 1, 100) > 0 else {
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
                return try Daemon(process: process, state: state, fields: fields)
            }
        }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        throw TestFailure("ternd did not become ready: \(text)")
    }

    /// A REST client for the daemon's default service.
    func control() throws -> ControlClient {
        try ControlClient(baseURL: controlBase, serviceSid: serviceSid)
    }

    func stop() {
        if process.isRunning {
            kill(process.processIdentifier, SIGTERM)
            let deadline = Date().addingTimeInterval(15)
            while process.isRunning && Date() < deadline { usleep(10_000) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        }
        process.waitUntilExit()
        try? FileManager.default.removeItem(at: state)
    }
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
