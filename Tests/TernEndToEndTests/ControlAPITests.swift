import Foundation
import Testing

/// The Twilio Sync Streams REST API of a real `ternd`, over real HTTP: every endpoint, the
/// paging contract, and every error code in `TernControl/ControlError.swift`'s table.
@Suite(.serialized)
struct ControlAPITests {
    // MARK: Helpers

    /// A daemon and shorthands for requests against its default service.
    final class Fixture {
        let daemon: TernDaemon
        var service: String { daemon.serviceSid }
        var streams: String { "/v1/Services/\(daemon.serviceSid)/Streams" }
        var base: String { "http://127.0.0.1:\(daemon.controlPort)" }

        init(_ extraArguments: [String] = []) throws {
            daemon = try TernDaemon.start(extraArguments: extraArguments)
        }

        deinit { daemon.stop() }

        func request(
            _ method: String,
            _ path: String,
            form: [(String, String)]? = nil,
            rawBody: [UInt8]? = nil,
            headers: [String: String] = [:]
        ) throws -> HTTP.Response {
            var headers = headers
            if rawBody != nil { headers["Content-Type"] = "application/x-www-form-urlencoded" }
            return try HTTP.request(
                port: daemon.controlPort,
                method: method,
                path: path,
                form: form,
                headers: headers,
                rawBody: rawBody
            )
        }

        func create(_ form: [(String, String)] = []) throws -> [String: Any] {
            let response = try request("POST", streams, form: form)
            try #require(response.status == 201, "create: \(response.status) \(response.text)")
            return response.object
        }

        /// A path from an absolute URL this server produced (which must point at this server).
        func path(of url: String) throws -> String {
            try #require(url.hasPrefix(base), "\(url) is not under \(base)")
            return String(url.dropFirst(base.count))
        }
    }

    /// Asserts a Twilio error body: exactly code, message, more_info and status.
    func expectError(
        _ response: HTTP.Response,
        status: Int,
        code: Int,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        expectTwilioError(response, status: status, code: code, sourceLocation: sourceLocation)
    }

    static func date(_ value: Any?) -> Date? {
        guard let text = value as? String else { return nil }
        return ISO8601DateFormatter().date(from: text)
    }

    // MARK: Health and services

    @Test func healthz() throws {
        let fixture = try Fixture()
        let response = try fixture.request("GET", "/healthz")
        #expect(response.status == 200)
        #expect(response.text == #"{"status":"ok"}"#)
    }

    @Test func servicesListAndFetch() throws {
        let fixture = try Fixture()
        let list = try fixture.request("GET", "/v1/Services")
        #expect(list.status == 200)
        let services = try #require(list.object["services"] as? [[String: Any]])
        #expect(services.count == 1)
        #expect(services.first?["sid"] as? String == fixture.service)
        let meta = try #require(list.object["meta"] as? [String: Any])
        #expect(meta["key"] as? String == "services")
        #expect(meta["page_size"] as? Int == 50)
        #expect(meta["next_page_url"] is NSNull)
        #expect(meta["first_page_url"] as? String == "\(fixture.base)/v1/Services?PageSize=50&Page=0")

        let fetched = try fixture.request("GET", "/v1/Services/\(fixture.service)")
        #expect(fetched.status == 200)
        let service = fetched.object
        #expect(service["sid"] as? String == fixture.service)
        #expect(service["account_sid"] as? String == fixture.daemon.accountSid)
        #expect(service["friendly_name"] as? String == "default")
        #expect(service["url"] as? String == "\(fixture.base)/v1/Services/\(fixture.service)")
        let links = service["links"] as? [String: Any]
        #expect(links?["streams"] as? String == "\(fixture.base)\(fixture.streams)")
        #expect(Set((links ?? [:]).keys) == ["documents", "lists", "maps", "streams"])
        #expect(Self.date(service["date_created"]) != nil)
        #expect(Self.date(service["date_updated"]) != nil)
        #expect(service["acl_enabled"] as? Bool == false)

        let unknown = "IS" + String(repeating: "0", count: 32)
        expectError(try fixture.request("GET", "/v1/Services/\(unknown)"), status: 404, code: 20404)
        expectError(try fixture.request("GET", "/v1/Services/\(unknown)/Streams"), status: 404, code: 20404)
        expectError(
            try fixture.request("POST", "/v1/Services/\(unknown)/Streams", form: [("UniqueName", "x")]),
            status: 404,
            code: 20404
        )
        expectError(
            try fixture.request("POST", "/v1/Services/\(unknown)/Streams/x/Messages", form: [("Data", "{}")]),
            status: 404,
            code: 20404
        )
    }

