import Foundation
import Glibc
import Testing

/// The `tern` binary, run as a user would, against a real `ternd`.
@Suite(.serialized)
struct CLITests {
    @Test func streamsCreateGetListDelete() throws {
        let daemon = try TernDaemon.start()
        defer { daemon.stop() }
        let options = ["--control", daemon.controlBase, "--service", daemon.serviceSid]

        let created = try ProgramRun.tern(
            ["streams", "create", "--unique-name", "cli-orders", "--ttl", "600"] + options
        )
        try #require(created.status == 0, "\(created.stderr)")
        let sid = try #require(created.jsonObject["sid"] as? String)
        #expect(sid.hasPrefix("TO") && sid.count == 34)
        #expect(created.jsonObject["unique_name"] as? String == "cli-orders")
        #expect(created.jsonObject["date_expires"] is String)

        // Without --service the CLI discovers the default service.
        let fetched = try ProgramRun.tern(["streams", "get", "cli-orders", "--control", daemon.controlBase])
        #expect(fetched.status == 0)
        #expect(fetched.jsonObject["sid"] as? String == sid)

        let listed = try ProgramRun.tern(["streams", "list", "--page-size", "10"] + options)
        #expect(listed.status == 0)
        let streams = listed.jsonObject["streams"] as? [[String: Any]] ?? []
        #expect(streams.compactMap { $0["sid"] as? String } == [sid])
        #expect((listed.jsonObject["meta"] as? [String: Any])?["page_size"] as? Int == 10)

        let services = try ProgramRun.tern(["services", "list", "--control", daemon.controlBase])
        #expect(services.status == 0)
        let serviceSids = (services.jsonObject["services"] as? [[String: Any]] ?? []).compactMap {
            $0["sid"] as? String
        }
        #expect(serviceSids.contains(daemon.serviceSid))

        let deleted = try ProgramRun.tern(["streams", "delete", sid] + options)
        #expect(deleted.status == 0)
        #expect(deleted.stdout.isEmpty)
        let missing = try ProgramRun.tern(["streams", "get", sid] + options)
        #expect(missing.status != 0)
        #expect(missing.stderr.contains("404"))
    }

    @Test func publishedMessagesComeOutOfSubAsJSONLines() throws {
        let daemon = try TernDaemon.start()
        defer { daemon.stop() }
        let streamSid = try daemon.createStream(uniqueName: "cli-prices")
        // The subscriber uses the Unix socket, the publishers TCP and REST.
        let subscriber = try ProgramRun.startTern(
            ["sub", "cli-prices", "--count", "5", "--timeout", "20", "--data", daemon.unixSocketPath])
        #expect(subscriber.waitForStderr(containing: "subscribed \(streamSid)", timeout: 10))

        let data = ["--data", "127.0.0.1:\(daemon.dataPort)", "--control", daemon.controlBase]
        let viaData = try ProgramRun.tern(["pub", "cli-prices", #"{"px":1}"#, "--count", "3"] + data)
        #expect(viaData.status == 0, "\(viaData.stderr)")
        let viaREST = try ProgramRun.tern(
            ["pub", streamSid, #"{"px":2,"note":"rest"}"#, "--via", "rest", "--count", "2"] + data
        )
        #expect(viaREST.status == 0, "\(viaREST.stderr)")
        let publishedSids = viaData.lines + viaREST.lines
        #expect(publishedSids.count == 5)
        #expect(publishedSids.allSatisfy { $0.hasPrefix("TZ") && $0.count == 34 })

        let finished = subscriber.wait(timeout: 30)
        #expect(finished.status == 0, "\(finished.stderr)")
        let lines = finished.lines
        try #require(lines.count == 5, "sub printed: \(finished.stdout)")
        let messages = lines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(messages.count == 5, "every line is a JSON object")
        #expect(messages.allSatisfy { $0["stream"] as? String == streamSid })
        #expect(messages.compactMap { $0["sid"] as? String } == publishedSids)
        let sequences = messages.compactMap { $0["seq"] as? Int }
        #expect(sequences == Array(sequences[0]..<sequences[0] + 5))
        let data0 = messages[0]["data"] as? [String: Any]
        #expect(data0?["px"] as? Int == 1)
        let data4 = messages[4]["data"] as? [String: Any]
        #expect(data4?["px"] as? Int == 2 && data4?["note"] as? String == "rest")
    }

    @Test func subExitsWhenItsStreamIsDeleted() throws {
        let daemon = try TernDaemon.start()
        defer { daemon.stop() }
        let streamSid = try daemon.createStream()
        let subscriber = try ProgramRun.startTern([
            "sub", streamSid, "--timeout", "20", "--data", "127.0.0.1:\(daemon.dataPort)",
        ])
        #expect(subscriber.waitForStderr(containing: "subscribed", timeout: 10))
        #expect(try daemon.deleteStream(streamSid).status == 204)
        let finished = subscriber.wait(timeout: 30)
        #expect(finished.status == 0)
        #expect(finished.stderr.contains("ended \(streamSid)"))
        #expect(finished.stdout.isEmpty)
    }

    /// `tern sub` reconnects by itself after kill -9 and restart, resumes, and says on stderr
    /// that the daemon restarted and how many of the new run's messages it could not replay.
    @Test func subResumesAcrossARestart() throws {
        let daemon = try TernDaemon.start()
        let streamSid = try daemon.createStream(uniqueName: "cli-resume")
        var restarted: TernDaemon?
        defer { (restarted ?? daemon).stop() }
        let subscriber = try ProgramRun.startTern(
            ["sub", "cli-resume", "--count", "2", "--timeout", "30", "--data", daemon.unixSocketPath])
        #expect(subscriber.waitForStderr(containing: "subscribed \(streamSid)", timeout: 10))
        _ = try daemon.publishREST(stream: streamSid, data: #"{"run":1}"#)
        daemon.kill9()
        let again = try daemon.restart()
        restarted = again
        #expect(subscriber.waitForStderr(containing: "resumed \(streamSid)", timeout: 15))
        _ = try again.publishREST(stream: streamSid, data: #"{"run":2}"#)
        let finished = subscriber.wait(timeout: 30)
        #expect(finished.status == 0, "\(finished.stderr)")
        #expect(finished.stderr.contains("restarted=yes missed=unknown"), "\(finished.stderr)")
        #expect(finished.lines.count == 2 && finished.lines[1].contains(#""run":2"#), "\(finished.stdout)")
    }
}
