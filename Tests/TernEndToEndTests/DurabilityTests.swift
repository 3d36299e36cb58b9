import Foundation
import Glibc
import Testing

/// What a client was told survives the daemon: streams created (201) or deleted (204) before a
/// `kill -9` or a stop are exactly as they were after a restart on the same state folder, and a
/// damaged state database stops the daemon from starting rather than starting empty.
@Suite(.serialized)
struct DurabilityTests {
    /// The fields a restart must keep, as REST shows them.
    struct StreamView: Equatable, CustomStringConvertible {
        var uniqueName: String?
        var dateCreated: String?
        var dateExpires: String?

        init(_ json: [String: Any]) {
            uniqueName = json["unique_name"] as? String
            dateCreated = json["date_created"] as? String
            dateExpires = json["date_expires"] as? String
        }

        var description: String { "\(uniqueName ?? "-") \(dateCreated ?? "-") \(dateExpires ?? "-")" }
    }

    @Test func thousandStreamsSurviveKill9() throws {
        let daemon = try TernDaemon.start()
        defer { daemon.stop() }
        let streamsPath = "/v1/Services/\(daemon.serviceSid)/Streams"

        // A mix: every third stream without a unique name, every other one with a Ttl.
        var created: [String: StreamView] = [:]
        var order: [String] = []
        let deadline = Date().addingTimeInterval(120)
        for index in 0..<1000 {
            try #require(Date() < deadline, "creating 1000 streams took over 120 s (at \(index))")
            var form: [(String, String)] = []
            if index % 3 != 0 { form.append(("UniqueName", "durable-\(index)")) }
            if index % 2 == 0 { form.append(("Ttl", String(3600 + index))) }
            let response = try HTTP.request(port: daemon.controlPort, method: "POST", path: streamsPath, form: form)
            try #require(response.status == 201, "create \(index): \(response.status) \(response.text)")
            let sid = try #require(response.object["sid"] as? String)
            created[sid] = StreamView(response.object)
            order.append(sid)
        }
        #expect(created.count == 1000)
        #expect(created.values.filter { $0.uniqueName == nil }.count == 334)
        #expect(created.values.filter { $0.dateExpires != nil }.count == 500)

        // Straight after the last 201: nothing gets a chance to flush on the way down.
        daemon.kill9()
        let restarted = try daemon.restart()
        defer { restarted.stop() }
        #expect(restarted.serviceSid == daemon.serviceSid)
        #expect(restarted.accountSid == daemon.accountSid)
        #expect(restarted.log.contains("restored 1000 streams"), "\(restarted.log)")

        let listed = try listStreams(restarted)
        #expect(listed.map(\.sid) == order, "restored streams must keep their creation order")
        var mismatches: [String] = []
        for (sid, view) in listed where created[sid] != view {
            mismatches.append("\(sid): was \(created[sid].map(String.init(describing:)) ?? "absent"), now \(view)")
        }
        #expect(mismatches.isEmpty, "\(mismatches.prefix(5))")

        // Unique names still resolve, and still refuse a duplicate.
        let byName = try HTTP.request(port: restarted.controlPort, method: "GET", path: "\(streamsPath)/durable-998")
        #expect(byName.status == 200)
        #expect(byName.object["sid"] as? String == order[998])
        let duplicate = try HTTP.request(
            port: restarted.controlPort,
            method: "POST",
            path: streamsPath,
            form: [("UniqueName", "durable-1")]
        )
        #expect(duplicate.status == 409, "\(duplicate.text)")
    }