    // MARK: Streams

    @Test func streamLifecycle() throws {
        let fixture = try Fixture()
        let created = try fixture.create([("UniqueName", "room-1"), ("Ttl", "3600"), ("Unknown", "ignored")])
        let sid = try #require(created["sid"] as? String)
        #expect(sid.hasPrefix("TO") && sid.utf8.count == 34)
        let url = "\(fixture.base)\(fixture.streams)/\(sid)"
        #expect(created["unique_name"] as? String == "room-1")
        #expect(created["service_sid"] as? String == fixture.service)
        #expect(created["account_sid"] as? String == fixture.daemon.accountSid)
        #expect(created["created_by"] as? String == "system")
        #expect(created["url"] as? String == url)
        #expect((created["links"] as? [String: Any])?["messages"] as? String == url + "/Messages")
        let dateCreated = try #require(Self.date(created["date_created"]))
        let dateExpires = try #require(Self.date(created["date_expires"]))
        #expect(abs(dateExpires.timeIntervalSince(dateCreated) - 3600) <= 1)
        #expect(Self.date(created["date_updated"]) == dateCreated)
        #expect(
            Set(created.keys) == [
                "account_sid", "created_by", "date_created", "date_expires", "date_updated", "links", "service_sid",
                "sid", "unique_name", "url",
            ]
        )

        for key in [sid, "room-1"] {
            let fetched = try fixture.request("GET", "\(fixture.streams)/\(key)")
            #expect(fetched.status == 200)
            #expect(fetched.object["sid"] as? String == sid)
            #expect(fetched.object["unique_name"] as? String == "room-1")
        }

        let updated = try fixture.request("POST", "\(fixture.streams)/room-1", form: [("Ttl", "60")])
        #expect(updated.status == 200)
        let newExpiry = try #require(Self.date(updated.object["date_expires"]))
        #expect(newExpiry < dateExpires)
        #expect(updated.object["sid"] as? String == sid)

        let cleared = try fixture.request("POST", "\(fixture.streams)/\(sid)", form: [("Ttl", "")])
        #expect(cleared.status == 200)
        #expect(cleared.object["date_expires"] is NSNull)
        let zero = try fixture.request("POST", "\(fixture.streams)/\(sid)", form: [("Ttl", "0")])
        #expect(zero.status == 200)
        #expect(zero.object["date_expires"] is NSNull)

        let deleted = try fixture.request("DELETE", "\(fixture.streams)/room-1")
        #expect(deleted.status == 204)
        #expect(deleted.body.isEmpty)
        expectError(try fixture.request("GET", "\(fixture.streams)/\(sid)"), status: 404, code: 20404)
        expectError(try fixture.request("GET", "\(fixture.streams)/room-1"), status: 404, code: 20404)
        expectError(try fixture.request("DELETE", "\(fixture.streams)/\(sid)"), status: 404, code: 20404)
        expectError(
            try fixture.request("POST", "\(fixture.streams)/\(sid)", form: [("Ttl", "5")]),
            status: 404,
            code: 20404
        )

