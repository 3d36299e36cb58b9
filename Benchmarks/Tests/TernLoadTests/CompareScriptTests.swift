import Foundation
import Testing

/// `Benchmarks/compare --quick` end to end: builds release binaries (ternd in the repository,
/// tern-bench in this package), installs the newest peers, starts ternd (plain and spinning),
/// both NATS and both Redis/Valkey and the relay, runs a small matrix and writes the results.
/// Takes a few minutes plus the release builds, so it runs only when TERN_BENCH_TESTS=1.
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
        for section in ["## Machine", "## Versions and settings", "## Results", "## Commands", "## Details"] {
            #expect(table.contains(section), "RESULTS.md has \(section)")
        }
        /// The rows of the table under `title` (header and separator dropped), split into cells.
        func rows(under title: String) -> [[String]] {
            let after = table.components(separatedBy: title).dropFirst().first ?? ""
            let lines = after.split(separator: "\n").drop { !$0.hasPrefix("|") }.prefix { $0.hasPrefix("|") }
            return lines.dropFirst(2).map {
                $0.split(separator: "|", omittingEmptySubsequences: false).dropFirst().dropLast()
                    .map { $0.trimmingCharacters(in: .whitespaces) }
            }
        }
        // The headline: lossless fan-out, a lossless figure for Tern, the relay and both newest peers.
        let header =
            table.components(separatedBy: "### Fan-out, lossless").dropFirst().first?
            .split(separator: "\n").first { $0.hasPrefix("| point") } ?? ""
        let columns = header.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
        let headline = rows(under: "### Fan-out, lossless")
        #expect(headline.count >= 3, "headline rows: \(headline.count)")
        for label in ["Tern", "relay (ideal)", "NATS 2.15.1", "Valkey 9.1.2"] {
            guard let column = columns.firstIndex(of: label) else {
                Issue.record("no column \(label) in \(header)")
                continue
            }
            for row in headline where column < row.count {
                #expect(row[column].first?.isNumber == true && !row[column].contains("✗"), "\(label) in \(row)")
            }
        }
        #expect(columns.contains("Tern, shared memory"), "the shared-memory column is there, pending")
        // Latency at low load: TCP, the Unix socket and the spinning ternd, with figures.
        let latency = rows(under: "### Latency at low load")
        for target in ["Tern", "Tern, Unix socket", "relay (ideal)"] {
            #expect(latency.contains { $0.count > 2 && $0[1] == target && $0[2].first?.isNumber == true }, "\(target)")
        }
        #expect(
            latency.contains { $0.count > 2 && $0[1].hasPrefix("Tern --idle-spin") && $0[2].first?.isNumber == true }
        )
        // Saturation: losses beside each figure.
        #expect(rows(under: "### Fan-out at saturation").allSatisfy { $0.dropFirst().allSatisfy { !$0.isEmpty } })
        #expect(table.contains("DROPPED"))
        let chart = try String(contentsOfFile: svg, encoding: .utf8)
        #expect(chart.hasPrefix("<svg") || chart.hasPrefix("<?xml"))
        #expect(chart.contains("<polyline"))
    }
}
