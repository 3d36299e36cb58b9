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

        let created = try ProgramRun.tern(["streams", "create", "--unique-name", "cli-orders", "--ttl", "600"] + options)
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
        let serviceSids = (services.jsonObject["services"] as? [[String: Any]] ?? []).compactMap { $0["sid"] as? String }
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
        let viaREST = try ProgramRun.tern(["pub", streamSid, #"{"px":2,"note":"rest"}"#, "--via", "rest", "--count", "2"] + data)
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
        let subscriber = try ProgramRun.startTern(["sub", streamSid, "--timeout", "20", "--data", "127.0.0.1:\(daemon.dataPort)"])
        #expect(subscriber.waitForStderr(containing: "subscribed", timeout: 10))
        #expect(try daemon.deleteStream(streamSid).status == 204)
        let finished = subscriber.wait(timeout: 30)
        #expect(finished.status == 0)
        #expect(finished.stderr.contains("ended \(streamSid)"))
        #expect(finished.stdout.isEmpty)
    }

    @Test func benchFanoutReportsThroughputAndLatency() throws {
        let daemon = try TernDaemon.start()
        defer { daemon.stop() }
        let options = ["--data", "127.0.0.1:\(daemon.dataPort)", "--control", daemon.controlBase]
        let result = try ProgramRun.tern(
            ["bench", "fanout", "--subscribers", "3", "--payload", "100", "--duration", "1", "--json"] + options,
            timeout: 60)
        try #require(result.status == 0, "\(result.stderr)")
        let report = result.jsonObject
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
        let list = try HTTP.request(port: daemon.controlPort, method: "GET", path: "/v1/Services/\(daemon.serviceSid)/Streams")
        #expect((list.object["streams"] as? [Any])?.isEmpty == true)
    }

    @Test func pacedBenchPublishesAtTheRequestedRate() throws {
        let daemon = try TernDaemon.start()
        defer { daemon.stop() }
        let options = ["--data", "127.0.0.1:\(daemon.dataPort)", "--control", daemon.controlBase]
        let result = try ProgramRun.tern(
            ["bench", "fanout", "--subscribers", "2", "--payload", "29", "--duration", "1", "--rate", "2000",
             "--stream", "paced"] + options,
            timeout: 60)
        try #require(result.status == 0, "\(result.stderr)")
        for field in ["published", "delivered", "delivery ratio", "dropped", "latency µs", "p50", "p99.9"] {
            #expect(result.stdout.contains(field), "text report names \(field)")
        }
        let publishedLine = result.lines.first { $0.hasPrefix("published") } ?? ""
        let count = Int(publishedLine.split(separator: " ")[1].filter(\.isNumber)) ?? 0
        #expect((1700...2300).contains(count), "paced at 2000/s for 1 s, published \(count)")
        // --stream with a name creates the stream and keeps it.
        #expect(try HTTP.request(port: daemon.controlPort, method: "GET", path: "/v1/Services/\(daemon.serviceSid)/Streams/paced").status == 200)
    }
}
