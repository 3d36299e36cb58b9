import Foundation
import Testing

/// `Benchmarks/compare --quick` end to end: builds release binaries (ternd in the repository,
/// tern-bench in this package), starts ternd, nats-server, redis-server and the relay, runs a
/// small matrix and writes the results table. Takes about two minutes plus the release builds, so
/// it runs only when TERN_BENCH_TESTS=1.
@Suite(.enabled(if: ProcessInfo.processInfo.environment["TERN_BENCH_TESTS"] == "1", "set TERN_BENCH_TESTS=1"))
struct BenchCompareTests {
    @Test(.timeLimit(.minutes(15))) func quickCompareWritesACompleteTable() throws {
        // Benchmarks/Tests/TernLoadTests/<this file> → the repository.
        let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("tern-compare-\(getpid())")
        try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: output) }
        let results = output.appendingPathComponent("RESULTS.md").path
        let svg = output.appendingPathComponent("fanout.svg").path

        let process = Process()
        process.executableURL = repository.appendingPathComponent("Benchmarks/compare")
        process.arguments = ["--quick", "--results", results, "--svg", svg]
        process.currentDirectoryURL = repository
        let log = output.appendingPathComponent("compare.log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        process.waitUntilExit()
        let logText = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        try #require(process.terminationStatus == 0, "compare failed:\n\(logText.suffix(4000))")

        let table = try String(contentsOfFile: results, encoding: .utf8)
        for section in ["## Machine", "## Versions", "## Settings", "## Commands", "## Results"] {
            #expect(table.contains(section), "RESULTS.md has \(section)")
        }
        // Every row of the summary table (under "## Results") has a figure for Tern, NATS and Redis.
        let summary = table.components(separatedBy: "## Results").last?.components(separatedBy: "\n## ").first ?? ""
        let rows = summary.split(separator: "\n").filter {
            ["| fanout", "| latency", "| manystreams", "| idle"].contains(where: $0.hasPrefix)
        }
        #expect(rows.count >= 6, "summary rows: \(rows.count)")
        for row in rows {
            let cells = row.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            // workload, point, metric, Tern, NATS, Redis, relay, Tern/NATS, Tern/Redis, Tern/relay
            #expect(cells.count == 10, "row \(row)")
            for index in 3..<6 where index < cells.count {
                #expect(cells[index].first?.isNumber == true, "figure in column \(index) of \(row)")
            }
        }
        let relayFigures = rows.filter { $0.hasPrefix("| fanout") }.map {
            $0.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
        }
        #expect(
            !relayFigures.isEmpty && relayFigures.allSatisfy { $0.count == 10 && $0[6].first?.isNumber == true },
            "the relay has fanout figures"
        )
        let chart = try String(contentsOfFile: svg, encoding: .utf8)
        #expect(chart.hasPrefix("<svg") || chart.hasPrefix("<?xml"))
        #expect(chart.contains("<polyline"))
    }
}
