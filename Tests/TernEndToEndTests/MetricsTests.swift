import Foundation
import Glibc
import TernWire
import Testing

/// `/metrics` and `/connz` on a real ternd: the exposition parses as Prometheus text, its counters
/// match a workload whose numbers are known in advance, and the connections view names the slow
/// subscriber and, once it is gone, why it went.
@Suite(.serialized)
struct MetricsTests {
    /// 2 streams; subscribers: `one` on A, `two` on A and B, `three` on A (A: 3, B: 1);
    /// 6 + 4 messages over REST, 3 + 2 over the data port; one publish to a stream not attached.
    @Test func countersMatchAKnownWorkload() throws {
        let daemon = try TernDaemon.start(extraArguments: ["--unix-socket", "none"])
        defer { daemon.stop() }
        let streamA = try daemon.createStream(uniqueName: "metrics-a")
        let streamB = try daemon.createStream(uniqueName: "metrics-b")

        let one = try RawDataClient(port: daemon.dataPort)
        try one.handshake(name: "one")
        let subscribedA = try one.subscribe(streamA)
        let two = try RawDataClient(port: daemon.dataPort)
        try two.handshake(name: "two")
        _ = try two.subscribe(streamA, requestID: 1)
        let subscribedB = try two.subscribe(streamB, requestID: 2)
        let three = try RawDataClient(port: daemon.dataPort)
        try three.handshake(name: "three")
        _ = try three.subscribe(streamA)
        let publisher = try RawDataClient(port: daemon.dataPort)
        try publisher.handshake(name: "publisher")
        let attachedA = try publisher.subscribe(streamA, requestID: 1, attachOnly: true)
        let attachedB = try publisher.subscribe(streamB, requestID: 2, attachOnly: true)

        for index in 0..<10 {
            let response = try daemon.publishREST(stream: index < 6 ? streamA : streamB, data: #"{"n":\#(index)}"#)
            #expect(response.status == 201, "\(response.text)")
        }
        for index in 0..<5 {
            let streamID = index < 3 ? attachedA.streamID : attachedB.streamID
            let payload = Array(#"{"d":\#(index)}"#.utf8)
            try publisher.send(
                .publish(.init(requestID: UInt32(100 + index), streamID: streamID, payload: payload, ack: true))
            )
            guard case .published? = try publisher.next() else {
                Issue.record("publisher did not get PUBLISHED")
                return
            }
        }
        // `one` receives A only: publishing to B's id is refused, once.
        try one.send(.publish(.init(requestID: 7, streamID: subscribedB.streamID, payload: Array(#"{"x":1}"#.utf8))))
        // Every subscriber reads all its messages, so every delivery has been counted; `one` also
        // gets its ERROR, so the refusal has been counted.
        var refusals = 0
        for (client, expected) in [(one, 9), (two, 15), (three, 9)] {
            var messages = 0
            while messages < expected || (client === one && refusals == 0) {
                switch try client.next() {
                case .message?: messages += 1
                case .error(let error)? where client === one:
                    #expect(error.code == .notSubscribed && error.requestID == 7)
                    refusals += 1
                case let other:
                    Issue.record("unexpected \(String(describing: other))")
                    return
                }
            }
        }
        #expect(refusals == 1)
        #expect(subscribedA.streamID != subscribedB.streamID)

        let response = try HTTP.request(port: daemon.controlPort, method: "GET", path: "/metrics")
        #expect(response.status == 200)
        #expect(response.headers["content-type"]?.hasPrefix("text/plain; version=0.0.4") == true)
        let metrics = try PrometheusText(parsing: response.text)

        #expect(metrics.value("tern_messages_published_total") == 15)
        #expect(metrics.value("tern_messages_delivered_total") == 33, "A: 9 messages × 3 subscribers, B: 6 × 1")
        #expect(metrics.value("tern_frames_rejected_total", ["code": "NOT_SUBSCRIBED"]) == 1)
        #expect(metrics.sum("tern_frames_rejected_total") == 1, "nothing else was refused")
        #expect(metrics.value("tern_messages_dropped_total", ["reason": "slow_consumer"]) == 0)
        #expect(metrics.value("tern_messages_dropped_total", ["reason": "lapped"]) == 0)
        #expect(metrics.value("tern_messages_dropped_total", ["reason": "rate_limited"]) == 0)
        #expect(metrics.value("tern_connections_open") == 4)
        #expect(metrics.value("tern_connections_accepted_total") == 4)
        #expect(metrics.value("tern_connections_refused_total") == 0)
        #expect(metrics.value("tern_subscriptions") == 4)
        #expect(metrics.value("tern_streams") == 2)
        #expect(metrics.value("tern_streams_expired_total") == 0)
        #expect((metrics.value("tern_bytes_in_total") ?? 0) > 0)
        #expect((metrics.value("tern_bytes_out_total") ?? 0) > 0)
        #expect((metrics.value("tern_reactor_busy_seconds_total") ?? 0) > 0)
        for (name, type) in [
            ("tern_messages_published_total", "counter"), ("tern_messages_delivered_total", "counter"),
            ("tern_messages_dropped_total", "counter"), ("tern_frames_rejected_total", "counter"),
            ("tern_connections_open", "gauge"), ("tern_subscriptions", "gauge"), ("tern_streams", "gauge"),
            ("tern_reactor_loop_duration_seconds", "histogram"), ("tern_http_requests_total", "counter"),
            ("tern_http_request_duration_seconds", "histogram"),
        ] {
            #expect(metrics.types[name] == type, "TYPE of \(name)")
        }
        #expect((metrics.value("tern_reactor_loop_duration_seconds_count") ?? 0) > 0)

        // REST requests by route template; the sids of the workload never appear in a label.
        let streamsRoute = ["route": "/v1/Services/{ServiceSid}/Streams", "method": "POST", "status": "201"]
        #expect(metrics.value("tern_http_requests_total", streamsRoute) == 2)
        let messagesRoute = ["route": "/v1/Services/{ServiceSid}/Streams/{Sid}/Messages", "method": "POST"]
        #expect(metrics.value("tern_http_requests_total", messagesRoute.merging(["status": "201"]) { $1 }) == 10)
        #expect(metrics.value("tern_http_request_duration_seconds_count", messagesRoute) == 10)
        let labelValues = metrics.samples.flatMap(\.labels.values)
        for sid in [daemon.serviceSid, streamA, streamB] {
            #expect(!labelValues.contains { $0.contains(sid) }, "\(sid) in a label")
        }

        // The next scrape counts the previous one, and an unknown path is one `unmatched` series.
        _ = try HTTP.request(port: daemon.controlPort, method: "GET", path: "/v1/Services/\(daemon.serviceSid)/Nope")
        let again = try PrometheusText(
            parsing: HTTP.request(port: daemon.controlPort, method: "GET", path: "/metrics").text
        )
        #expect(again.value("tern_http_requests_total", ["route": "/metrics", "method": "GET", "status": "200"]) == 1)
        #expect(again.value("tern_http_requests_total", ["route": "unmatched", "method": "GET", "status": "404"]) == 1)
    }

    @Test func connzListsEachConnectionWithItsSubscriptions() throws {
        let daemon = try TernDaemon.start(extraArguments: ["--unix-socket", "none"])
        defer { daemon.stop() }
        let streamA = try daemon.createStream()
        let streamB = try daemon.createStream()
        let reader = try RawDataClient(port: daemon.dataPort)
        try reader.handshake(name: "reader")
        _ = try reader.subscribe(streamA, requestID: 1)
        _ = try reader.subscribe(streamB, requestID: 2)
        let writer = try RawDataClient(port: daemon.dataPort)
        try writer.handshake(name: "writer")
        _ = try writer.subscribe(streamB, attachOnly: true)

        let connz = try daemon.connz()
        #expect(connz["num_connections"] as? Int == 2)
        #expect(connz["total"] as? Int == 2)
        #expect((connz["now"] as? String)?.hasSuffix("Z") == true)
        let connections = try #require(connz["connections"] as? [[String: Any]])
        let readerEntry = try #require(connections.first { $0["client_name"] as? String == "reader" })
        #expect(Set(readerEntry["subscribed"] as? [String] ?? []) == [streamA, streamB])
        #expect((readerEntry["attached"] as? [String])?.isEmpty == true)
        #expect((readerEntry["peer"] as? String)?.hasPrefix("127.0.0.1:") == true)
        #expect(readerEntry["frames_received"] as? Int == 3)
        let writerEntry = try #require(connections.first { $0["client_name"] as? String == "writer" })
        #expect(writerEntry["attached"] as? [String] == [streamB])
        #expect((writerEntry["subscribed"] as? [String])?.isEmpty == true)
        for key in [
            "id", "peer", "client_name", "state", "reactor_thread", "uptime_ms", "subscribed", "attached",
            "messages_delivered", "messages_dropped", "bytes_written", "frames_received", "pending_bytes",
            "out_buffer_allocated",
        ] {
            #expect(readerEntry[key] != nil, "connz entry lacks \(key)")
        }

        let limited = try daemon.connz(query: "?limit=1")
        #expect(limited["num_connections"] as? Int == 1)
        #expect(limited["total"] as? Int == 2)
        #expect((limited["connections"] as? [[String: Any]])?.count == 1)
        for query in ["?sort=nope", "?limit=0", "?limit=x"] {
            expectTwilioError(
                try HTTP.request(port: daemon.controlPort, method: "GET", path: "/connz\(query)"),
                status: 400,
                code: 20001
            )
        }
        expectTwilioError(
            try HTTP.request(port: daemon.controlPort, method: "POST", path: "/connz"),
            status: 405,
            code: 20004
        )
    }

    /// A subscriber that never reads, behind a 64 KiB out-buffer, while a few MB go out: /connz
    /// sorted by pending bytes names it first, with its drops; after it closes it is listed among
    /// the recently closed with a reason.
    @Test func connzNamesTheStalledSubscriberAndWhyItClosed() throws {
        let daemon = try TernDaemon.start(extraArguments: [
            "--out-buffer", "64K", "--threads", "1", "--unix-socket", "none",
        ])
        defer { daemon.stop() }
        let sid = try daemon.createStream()
        var stalled: RawDataClient? = try RawDataClient(port: daemon.dataPort)
        stalled?.shrinkReceiveBuffer()
        try stalled?.handshake(name: "stalled")
        _ = try stalled?.subscribe(sid)
        let healthy = try RawDataClient(port: daemon.dataPort)
        try healthy.handshake(name: "healthy")
        _ = try healthy.subscribe(sid)
        let publisher = try RawDataClient(port: daemon.dataPort)
        try publisher.handshake(name: "publisher")
        let attached = try publisher.subscribe(sid, attachOnly: true)

        // 4 MiB in batches of 64 messages, each acknowledged; the healthy subscriber keeps up.
        let payload = Array("{\"pad\":\"\(String(repeating: "x", count: 1000))\"}".utf8)
        let batches = 64
        var healthyReceived = 0
        for batch in 0..<batches {
            var bytes: [UInt8] = []
            for index in 0..<64 {
                Frame.publish(
                    .init(requestID: UInt32(batch), streamID: attached.streamID, payload: payload, ack: index == 63)
                )
                .encode(into: &bytes)
            }
            try publisher.send(bytes)
            guard case .published? = try publisher.next() else {
                Issue.record("publisher did not get PUBLISHED")
                return
            }
            while healthyReceived < (batch + 1) * 64 {
                guard case .message? = try healthy.next() else {
                    Issue.record("healthy subscriber got something other than MESSAGE")
                    return
                }
                healthyReceived += 1
            }
        }

        let connz = try daemon.connz(query: "?sort=pending_bytes&limit=1")
        #expect(connz["total"] as? Int == 3)
        let slowest = try #require((connz["connections"] as? [[String: Any]])?.first)
        #expect(slowest["client_name"] as? String == "stalled")
        #expect((slowest["pending_bytes"] as? Int ?? 0) > 0)
        let dropped = slowest["messages_dropped"] as? Int ?? 0
        #expect(dropped > 0)
        let stalledID = try #require(slowest["id"] as? Int)
        let byDrops = try daemon.connz(query: "?sort=messages_dropped")
        #expect((byDrops["connections"] as? [[String: Any]])?.first?["client_name"] as? String == "stalled")
        let metrics = try PrometheusText(
            parsing: HTTP.request(port: daemon.controlPort, method: "GET", path: "/metrics").text
        )
        #expect((metrics.value("tern_messages_dropped_total", ["reason": "slow_consumer"]) ?? 0) >= Double(dropped))

        stalled = nil  // closes the socket
        var closedEntry: [String: Any]?
        let deadline = Date().addingTimeInterval(10)
        while closedEntry == nil && Date() < deadline {
            let closed = try daemon.connz()["recently_closed"] as? [[String: Any]] ?? []
            closedEntry = closed.first { $0["id"] as? Int == stalledID }
            if closedEntry == nil { usleep(50_000) }
        }
        let entry = try #require(closedEntry, "the stalled subscriber is not among the recently closed")
        #expect(entry["client_name"] as? String == "stalled")
        #expect((entry["reason"] as? String)?.isEmpty == false)
        #expect((entry["messages_dropped"] as? Int ?? 0) >= dropped)
        #expect(entry["closed_ago_ms"] as? Int != nil)
        let stillOpen = try daemon.connz()["connections"] as? [[String: Any]] ?? []
        #expect(!stillOpen.contains { $0["id"] as? Int == stalledID })
    }

    @Test func metricsAndConnzNeedCredentialsWhenAuthIsOn() throws {
        let daemon = try TernDaemon.start(extraArguments: ["--auth", "required", "--unix-socket", "none"])
        defer { daemon.stop() }
        let token = try daemon.generatedAuthToken()
        #expect(try daemon.request("GET", "/healthz").status == 200)
        for path in ["/metrics", "/connz"] {
            expectTwilioError(try daemon.request("GET", path), status: 401, code: 20003)
            let wrong = try daemon.request("GET", path, token: String(repeating: "0", count: 32))
            expectTwilioError(wrong, status: 401, code: 20003)
            #expect(try daemon.request("GET", path, token: token).status == 200, "\(path) with credentials")
        }
        let metrics = try PrometheusText(parsing: daemon.request("GET", "/metrics", token: token).text)
        #expect(
            metrics.value("tern_http_requests_total", ["route": "/metrics", "method": "GET", "status": "401"]) == 2
        )
        #expect(
            metrics.value("tern_http_requests_total", ["route": "/healthz", "method": "GET", "status": "200"]) == 1
        )
    }

    /// The reader above is what makes "parses as Prometheus text" mean something: it must refuse.
    @Test func prometheusReaderRefusesWhatTheFormatForbids() throws {
        let good = """
            # HELP a_total A \\\\ counter.
            # TYPE a_total counter
            a_total{x="1",y="q\\"\\n"} 3
            # TYPE h histogram
            h_bucket{le="0.1"} 1
            h_bucket{le="+Inf"} 2
            h_sum 0.5
            h_count 2

            """
        let parsed = try PrometheusText(parsing: good)
        #expect(parsed.value("a_total", ["x": "1", "y": "q\"\n"]) == 3)
        #expect(parsed.value("h_count") == 2)
        let bad = [
            "# TYPE a counter\na 1",  // no final newline
            "a 1\n",  // no TYPE
            "# TYPE a counter\na{x=\"\\t\"} 1\n",  // bad escape
            "# TYPE a counter\na{x=\"1\",x=\"2\"} 1\n",  // repeated label
            "# TYPE a counter\na{1x=\"1\"} 1\n",  // bad label name
            "# TYPE a counter\na one\n",  // bad value
            "# TYPE a counter\na -1\n",  // negative counter
            "# TYPE a counter\na 1\na 2\n",  // same series twice
            "# TYPE a gauge\n# TYPE b gauge\na 1\nb 1\na{x=\"y\"} 1\n",  // family split in two groups
            "# TYPE a gauge\na 1\n# HELP a late\n",  // HELP after the samples
            "# TYPE a gauge\n# TYPE a counter\na 1\n",  // second TYPE
            "# TYPE a flavour\na 1\n",  // unknown type
            // not cumulative
            "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n",
            "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n",  // no +Inf
            "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 1\n",  // +Inf differs from _count
        ]
        for text in bad {
            #expect(throws: PrometheusText.FormatError.self, "\(text)") { try PrometheusText(parsing: text) }
        }
    }
}

extension TernDaemon {
    /// `GET /connz` (no credentials) as a JSON object.
    func connz(query: String = "") throws -> [String: Any] {
        let response = try HTTP.request(port: controlPort, method: "GET", path: "/connz\(query)")
        guard response.status == 200 else { throw HarnessError("/connz\(query): \(response.status) \(response.text)") }
        #expect(response.headers["content-type"]?.hasPrefix("application/json") == true)
        return response.object
    }
}

/// A strict reader of the Prometheus text exposition format 0.0.4, written from the format's
/// description rather than any client library, so the server's output is checked against the
/// format and not against itself.
///
/// Refuses: a line that is neither `# HELP`, `# TYPE`, another comment nor a sample; metric or
/// label names outside `[a-zA-Z_:][a-zA-Z0-9_:]*` / `[a-zA-Z_][a-zA-Z0-9_]*`; a label value with an
/// escape other than `\\`, `\"`, `\n`; a repeated label name; a value Go's ParseFloat would not
/// take; a second HELP or TYPE for a family or one after its samples; a sample of an undeclared
/// family; a family whose samples are not one group; the same series twice; a negative counter;
/// a histogram whose buckets are not cumulative or whose `+Inf` bucket differs from `_count`; a
/// body that does not end in a newline.
struct PrometheusText {
    struct Sample {
        var name: String
        var labels: [String: String]
        var value: Double
    }

    struct FormatError: Error, CustomStringConvertible {
        var description: String
    }

    private(set) var types: [String: String] = [:]
    private(set) var helps: [String: String] = [:]
    private(set) var samples: [Sample] = []

    init(parsing text: String) throws {
        guard text.isEmpty || text.hasSuffix("\n") else {
            throw FormatError(description: "body does not end in a newline")
        }
        var finishedFamilies: Set<String> = []
        var currentFamily: String?
        var seriesSeen: Set<String> = []
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).dropLast().enumerated() {
            func fail(_ why: String) -> FormatError { FormatError(description: "line \(number + 1) '\(line)': \(why)") }
            if line.hasPrefix("#") {
                let parts = line.split(separator: " ", maxSplits: 3, omittingEmptySubsequences: false)
                guard parts.count >= 3, parts[0] == "#", parts[1] == "HELP" || parts[1] == "TYPE" else { continue }
                let name = String(parts[2])
                guard Self.isMetricName(name) else { throw fail("bad metric name") }
                guard !finishedFamilies.contains(name), currentFamily != name else {
                    throw fail("after the family's samples")
                }
                if parts[1] == "HELP" {
                    guard helps[name] == nil else { throw fail("second HELP") }
                    helps[name] = parts.count > 3 ? String(parts[3]) : ""
                } else {
                    guard parts.count == 4, ["counter", "gauge", "histogram", "summary", "untyped"].contains(parts[3])
                    else {
                        throw fail("bad TYPE")
                    }
                    guard types[name] == nil else { throw fail("second TYPE") }
                    types[name] = String(parts[3])
                }
                continue
            }
            let sample = try Self.parseSample(line).get { fail($0) }
            guard let family = family(of: sample.name) else { throw fail("sample of an undeclared family") }
            if family != currentFamily {
                if let currentFamily { finishedFamilies.insert(currentFamily) }
                guard !finishedFamilies.contains(family) else { throw fail("family \(family) is not one group") }
                currentFamily = family
            }
            let labelText = sample.labels.sorted { $0.key < $1.key }.map { "\($0)=\($1)" }.joined(separator: ",")
            let series = sample.name + "{" + labelText + "}"
            guard seriesSeen.insert(series).inserted else { throw fail("series repeated") }
            if types[family] == "counter" || sample.name.hasSuffix("_bucket") || sample.name.hasSuffix("_count") {
                guard sample.value >= 0 else { throw fail("negative count") }
            }
            samples.append(sample)
        }
        try checkHistograms()
    }

    /// The value of the one series with exactly these labels.
    func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
        samples.first { $0.name == name && $0.labels == labels }?.value
    }

    /// The sum over every series of `name`.
    func sum(_ name: String) -> Double {
        samples.filter { $0.name == name }.reduce(0) { $0 + $1.value }
    }

    /// The declared family a sample belongs to: its own name, or for a histogram or summary the
    /// name without `_bucket` / `_sum` / `_count`.
    private func family(of name: String) -> String? {
        if types[name] != nil { return name }
        for suffix in ["_bucket", "_sum", "_count"] where name.hasSuffix(suffix) {
            let base = String(name.dropLast(suffix.count))
            if types[base] == "histogram" || (types[base] == "summary" && suffix != "_bucket") { return base }
        }
        return nil
    }

    private func checkHistograms() throws {
        for (family, type) in types where type == "histogram" {
            var groups: [[String: String]: [(le: Double, count: Double)]] = [:]
            for sample in samples where sample.name == family + "_bucket" {
                var labels = sample.labels
                guard let leText = labels.removeValue(forKey: "le"), let le = Self.parseFloat(leText) else {
                    throw FormatError(description: "\(family)_bucket without a numeric le")
                }
                groups[labels, default: []].append((le, sample.value))
            }
            for (labels, buckets) in groups {
                let ordered = buckets.sorted { $0.le < $1.le }
                for (lower, upper) in zip(ordered, ordered.dropFirst()) where upper.count < lower.count {
                    throw FormatError(description: "\(family)\(labels) buckets are not cumulative")
                }
                guard let last = ordered.last, last.le == .infinity else {
                    throw FormatError(description: "\(family)\(labels) has no +Inf bucket")
                }
                guard value(family + "_count", labels) == last.count, value(family + "_sum", labels) != nil else {
                    throw FormatError(
                        description: "\(family)\(labels): _count differs from the +Inf bucket, or no _sum"
                    )
                }
            }
        }
    }

    private enum ParseResult {
        case sample(Sample)
        case failure(String)

        func get(_ error: (String) -> FormatError) throws -> Sample {
            switch self {
            case .sample(let sample): return sample
            case .failure(let why): throw error(why)
            }
        }
    }

    /// `name{label="value",...} value [timestamp]`.
    private static func parseSample(_ line: Substring) -> ParseResult {
        var rest = line[...]
        let name = String(rest.prefix { $0.isLetter || $0.isNumber || $0 == "_" || $0 == ":" })
        guard isMetricName(name) else { return .failure("bad metric name") }
        rest = rest.dropFirst(name.count)
        var labels: [String: String] = [:]
        if rest.first == "{" {
            rest = rest.dropFirst()
            while rest.first != "}" {
                let label = String(rest.prefix { $0.isLetter || $0.isNumber || $0 == "_" })
                guard isLabelName(label) else { return .failure("bad label name") }
                rest = rest.dropFirst(label.count)
                guard rest.hasPrefix("=\"") else { return .failure("label without =\"") }
                rest = rest.dropFirst(2)
                var value = ""
                while true {
                    guard let character = rest.first else { return .failure("unterminated label value") }
                    rest = rest.dropFirst()
                    if character == "\"" { break }
                    if character == "\\" {
                        switch rest.first {
                        case "\\": value.append("\\")
                        case "\"": value.append("\"")
                        case "n": value.append("\n")
                        default: return .failure("bad escape in label value")
                        }
                        rest = rest.dropFirst()
                    } else {
                        value.append(character)
                    }
                }
                guard labels.updateValue(value, forKey: label) == nil else {
                    return .failure("repeated label \(label)")
                }
                if rest.first == "," {
                    rest = rest.dropFirst()
                } else if rest.first != "}" {
                    return .failure("labels not separated by commas")
                }
            }
            rest = rest.dropFirst()
        }
        guard rest.first == " " else { return .failure("no space before the value") }
        let fields = rest.dropFirst().split(separator: " ", omittingEmptySubsequences: false)
        guard fields.count == 1 || (fields.count == 2 && Int64(fields[1]) != nil),
            let value = parseFloat(String(fields[0]))
        else { return .failure("bad value or timestamp") }
        return .sample(Sample(name: name, labels: labels, value: value))
    }

    /// Go's ParseFloat as Prometheus uses it: decimal or exponent notation, `+Inf`, `-Inf`, `NaN`.
    static func parseFloat(_ text: String) -> Double? {
        switch text {
        case "+Inf", "Inf": return .infinity
        case "-Inf": return -.infinity
        case "NaN": return .nan
        default:
            guard text.allSatisfy({ $0.isNumber || "+-.eE".contains($0) }) else { return nil }
            return Double(text)
        }
    }

    static func isMetricName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, first.isASCIILetter || first == "_" || first == ":" else {
            return false
        }
        return name.unicodeScalars.allSatisfy { $0.isASCIILetter || ("0"..."9").contains($0) || $0 == "_" || $0 == ":" }
    }

    static func isLabelName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, first.isASCIILetter || first == "_" else { return false }
        return name.unicodeScalars.allSatisfy { $0.isASCIILetter || ("0"..."9").contains($0) || $0 == "_" }
    }
}

extension Unicode.Scalar {
    fileprivate var isASCIILetter: Bool { ("a"..."z").contains(self) || ("A"..."Z").contains(self) }
}