        // The unique name is free again once its stream is gone.
        #expect(try fixture.create([("UniqueName", "room-1")])["sid"] as? String != sid)
    }

    @Test func anonymousStreamHasNullUniqueNameAndNoExpiry() throws {
        let fixture = try Fixture()
        let created = try fixture.create()
        #expect(created["unique_name"] is NSNull)
        #expect(created["date_expires"] is NSNull)
        let sid = try #require(created["sid"] as? String)
        #expect(try fixture.request("GET", "\(fixture.streams)/\(sid)").status == 200)
    }

    @Test func createAndUpdateErrors() throws {
        let fixture = try Fixture()
        _ = try fixture.create([("UniqueName", "taken")])
        expectError(
            try fixture.request("POST", fixture.streams, form: [("UniqueName", "taken")]),
            status: 409,
            code: 54301
        )
        for name in ["", String(repeating: "n", count: 321), "TO" + String(repeating: "a", count: 32)] {
            expectError(
                try fixture.request("POST", fixture.streams, form: [("UniqueName", name)]),
                status: 400,
                code: 54302
            )
        }
        // Not UTF-8 after percent-decoding.
        expectError(
            try fixture.request("POST", fixture.streams, rawBody: Array("UniqueName=%FF%FE".utf8)),
            status: 400,
            code: 54302
        )
        #expect(try fixture.create([("UniqueName", String(repeating: "n", count: 320))])["unique_name"] != nil)
        for ttl in ["abc", "-1", "31536001", "1.5", "99999999999999999999"] {
            expectError(try fixture.request("POST", fixture.streams, form: [("Ttl", ttl)]), status: 400, code: 54011)
        }
        #expect(try fixture.request("POST", fixture.streams, form: [("Ttl", "31536000")]).status == 201)
        // A body beyond the read limit (64 KiB by default) is refused before it is parsed.
        let huge = Array("UniqueName=".utf8) + [UInt8](repeating: UInt8(ascii: "a"), count: 100_000)
        expectError(try fixture.request("POST", fixture.streams, rawBody: huge), status: 413, code: 20413)

        expectError(try fixture.request("POST", "\(fixture.streams)/taken", form: []), status: 400, code: 54010)
        expectError(
            try fixture.request("POST", "\(fixture.streams)/taken", form: [("Other", "1")]),
            status: 400,
            code: 54010
        )
        expectError(
            try fixture.request("POST", "\(fixture.streams)/taken", form: [("Ttl", "soon")]),
            status: 400,
            code: 54011
        )
        expectError(
            try fixture.request("POST", "\(fixture.streams)/taken", form: [("Ttl", "-5")]),
            status: 400,
            code: 54011
        )
        expectError(try fixture.request("GET", "\(fixture.streams)/missing"), status: 404, code: 20404)
        expectError(
            try fixture.request("GET", "\(fixture.streams)/TO\(String(repeating: "f", count: 32))"),
            status: 404,
            code: 20404
        )
    }

    /// Percent-encoding in bodies and paths, and `+` as a space in form bodies only.
    @Test func formAndPathDecoding() throws {
        let fixture = try Fixture()
        let created = try fixture.request(
            "POST",
            fixture.streams,
            rawBody: Array("UniqueName=room+1%2F%C3%A4%2B&Ttl=%31%30".utf8)
        )
        #expect(created.status == 201)
        #expect(created.object["unique_name"] as? String == "room 1/ä+")
        #expect(created.object["date_expires"] is String)
        let fetched = try fixture.request("GET", "\(fixture.streams)/room%201%2F%C3%A4+")
        #expect(fetched.status == 200)
        #expect(fetched.object["unique_name"] as? String == "room 1/ä+")
        // A stray '%' stays literal rather than failing the request.
        let literal = try fixture.request("POST", fixture.streams, rawBody: Array("UniqueName=100%25%zz".utf8))
        #expect(literal.object["unique_name"] as? String == "100%%zz")
        // A trailing slash names the same resource.
        #expect(try fixture.request("GET", "\(fixture.streams)/room%201%2F%C3%A4+/").status == 200)
    }

    // MARK: Messages

    @Test func publishEchoesDataAndNumbersMessages() throws {
        let fixture = try Fixture()
        let sid = try #require(try fixture.create([("UniqueName", "feed")])["sid"] as? String)
        let data = #"{"b": [1, 2.50, "x y+z"], "n": null}"#
        let first = try fixture.request("POST", "\(fixture.streams)/feed/Messages", form: [("Data", data)])
        #expect(first.status == 201)
        // The data comes back as the very bytes published, not re-serialised.
        #expect(first.text.hasPrefix(#"{"sid":"TZ"#))
        #expect(first.text.hasSuffix(#","data":\#(data)}"#))
        #expect(Set(first.object.keys) == ["sid", "data"])
        let second = try fixture.request("POST", "\(fixture.streams)/\(sid)/Messages", form: [("Data", "{}")])
        #expect(second.status == 201)
        let firstSid = try #require(first.object["sid"] as? String)
        let secondSid = try #require(second.object["sid"] as? String)
        #expect(firstSid.utf8.count == 34 && secondSid.utf8.count == 34)
        // TZ + hex(prefix) + hex(sequence): one prefix per stream, sequences 1, 2, ...
        #expect(firstSid.prefix(18) == secondSid.prefix(18))
        #expect(UInt64(firstSid.suffix(16), radix: 16) == 1)
        #expect(UInt64(secondSid.suffix(16), radix: 16) == 2)
        #expect((second.object["data"] as? [String: Any])?.isEmpty == true)
        // '+' in a raw form body is a space inside the JSON string.
        let plus = try fixture.request(
            "POST",
            "\(fixture.streams)/feed/Messages",
            rawBody: Array("Data=%7B%22a%22%3A%22b+c%22%7D".utf8)
        )
        #expect(plus.status == 201)
        #expect((plus.object["data"] as? [String: Any])?["a"] as? String == "b c")
    }

    @Test func publishErrors() throws {
        let fixture = try Fixture()
        _ = try fixture.create([("UniqueName", "feed")])
        let messages = "\(fixture.streams)/feed/Messages"
        expectError(try fixture.request("POST", messages, form: []), status: 400, code: 54251)
        expectError(try fixture.request("POST", messages, form: [("Other", "{}")]), status: 400, code: 54251)
        for notObject in ["", "  ", "null", "[1,2]", "\"text\"", "42"] {
            expectError(try fixture.request("POST", messages, form: [("Data", notObject)]), status: 400, code: 54251)
        }
        for notJSON in ["{bad", "{\"a\":1,}", "{'a':1}", "{\"a\":1} trailing", "nope"] {
            expectError(try fixture.request("POST", messages, form: [("Data", notJSON)]), status: 400, code: 54008)
        }
        // The limit is the default max payload, 4096 bytes of serialized JSON.
        let filler = { (count: Int) in "{\"f\":\"" + String(repeating: "x", count: count - 8) + "\"}" }
        #expect(filler(4096).utf8.count == 4096)
        #expect(try fixture.request("POST", messages, form: [("Data", filler(4096))]).status == 201)
        expectError(try fixture.request("POST", messages, form: [("Data", filler(4097))]), status: 413, code: 54006)
        // A body far beyond anything readable is refused with the same code.
        expectError(try fixture.request("POST", messages, form: [("Data", filler(200_000))]), status: 413, code: 54006)

        expectError(
            try fixture.request("POST", "\(fixture.streams)/nope/Messages", form: [("Data", "{}")]),
            status: 404,
            code: 20404
        )
        _ = try fixture.request("DELETE", "\(fixture.streams)/feed")
        expectError(try fixture.request("POST", messages, form: [("Data", "{}")]), status: 404, code: 20404)
    }

    @Test func maxPayloadFlagSetsTheMessageLimit() throws {
        let fixture = try Fixture(["--max-payload", "64"])
        _ = try fixture.create([("UniqueName", "small")])
        let messages = "\(fixture.streams)/small/Messages"
        let fits = "{\"f\":\"" + String(repeating: "x", count: 56) + "\"}"
        #expect(fits.utf8.count == 64)
        #expect(try fixture.request("POST", messages, form: [("Data", fits)]).status == 201)
        expectError(try fixture.request("POST", messages, form: [("Data", fits + " ")]), status: 413, code: 54006)
    }

    // MARK: Paging

    @Test func pagingVisitsEveryStreamOnceInCreationOrder() throws {
        let fixture = try Fixture()
        var sids: [String] = []
        for index in 0..<7 {
            sids.append(try #require(try fixture.create([("UniqueName", "s\(index)")])["sid"] as? String))
        }

        let first = try fixture.request("GET", "\(fixture.streams)?PageSize=3")
        #expect(first.status == 200)
        let meta = try #require(first.object["meta"] as? [String: Any])
        #expect(meta["key"] as? String == "streams")
        #expect(meta["page"] as? Int == 0)
        #expect(meta["page_size"] as? Int == 3)
        #expect(meta["previous_page_url"] is NSNull)
        #expect(meta["first_page_url"] as? String == "\(fixture.base)\(fixture.streams)?PageSize=3&Page=0")
        #expect(meta["url"] as? String == "\(fixture.base)\(fixture.streams)?PageSize=3&Page=0")
        #expect(Set(first.object.keys) == ["streams", "meta"])

        var seen: [String] = []
        var response = first
        var pages = 0
        while pages < 10 {
            pages += 1
            let page = try #require(response.object["streams"] as? [[String: Any]])
            seen += page.compactMap { $0["sid"] as? String }
            let pageMeta = try #require(response.object["meta"] as? [String: Any])
            #expect(pageMeta["page"] as? Int == pages - 1)
            guard let next = pageMeta["next_page_url"] as? String else { break }
            response = try fixture.request("GET", try fixture.path(of: next))
            #expect(response.status == 200)
        }
        #expect(pages == 3)
        #expect(seen == sids)

        // previous_page_url of the last page leads back to the middle page.
        let lastMeta = try #require(response.object["meta"] as? [String: Any])
        let previous = try #require(lastMeta["previous_page_url"] as? String)
        let middle = try fixture.request("GET", try fixture.path(of: previous))
        #expect(
            (middle.object["streams"] as? [[String: Any]])?.compactMap { $0["sid"] as? String } == Array(sids[3..<6])
        )
        #expect((middle.object["meta"] as? [String: Any])?["page"] as? Int == 1)

        // Default page size is 50; 1000 is allowed.
        let all = try fixture.request("GET", fixture.streams)
        #expect((all.object["streams"] as? [Any])?.count == 7)
        #expect((all.object["meta"] as? [String: Any])?["page_size"] as? Int == 50)
        #expect(try fixture.request("GET", "\(fixture.streams)?PageSize=1000").status == 200)
    }

    /// Tokens are cursors, not offsets: creating and deleting between pages neither repeats
    /// nor skips a stream that lives throughout.
    @Test func pagingIsStableUnderConcurrentCreatesAndDeletes() throws {
        let fixture = try Fixture()
        var sids: [String] = []
        for _ in 0..<6 { sids.append(try #require(try fixture.create()["sid"] as? String)) }

        let first = try fixture.request("GET", "\(fixture.streams)?PageSize=2")
        let firstPage = try #require(first.object["streams"] as? [[String: Any]]).compactMap { $0["sid"] as? String }
        #expect(firstPage == Array(sids[0..<2]))
        // Delete one already seen and one not yet seen; add one at the end.
        #expect(try fixture.request("DELETE", "\(fixture.streams)/\(sids[0])").status == 204)
        #expect(try fixture.request("DELETE", "\(fixture.streams)/\(sids[3])").status == 204)
        let added = try #require(try fixture.create()["sid"] as? String)

        var seen = firstPage
        var next = (first.object["meta"] as? [String: Any])?["next_page_url"] as? String
        var pages = 0
        while let url = next, pages < 10 {
            pages += 1
            let response = try fixture.request("GET", try fixture.path(of: url))
            seen += try #require(response.object["streams"] as? [[String: Any]]).compactMap { $0["sid"] as? String }
            next = (response.object["meta"] as? [String: Any])?["next_page_url"] as? String
        }
        #expect(seen == [sids[0], sids[1], sids[2], sids[4], sids[5], added])
        #expect(Set(seen).count == seen.count)
    }

    @Test func pagingErrors() throws {
        let fixture = try Fixture()
        for size in ["0", "1001", "-1", "x", ""] {
            expectError(try fixture.request("GET", "\(fixture.streams)?PageSize=\(size)"), status: 400, code: 54454)
        }
        expectError(try fixture.request("GET", "/v1/Services?PageSize=0"), status: 400, code: 54454)
        for token in ["garbage", "PA", "PAx", "PC5", ""] {
            expectError(try fixture.request("GET", "\(fixture.streams)?PageToken=\(token)"), status: 400, code: 54453)
        }
        // Page is client state only: echoed when it parses, otherwise 0.
        let echoed = try fixture.request("GET", "\(fixture.streams)?Page=4")
        #expect((echoed.object["meta"] as? [String: Any])?["page"] as? Int == 4)
        let ignored = try fixture.request("GET", "\(fixture.streams)?Page=abc")
        #expect(ignored.status == 200)
        #expect((ignored.object["meta"] as? [String: Any])?["page"] as? Int == 0)
    }

    // MARK: Routing and URLs

    @Test func unknownPathsAndMethods() throws {
        let fixture = try Fixture()
        for path in [
            "/", "/v1", "/v2/Services", "/v1/Nope", "\(fixture.streams)/x/Nope", "/v1/Services//Streams",
            "\(fixture.streams)/x/Messages/y",
        ] {
            expectError(try fixture.request("GET", path), status: 404, code: 20404)
        }
        let notFound = try fixture.request("GET", "\(fixture.streams)/nothing-here")
        #expect(
            notFound.object["message"] as? String
                == "The requested resource /Services/\(fixture.service)/Streams/nothing-here was not found"
        )

        let cases: [(String, String, String)] = [
            ("PUT", fixture.streams, "GET, POST"), ("DELETE", "/v1/Services", "GET, POST"),
            ("PUT", "/v1/Services/\(fixture.service)", "GET, POST, DELETE"),
            ("GET", "\(fixture.streams)/x/Messages", "POST"),
            ("PATCH", "\(fixture.streams)/x", "GET, POST, DELETE"), ("POST", "/healthz", "GET"),
            ("GET", "/v1/Tern/AuthToken", "POST"),
        ]
        for (method, path, allow) in cases {
            let response = try fixture.request(method, path)
            expectError(response, status: 405, code: 20004)
            #expect(response.headers["allow"] == allow)
        }
    }

    @Test func publicURLFlagSetsEveryLink() throws {
        let fixture = try Fixture(["--public-url", "https://sync.example.com/"])
        let created = try fixture.create([("UniqueName", "linked")])
        let sid = try #require(created["sid"] as? String)
        #expect(created["url"] as? String == "https://sync.example.com/v1/Services/\(fixture.service)/Streams/\(sid)")
        let list = try fixture.request("GET", "\(fixture.streams)?PageSize=1")
        let meta = try #require(list.object["meta"] as? [String: Any])
        #expect(
            meta["url"] as? String
                == "https://sync.example.com/v1/Services/\(fixture.service)/Streams?PageSize=1&Page=0"
        )
        let service = try fixture.request("GET", "/v1/Services/\(fixture.service)")
        #expect(service.object["url"] as? String == "https://sync.example.com/v1/Services/\(fixture.service)")
    }
}
