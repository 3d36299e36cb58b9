import Foundation
import TernWire
import Testing

/// Cluster mode end to end: three real nats-servers (JetStream, clustered) and three real ternd
/// nodes. The registry is one for all nodes, messages cross nodes with the sids their publishers
/// got, deletes and expiries end streams everywhere, and the failures are survived.
@Suite(.serialized)
struct ClusterTests {
    /// A version-3 subscriber of `stream` on `node`; skips PINGs.
    final class Subscriber {
        let client: RawDataClient
        let streamID: UInt32
        let sidPrefix: SidPrefix
        /// Lane id → sid prefix, from LANE frames.
        var lanes: [UInt32: SidPrefix] = [:]

        init(_ node: TernDaemon, stream: String) throws {
            client = try RawDataClient(port: node.dataPort)
            _ = try client.handshake(name: "cluster-test", maxVersion: 3)
            let subscribed = try client.subscribe(stream)
            streamID = subscribed.streamID
            sidPrefix = subscribed.sidPrefix
        }

        /// The next MESSAGE (its sid, computed as protocol.md says) or STREAM_ENDED.
        func next(timeout: Double = 10) throws -> Frame? {
            while true {
                guard let frame = try client.next(timeout: timeout) else { return nil }
                switch frame {
                case .lane(let lane):
                    #expect(lane.streamID == streamID)
                    lanes[lane.laneID] = lane.sidPrefix
                case .ping(let opaque):
                    try client.send(.pong(opaque))
                default:
                    return frame
                }
            }
        }

        func messageSid(_ message: Frame.Message) -> String? {
            if message.streamID == streamID { return sidPrefix.messageSid(sequence: message.sequence) }
            return lanes[message.streamID]?.messageSid(sequence: message.sequence)
        }

        func nextMessageSid(timeout: Double = 10) throws -> String? {
            guard case .message(let message)? = try next(timeout: timeout) else { return nil }
            return messageSid(message)
        }
    }

