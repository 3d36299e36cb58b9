import Foundation
import Testing

/// `tern streams update` and `tern services …` against a real `ternd`.
@Suite(.serialized)
struct ControlCLITests {
    @Test func streamsUpdateChangesTheTtl() throws {
        let daemon = try TernDaemon.start()
        defer { daemon.stop() }
        let options = ["--control", daemon.controlBase, "--service", daemon.serviceSid]
        let sid = try daemon.createStream(uniqueName: "cli ttl/1")

        let extended = try ProgramRun.tern(["streams", "update", "cli ttl/1", "--ttl", "600"] + options)
        #expect(extended.status == 0, "\(extended.stderr)")
        #expect(extended.jsonObject["sid"] as? String == sid)
        let expires = try #require(ControlAPITests.date(extended.jsonObject["date_expires"]))
        #expect(abs(expires.timeIntervalSinceNow - 600) < 5)

        let cleared = try ProgramRun.tern(["streams", "update", sid, "--ttl", "0"] + options)
        #expect(cleared.status == 0, "\(cleared.stderr)")
        #expect(cleared.jsonObject["date_expires"] is NSNull)

        let invalid = try ProgramRun.tern(["streams", "update", sid, "--ttl=-1"] + options)
        #expect(invalid.status != 0)
        #expect(invalid.stderr.contains("54011"), "\(invalid.stderr)")
        let missing = try ProgramRun.tern(["streams", "update", "nothing-here", "--ttl", "5"] + options)
        #expect(missing.status != 0)
        #expect(missing.stderr.contains("404"), "\(missing.stderr)")
        // --ttl is required.
        #expect(try ProgramRun.tern(["streams", "update", sid] + options).status != 0)
    }

    @Test func servicesCreateGetUpdateListDelete() throws {
        let daemon = try TernDaemon.start()
        defer { daemon.stop() }
        let control = ["--control", daemon.controlBase]

        let created = try ProgramRun.tern(["services", "create", "--friendly-name", "from cli"] + control)
        #expect(created.status == 0, "\(created.stderr)")
        let sid = try #require(created.jsonObject["sid"] as? String)
        #expect(sid.hasPrefix("IS") && sid != daemon.serviceSid)
        #expect(created.jsonObject["friendly_name"] as? String == "from cli")

        let fetched = try ProgramRun.tern(["services", "get", sid] + control)
        #expect(fetched.status == 0)
        #expect(fetched.jsonObject["sid"] as? String == sid)

        let renamed = try ProgramRun.tern(["services", "update", sid, "--friendly-name", "renamed"] + control)
        #expect(renamed.status == 0, "\(renamed.stderr)")
        #expect(renamed.jsonObject["friendly_name"] as? String == "renamed")

        let listed = try ProgramRun.tern(["services", "list"] + control)
        let sids = (listed.jsonObject["services"] as? [[String: Any]] ?? []).compactMap { $0["sid"] as? String }
        #expect(sids == [daemon.serviceSid, sid])

        // Streams of the new service, addressed with --service.
        let stream = try ProgramRun.tern(["streams", "create", "--unique-name", "in-new", "--service", sid] + control)
        #expect(stream.jsonObject["service_sid"] as? String == sid, "\(stream.stderr)")

        let deleted = try ProgramRun.tern(["services", "delete", sid] + control)
        #expect(deleted.status == 0, "\(deleted.stderr)")
        #expect(deleted.stdout.isEmpty)
        let gone = try ProgramRun.tern(["services", "get", sid] + control)
        #expect(gone.status != 0)
        #expect(gone.stderr.contains("20404"), "\(gone.stderr)")
        let defaultKept = try ProgramRun.tern(["services", "delete", daemon.serviceSid] + control)
        #expect(defaultKept.status != 0)
        #expect(defaultKept.stderr.contains("20403"), "\(defaultKept.stderr)")

        let anonymous = try ProgramRun.tern(["services", "create"] + control)
        #expect(anonymous.status == 0)
        #expect(anonymous.jsonObject["friendly_name"] is NSNull)
    }
}