    @Test func streamThatExpiresWhileDownIsGoneAfterRestart() throws {
        let daemon = try TernDaemon.start()
        let shortLived = try daemon.createStream(uniqueName: "short-lived", ttl: 1)
        let created = Date()
        let permanent = try daemon.createStream(uniqueName: "permanent")
        #expect(daemon.stop() == 0)
        let stoppedWithinTtl = Date().timeIntervalSince(created) < 0.8

        Thread.sleep(forTimeInterval: 2)
        let restarted = try daemon.restart()
        defer { restarted.stop() }
        let path = "/v1/Services/\(restarted.serviceSid)/Streams"
        #expect(
            try HTTP.request(port: restarted.controlPort, method: "GET", path: "\(path)/\(shortLived)").status == 404
        )
        #expect(try HTTP.request(port: restarted.controlPort, method: "GET", path: "\(path)/short-lived").status == 404)
        #expect(
            try HTTP.request(port: restarted.controlPort, method: "GET", path: "\(path)/\(permanent)").status == 200
        )
        // It was still alive at shutdown, so the restart itself must have dropped it.
        if stoppedWithinTtl {
            #expect(restarted.log.contains("restored 1 streams, deleted 1 that expired"), "\(restarted.log)")
        }

        // Dropped from the database too, not just hidden: a second restart agrees.
        #expect(restarted.stop() == 0)
        let again = try restarted.restart()
        defer { again.stop() }
        #expect(again.log.contains("restored 1 streams, deleted 0 that expired"), "\(again.log)")
    }

    @Test func deletedStreamStaysDeleted() throws {
        let daemon = try TernDaemon.start()
        defer { daemon.stop() }
        let doomed = try daemon.createStream(uniqueName: "doomed", ttl: 600)
        let kept = try daemon.createStream(uniqueName: "kept")
        #expect(try daemon.deleteStream(doomed).status == 204)
        daemon.kill9()

        let restarted = try daemon.restart()
        defer { restarted.stop() }
        let path = "/v1/Services/\(restarted.serviceSid)/Streams"
        #expect(try HTTP.request(port: restarted.controlPort, method: "GET", path: "\(path)/\(doomed)").status == 404)
        #expect(try HTTP.request(port: restarted.controlPort, method: "GET", path: "\(path)/doomed").status == 404)
        #expect(try listStreams(restarted).map(\.sid) == [kept])
        // The unique name is free again.
        let reused = try restarted.createStream(uniqueName: "doomed")
        #expect(reused != doomed)
    }

    /// The auth token is generated on the first start, shown once, and kept.
    @Test func credentialsAreGeneratedOnceAndKept() throws {
        let daemon = try TernDaemon.start()
        #expect(daemon.stop() == 0)
        let firstLog = daemon.log
        let line = try #require(firstLog.split(separator: "\n").first { $0.contains("generated credentials") })
        #expect(line.contains("account \(daemon.accountSid) auth token "))
        let token = try #require(line.split(separator: " ").first { $0.count == 33 && $0.hasSuffix(";") }?.dropLast())
        #expect(token.allSatisfy { $0.isHexDigit && !$0.isUppercase })

        let restarted = try daemon.restart()
        defer { restarted.stop() }
        #expect(restarted.accountSid == daemon.accountSid)
        #expect(restarted.serviceSid == daemon.serviceSid)
        #expect(!restarted.log.contains("generated credentials"))
        #expect(!restarted.log.contains(String(token)), "the token is shown only once")
    }

    /// A state folder from before the SQLite store keeps its sids.
    @Test func identityJSONIsMovedIntoTheStore() throws {
        let state = try TernDaemon.makeTemporaryDirectory()
        let account = "AC" + String(repeating: "0123456789abcdef", count: 2)
        let service = "IS" + String(repeating: "fedcba9876543210", count: 2)
        let json = "{\"accountSid\": \"\(account)\", \"defaultServiceSid\": \"\(service)\"}"
        try Data(json.utf8).write(to: URL(fileURLWithPath: state + "/identity.json"))

        let daemon = try TernDaemon.start(stateDirectory: state)
        #expect(daemon.accountSid == account)
        #expect(daemon.serviceSid == service)
        #expect(!FileManager.default.fileExists(atPath: state + "/identity.json"))
        #expect(daemon.log.contains("generated credentials: account \(account)"))
        #expect(daemon.stop() == 0)

        let restarted = try daemon.restart()
        defer { restarted.stop() }
        #expect(restarted.accountSid == account)
        #expect(restarted.serviceSid == service)
    }

    @Test func corruptDatabaseStopsTheDaemonFromStarting() throws {
        let state = try TernDaemon.makeTemporaryDirectory()
        let database = state + "/tern.sqlite"
        let garbage = Data((0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) })
        try garbage.write(to: URL(fileURLWithPath: database))

        let error = #expect(throws: HarnessError.self) { try TernDaemon.start(stateDirectory: state, timeout: 15) }
        #expect(error?.description.contains(database) == true, "\(String(describing: error))")
        #expect(error?.description.contains("not a SQLite database") == true, "\(String(describing: error))")

        // Run directly for the exit status: non-zero, with the reason on stderr.
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try Binaries.path(of: "ternd"))
        process.arguments = [
            "--data-listen", "127.0.0.1:0", "--control-listen", "127.0.0.1:0", "--state-dir", state, "--threads", "1",
        ]
        process.environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("TERND_") }
        let stderr = Pipe()
        process.standardError = stderr
        process.standardOutput = Pipe()
        try process.run()
        let deadline = Date().addingTimeInterval(15)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        let message = String(decoding: stderr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(process.terminationReason == .exit)
        #expect(process.terminationStatus != 0)
        #expect(message.contains(database), "\(message)")
        // Left untouched for the operator.
        #expect(try Data(contentsOf: URL(fileURLWithPath: database)) == garbage)
    }

    // MARK: Helpers

    /// Every stream of the default service, following `next_page_url` (at most 20 pages).
    private func listStreams(_ daemon: TernDaemon) throws -> [(sid: String, view: StreamView)] {
        let base = "http://127.0.0.1:\(daemon.controlPort)"
        var path: String? = "/v1/Services/\(daemon.serviceSid)/Streams?PageSize=1000"
        var streams: [(sid: String, view: StreamView)] = []
        var pages = 0
        while let next = path, pages < 20 {
            pages += 1
            let response = try HTTP.request(port: daemon.controlPort, method: "GET", path: next)
            try #require(response.status == 200, "\(response.text)")
            for json in try #require(response.object["streams"] as? [[String: Any]]) {
                streams.append((try #require(json["sid"] as? String), StreamView(json)))
            }
            let url = (response.object["meta"] as? [String: Any])?["next_page_url"] as? String
            if let url { try #require(url.hasPrefix(base), "\(url) is not under \(base)") }
            path = url.map { String($0.dropFirst(base.count)) }
        }
        return streams
    }
}