    func waitUntil(timeout: Double, _ condition: () throws -> Bool) rethrows -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        repeat {
            if try condition() { return true }
            usleep(5_000)
        } while Date() < deadline
        return false
    }

    func fetch(_ node: TernDaemon, _ stream: String) throws -> Int {
        try HTTP.request(
            port: node.controlPort,
            method: "GET",
            path: "/v1/Services/\(node.serviceSid)/Streams/\(stream)"
        )
        .status
    }

    @Test func oneRegistryMessagesAcrossNodesAndLifecycle() throws {
        let cluster = try TernCluster()
        let (one, two, three) = (cluster.nodes[0], cluster.nodes[1], cluster.nodes[2])
        #expect(one.accountSid == two.accountSid && two.accountSid == three.accountSid)
        #expect(one.serviceSid == two.serviceSid && two.serviceSid == three.serviceSid)
        // `tern cluster status` on any node lists all three from their heartbeats.
        var status = ProgramRun.Result(status: -1, stdout: "", stderr: "")
        _ = try waitUntil(timeout: 5) {
            status = try ProgramRun.tern(["cluster", "status", "--control", "http://127.0.0.1:\(three.controlPort)"])
            return status.lines.filter { $0.contains(" alive ") }.count == 3
        }
        #expect(status.status == 0 && status.lines.filter { $0.contains(" alive ") }.count == 3, "\(status.stdout)")
        #expect(status.lines.last?.contains("backbone=connected") == true, "\(status.stdout)")

        // Create on node 1 → visible on 2 and 3; propagation measured.
        var delays: [Double] = []
        for _ in 0..<20 {
            let sid = try one.createStream()
            let created = Date()
            for node in [two, three] {
                #expect(
                    try waitUntil(timeout: 2) { try fetch(node, sid) == 200 },
                    "stream \(sid) not on \(node.controlPort)"
                )
            }
            delays.append(Date().timeIntervalSince(created) * 1000)
        }
        delays.sort()
        let p99 = delays[min(delays.count - 1, Int(Double(delays.count) * 0.99))]
        print("cluster: registry propagation p50 \(delays[delays.count / 2]) ms, p99 \(p99) ms (20 creates)")
        #expect(p99 < 1000)

        // Unique-name races from all three nodes at once: exactly one 201 each time.
        for round in 0..<5 {
            let statuses = Locked<[Int]>([])
            DispatchQueue.concurrentPerform(iterations: 3) { index in
                let node = cluster.nodes[index]
                let status =
                    (try? HTTP.request(
                        port: node.controlPort,
                        method: "POST",
                        path: "/v1/Services/\(node.serviceSid)/Streams",
                        form: [("UniqueName", "race-\(round)")]
                    ).status) ?? 0
                statuses.mutate { $0.append(status) }
            }
            #expect(statuses.get().sorted() == [201, 409, 409], "round \(round)")
        }

        // Subscribers on 2 and 3; publishes on 1 over REST and the data port.
        let stream = try one.createStream(uniqueName: "prices")
        #expect(try waitUntil(timeout: 2) { try fetch(two, stream) == 200 && fetch(three, stream) == 200 })
        let onTwo = try Subscriber(two, stream: "prices")
        let onThree = try Subscriber(three, stream: "prices")
        // A version-2 subscriber on node 2 sees node 2's messages only (protocol.md §4.20).
        let legacy = try RawDataClient(port: two.dataPort)
        #expect(try legacy.handshake(maxVersion: 2).version == 2)
        let legacyStream = try legacy.subscribe("prices")
        // The CLI (the Swift async client, version 3) on node 3.
        let cli = try ProgramRun.startTern(
            ["sub", "prices", "--count", "11", "--timeout", "20", "--data", "127.0.0.1:\(three.dataPort)"]
        )
        #expect(cli.waitForStderr(containing: "subscribed \(stream)", timeout: 10))
        usleep(200_000)  // the nodes' backbone subscriptions reach NATS
        var sent: [String] = []
        for index in 0..<5 {
            let response = try one.publishREST(stream: stream, data: "{\"rest\":\(index)}")
            #expect(response.status == 201)
            sent.append(response.object["sid"] as? String ?? "")
        }
        let publisher = try RawDataClient(port: one.dataPort)
        _ = try publisher.handshake(maxVersion: 3)
        let attached = try publisher.subscribe("prices", requestID: 1, attachOnly: true)
        for index in 0..<5 {
            try publisher.send(
                .publish(
                    .init(
                        requestID: UInt32(10 + index),
                        streamID: attached.streamID,
                        payload: Array("{\"data\":\(index)}".utf8),
                        ack: true
                    )
                )
            )
            guard case .published(let published)? = try publisher.next() else {
                Issue.record("no PUBLISHED")
                return
            }
            sent.append(published.messageSid)
        }
        for subscriber in [onTwo, onThree] {
            var received: [String] = []
            for _ in 0..<sent.count { received.append(try subscriber.nextMessageSid() ?? "?") }
            #expect(received == sent)
        }
        let published = try two.publishREST(stream: stream, data: "{\"on\":2}")
        let legacyFrame = try legacy.next()
        guard case .message(let own)? = legacyFrame else {
            Issue.record("the version-2 subscriber got \(String(describing: legacyFrame)), not a MESSAGE")
            return
        }
        #expect(own.streamID == legacyStream.streamID)
        #expect(legacyStream.sidPrefix.messageSid(sequence: own.sequence) == published.object["sid"] as? String)
        for subscriber in [onTwo, onThree] {
            #expect(try subscriber.nextMessageSid() == published.object["sid"] as? String)
        }
        let printed = cli.wait(timeout: 20)
        #expect(printed.status == 0, "\(printed.stderr)")
        let cliSids = printed.lines.compactMap { line -> String? in
            (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?["sid"] as? String
        }
        #expect(cliSids == sent + [published.object["sid"] as? String ?? ""], "\(printed.stdout)")

        // Delete on 3 → STREAM_ENDED on 1 and 2.
        let onOne = try Subscriber(one, stream: "prices")
        #expect(try three.deleteStream(stream).status == 204)
        for subscriber in [onOne, onTwo] {
            guard case .streamEnded(let id, let reason)? = try subscriber.next(timeout: 5) else {
                Issue.record("no STREAM_ENDED")
                continue
            }
            #expect(id == subscriber.streamID && reason == .deleted)
        }

        // Ttl expiry: ends on every node, written once for the cluster.
        let expiring = try two.createStream(uniqueName: "short", ttl: 1)
        #expect(try waitUntil(timeout: 2) { try fetch(one, expiring) == 200 && fetch(three, expiring) == 200 })
        let watchers = try cluster.nodes.map { try Subscriber($0, stream: "short") }
        for watcher in watchers {
            guard case .streamEnded(_, let reason)? = try watcher.next(timeout: 5) else {
                Issue.record("no STREAM_ENDED on expiry")
                continue
            }
            #expect(reason == .expired)
        }
        let written = try cluster.nodes.map { try $0.metrics().value("tern_cluster_expiries_written_total") ?? -1 }
        #expect(written.reduce(0, +) == 1, "expiries written per node: \(written)")
    }

    /// Creates a stream on `node`, retrying for up to `timeout` seconds; the last status.
    func createEventually(_ node: TernDaemon, timeout: Double) throws -> Int {
        var status = 0
        _ = try waitUntil(timeout: timeout) {
            status = try HTTP.request(
                port: node.controlPort,
                method: "POST",
                path: "/v1/Services/\(node.serviceSid)/Streams",
                form: []
            ).status
            return status == 201
        }
        return status
    }

    @Test func failuresAreSurvived() throws {
        let cluster = try TernCluster()
        let (one, two, three) = (cluster.nodes[0], cluster.nodes[1], cluster.nodes[2])

        // kill -9 of a ternd node: the other two keep serving, messages still cross.
        three.kill9()
        let stream = try one.createStream(uniqueName: "after-node-death")
        #expect(try waitUntil(timeout: 2) { try fetch(two, stream) == 200 })
        let onTwo = try Subscriber(two, stream: "after-node-death")
        usleep(200_000)
        let sid = try one.publishREST(stream: stream, data: "{\"a\":1}").object["sid"] as? String
        #expect(try onTwo.nextMessageSid() == sid)

        // kill -9 of one nats-server: creates still succeed (the nodes reconnect to another).
        cluster.nats.kill9(cluster.nats.servers[0])
        #expect(try createEventually(one, timeout: 15) == 201)
        #expect(try createEventually(two, timeout: 15) == 201)

        // The backbone gone: REST changes answer 503, local publish → local subscriber still works.
        for server in cluster.nats.servers { cluster.nats.kill9(server) }
        #expect(
            try waitUntil(timeout: 10) {
                try HTTP.request(port: one.controlPort, method: "GET", path: "/healthz").object["backbone"] as? String
                    == "disconnected"
            }
        )
        let refused = try HTTP.request(
            port: one.controlPort,
            method: "POST",
            path: "/v1/Services/\(one.serviceSid)/Streams",
            form: []
        )
        #expect(refused.status == 503)
        #expect(refused.object["code"] as? Int == 20503)
        #expect(refused.object["status"] as? Int == 503)
        #expect(try one.metrics().value("tern_cluster_backbone_up") == 0)
        let local = try Subscriber(two, stream: "after-node-death")
        let response = try two.publishREST(stream: stream, data: "{\"local\":true}")
        #expect(response.status == 201)
        #expect(try local.nextMessageSid() == response.object["sid"] as? String)

        // NATS back: everything recovers by itself.
        for server in cluster.nats.servers { try cluster.nats.restart(server) }
        #expect(try createEventually(one, timeout: 30) == 201)
        let later = try one.createStream()
        #expect(try waitUntil(timeout: 5) { try fetch(two, later) == 200 })
        #expect(
            try HTTP.request(port: two.controlPort, method: "GET", path: "/healthz").object["backbone"] as? String
                == "connected"
        )
        #expect(try two.metrics().value("tern_cluster_backbone_up") == 1)
        #expect(try two.metrics().value("tern_cluster_backbone_reconnects_total") ?? 0 >= 1)

        // Every node down when a Ttl runs out: the stream is expired at the next start.
        let expiring = try one.createStream(ttl: 1)
        #expect(try waitUntil(timeout: 2) { try fetch(two, expiring) == 200 })
        one.kill9()
        two.kill9()
        usleep(1_500_000)
        let back = try one.restart()
        defer { back.kill9() }
        #expect(try fetch(back, expiring) == 404)
        #expect(try back.metrics().value("tern_cluster_expiries_written_total") == 1)
    }

    /// API keys and the auth token are the cluster's: a key created on one node works on another,
    /// its delete revokes it everywhere, and a token rotated on one node is the token on all.
    @Test func credentialsApplyOnEveryNode() throws {
        let cluster = try TernCluster(extraArguments: ["--auth", "required"])
        let (one, two, three) = (cluster.nodes[0], cluster.nodes[1], cluster.nodes[2])
        let token = try one.generatedAuthToken()
        #expect(try two.request("GET", "/v1/Services", token: token).status == 200)

        let keysPath = "/2010-04-01/Accounts/\(one.accountSid)/Keys"
        let created = try one.request("POST", keysPath + ".json", form: [("FriendlyName", "ci")], token: token)
        #expect(created.status == 201, "\(created.text)")
        let keySid = try #require(created.object["sid"] as? String)
        let secret = try #require(created.object["secret"] as? String)
        #expect(
            try waitUntil(timeout: 2) {
                try three.request("GET", "/v1/Services", account: keySid, token: secret).status == 200
            }
        )
        #expect(try two.request("DELETE", keysPath + "/\(keySid).json", token: token).status == 204)
        #expect(
            try waitUntil(timeout: 2) {
                try three.request("GET", "/v1/Services", account: keySid, token: secret).status == 401
            }
        )

        let rotated = try three.request("POST", "/v1/Tern/AuthToken", token: token)
        #expect(rotated.status == 200, "\(rotated.text)")
        let new = try #require(rotated.object["auth_token"] as? String)
        for node in [one, two] {
            #expect(try waitUntil(timeout: 2) { try node.request("GET", "/v1/Services", token: new).status == 200 })
            expectTwilioError(try node.request("GET", "/v1/Services", token: token), status: 401, code: 20003)
        }
    }
}
