import Foundation
import TernWire
import Testing

/// The Sync Service resource of a real `ternd`: create, fetch, update, delete, paging, and the
/// JSON field for field as Twilio's.
@Suite(.serialized)
struct ControlServiceTests {
    /// Every key of Twilio's Sync Service resource, and no other.
    static let serviceKeys: Set<String> = [
        "account_sid", "acl_enabled", "date_created", "date_updated", "friendly_name", "links",
        "reachability_debouncing_enabled", "reachability_debouncing_window", "reachability_webhooks_enabled", "sid",
        "unique_name", "url", "webhook_url", "webhooks_from_rest_enabled",
    ]

    func createService(_ daemon: TernDaemon, _ form: [(String, String)] = []) throws -> [String: Any] {
        let response = try daemon.request("POST", "/v1/Services", form: form)
        try #require(response.status == 201, "create service: \(response.status) \(response.text)")
        return response.object
    }

    @Test func createdServiceHasTwilioShapeAndDefaults() throws {
        let daemon = try TernDaemon.start()
        defer { daemon.stop() }
        // Twilio's other parameters are accepted and ignored: Tern has no ACLs or webhooks.
        let created = try createService(
            daemon,
            [("FriendlyName", "orders ä"), ("AclEnabled", "true"), ("WebhookUrl", "https://example.com/hook")]
        )
        #expect(Set(created.keys) == Self.serviceKeys)
        let sid = try #require(created["sid"] as? String)
        #expect(sid.hasPrefix("IS") && sid.utf8.count == 34 && sid != daemon.serviceSid)
        #expect(created["friendly_name"] as? String == "orders ä")
        #expect(created["account_sid"] as? String == daemon.accountSid)
        #expect(created["unique_name"] is NSNull)
        #expect(created["webhook_url"] is NSNull)
        #expect(created["acl_enabled"] as? Bool == false)
        #expect(created["webhooks_from_rest_enabled"] as? Bool == false)
        #expect(created["reachability_webhooks_enabled"] as? Bool == false)
        #expect(created["reachability_debouncing_enabled"] as? Bool == false)
        #expect(created["reachability_debouncing_window"] as? Int == 5000)
        let url = "\(daemon.controlBase)/v1/Services/\(sid)"
        #expect(created["url"] as? String == url)
        let links = try #require(created["links"] as? [String: String])
        #expect(
            links == [
                "documents": url + "/Documents", "lists": url + "/Lists", "maps": url + "/Maps",
                "streams": url + "/Streams",
            ]
        )
        let dateCreated = try #require(ControlAPITests.date(created["date_created"]))
        #expect(abs(dateCreated.timeIntervalSinceNow) < 60)
        #expect(ControlAPITests.date(created["date_updated"]) == dateCreated)

        let fetched = try daemon.request("GET", "/v1/Services/\(sid)")
        #expect(fetched.status == 200)
        #expect(fetched.object["sid"] as? String == sid)
        #expect(fetched.object["friendly_name"] as? String == "orders ä")
        #expect(Set(fetched.object.keys) == Self.serviceKeys)
        // The default service has the same shape.
        #expect(Set(try daemon.request("GET", "/v1/Services/\(daemon.serviceSid)").object.keys) == Self.serviceKeys)

        let anonymous = try createService(daemon)
        #expect(anonymous["friendly_name"] is NSNull)
    }

    @Test func updateRenamesAndIgnoresOtherParameters() throws {
        let daemon = try TernDaemon.start()
        defer { daemon.stop() }
        let sid = try #require(try createService(daemon, [("FriendlyName", "before")])["sid"] as? String)
        let renamed = try daemon.request("POST", "/v1/Services/\(sid)", form: [("FriendlyName", "after")])
        #expect(renamed.status == 200)
        #expect(renamed.object["friendly_name"] as? String == "after")
        #expect(try daemon.request("GET", "/v1/Services/\(sid)").object["friendly_name"] as? String == "after")
        // Without FriendlyName nothing changes, and it is not an error.
        let unchanged = try daemon.request("POST", "/v1/Services/\(sid)", form: [("AclEnabled", "true")])
        #expect(unchanged.status == 200)
        #expect(unchanged.object["friendly_name"] as? String == "after")
        #expect(unchanged.object["acl_enabled"] as? Bool == false)
        // An empty name clears it.
        let cleared = try daemon.request("POST", "/v1/Services/\(sid)", form: [("FriendlyName", "")])
        #expect(cleared.object["friendly_name"] is NSNull)

        let unknown = "IS" + String(repeating: "0", count: 32)
        expectTwilioError(
            try daemon.request("POST", "/v1/Services/\(unknown)", form: [("FriendlyName", "x")]),
            status: 404,
            code: 20404
        )
    }

    @Test func friendlyNameErrors() throws {
        let daemon = try TernDaemon.start()
        defer { daemon.stop() }
        expectTwilioError(
            try daemon.request("POST", "/v1/Services", form: [("FriendlyName", String(repeating: "n", count: 256))]),
            status: 400,
            code: 20002
        )
        let notUTF8 = try HTTP.request(
            port: daemon.controlPort,
            method: "POST",
            path: "/v1/Services",
            headers: ["Content-Type": "application/x-www-form-urlencoded"],
            rawBody: Array("FriendlyName=%FF".utf8)
        )
        expectTwilioError(notUTF8, status: 400, code: 20002)
        let sid = try #require(
            try createService(daemon, [("FriendlyName", String(repeating: "é", count: 255))])["sid"] as? String
        )
        expectTwilioError(
            try daemon.request(
                "POST",
                "/v1/Services/\(sid)",
                form: [("FriendlyName", String(repeating: "n", count: 256))]
            ),
            status: 400,
            code: 20002
        )
        // Refused requests created nothing.
        let listed = try daemon.request("GET", "/v1/Services").object["services"] as? [[String: Any]]
        #expect(listed?.count == 2)
    }

    /// Unique names are per service; deleting a service ends its streams (subscribers get
    /// STREAM_ENDED DELETED) and frees nothing in other services.
    @Test func deleteEndsTheServiceStreamsOnly() throws {
        let daemon = try TernDaemon.start()
        defer { daemon.stop() }
        let sid = try #require(try createService(daemon, [("FriendlyName", "doomed")])["sid"] as? String)
        let inService = try daemon.request("POST", "/v1/Services/\(sid)/Streams", form: [("UniqueName", "room")])
        try #require(inService.status == 201)
        let doomedStream = try #require(inService.object["sid"] as? String)
        #expect(inService.object["service_sid"] as? String == sid)
        // The same unique name in the default service is a different stream.
        let survivor = try daemon.createStream(uniqueName: "room")
        #expect(survivor != doomedStream)

        let subscriber = try RawDataClient(port: daemon.dataPort)
        try subscriber.handshake()
        let subscribed = try subscriber.subscribe("\(sid)/room")
        #expect(subscribed.streamSid == doomedStream)

        let deleted = try daemon.request("DELETE", "/v1/Services/\(sid)")
        #expect(deleted.status == 204)
        #expect(deleted.body.isEmpty)
        var ended: StreamEndReason?
        for _ in 0..<10 {
            guard let frame = try subscriber.next(timeout: 5) else { break }
            if case .streamEnded(let streamID, let reason) = frame, streamID == subscribed.streamID {
                ended = reason
                break
            }
        }
        #expect(ended == .deleted)

        expectTwilioError(try daemon.request("GET", "/v1/Services/\(sid)"), status: 404, code: 20404)
        expectTwilioError(try daemon.request("GET", "/v1/Services/\(sid)/Streams/room"), status: 404, code: 20404)
        expectTwilioError(try daemon.request("DELETE", "/v1/Services/\(sid)"), status: 404, code: 20404)
        expectTwilioError(
            try daemon.request("POST", "/v1/Services/\(sid)/Streams", form: [("UniqueName", "again")]),
            status: 404,
            code: 20404
        )
        #expect(
            try daemon.request("GET", "/v1/Services/\(daemon.serviceSid)/Streams/room").object["sid"] as? String
                == survivor
        )
    }

    @Test func defaultServiceCannotBeDeleted() throws {
        let daemon = try TernDaemon.start()
        defer { daemon.stop() }
        let stream = try daemon.createStream(uniqueName: "kept")
        expectTwilioError(try daemon.request("DELETE", "/v1/Services/\(daemon.serviceSid)"), status: 403, code: 20403)
        #expect(try daemon.request("GET", "/v1/Services/\(daemon.serviceSid)").status == 200)
        #expect(
            try daemon.request("GET", "/v1/Services/\(daemon.serviceSid)/Streams/kept").object["sid"] as? String
                == stream
        )
    }

    /// Paging follows creation order with cursors: deleting between pages neither repeats nor
    /// skips a service that lives throughout.
    @Test func listPagesThroughServicesInCreationOrder() throws {
        let daemon = try TernDaemon.start()
        defer { daemon.stop() }
        var sids = [daemon.serviceSid]
        for index in 0..<5 {
            sids.append(try #require(try createService(daemon, [("FriendlyName", "s\(index)")])["sid"] as? String))
        }
        let first = try daemon.request("GET", "/v1/Services?PageSize=2")
        #expect(first.status == 200)
        var seen = try #require(first.object["services"] as? [[String: Any]]).compactMap { $0["sid"] as? String }
        #expect(seen == Array(sids[0..<2]))
        // Delete one already seen and one not yet seen, add one at the end.
        #expect(try daemon.request("DELETE", "/v1/Services/\(sids[1])").status == 204)
        #expect(try daemon.request("DELETE", "/v1/Services/\(sids[4])").status == 204)
        let added = try #require(try createService(daemon)["sid"] as? String)

        var next = (first.object["meta"] as? [String: Any])?["next_page_url"] as? String
        var pages = 1
        while let url = next, pages < 10 {
            pages += 1
            try #require(url.hasPrefix(daemon.controlBase))
            let response = try daemon.request("GET", String(url.dropFirst(daemon.controlBase.count)))
            #expect(response.status == 200)
            seen += try #require(response.object["services"] as? [[String: Any]]).compactMap { $0["sid"] as? String }
            let meta = try #require(response.object["meta"] as? [String: Any])
            #expect(meta["key"] as? String == "services")
            next = meta["next_page_url"] as? String
        }
        #expect(seen == [sids[0], sids[1], sids[2], sids[3], sids[5], added])
        #expect(pages == 3)
    }

    @Test func servicesSurviveARestart() throws {
        let daemon = try TernDaemon.start()
        let sid = try #require(try createService(daemon, [("FriendlyName", "durable")])["sid"] as? String)
        let stream = try #require(
            try daemon.request("POST", "/v1/Services/\(sid)/Streams", form: [("UniqueName", "kept")]).object["sid"]
                as? String
        )
        #expect(daemon.stop() == 0)
        let restarted = try daemon.restart()
        defer { restarted.stop() }
        let fetched = try restarted.request("GET", "/v1/Services/\(sid)")
        #expect(fetched.status == 200)
        #expect(fetched.object["friendly_name"] as? String == "durable")
        #expect(try restarted.request("GET", "/v1/Services/\(sid)/Streams/kept").object["sid"] as? String == stream)
    }
}
