import Foundation
import TernAuth
import TernClient
import TernWire
import Testing

/// Access Tokens on a real ternd's data port: accepted, refused precisely, grants per stream,
/// revocation of live connections, refresh and expiry (protocol.md §4.13).
@Suite(.serialized)
struct AccessTokenTests {
    /// A daemon with auth, a key, and streams `prices.eur`, `prices.usd`, `orders`, `news`.
    struct Setup {
        let daemon: TernDaemon
        let authToken: String
        let key: (sid: String, secret: String)

        init(_ extraArguments: [String] = []) throws {
            daemon = try TernDaemon.start(extraArguments: ["--auth", "required"] + extraArguments)
            authToken = try daemon.generatedAuthToken()
            key = try APIKeyTests.createKey(daemon, token: authToken)
            for name in ["prices.eur", "prices.usd", "orders", "news"] {
                let created = try daemon.request(
                    "POST",
                    "/v1/Services/\(daemon.serviceSid)/Streams",
                    form: [("UniqueName", name)],
                    token: authToken
                )
                guard created.status == 201 else { throw HarnessError("stream create: \(created.text)") }
            }
        }

        func token(
            grants: StreamGrants? = nil,
            ttl: Int64 = 3600,
            service: String? = nil,
            identity: String = "worker-7"
        )
            -> String
        {
            AccessTokens.mint(daemon, key: key, identity: identity, service: service, grants: grants, ttl: ttl)
        }

        func connect(_ token: String, maxVersion: UInt16 = 2) throws -> RawDataClient {
            let client = try RawDataClient(port: daemon.dataPort)
            guard case .welcome(let welcome)? = try client.hello(token: token, maxVersion: maxVersion) else {
                throw HarnessError("token refused")
            }
            guard welcome.version == maxVersion else { throw HarnessError("version \(welcome.version)") }
            return client
        }
    }

    static func expectFatal(_ frame: Frame?, _ code: ErrorCode, sourceLocation: SourceLocation = #_sourceLocation) {
        guard case .error(let error)? = frame else {
            Issue.record(
                "expected ERROR \(code.name), got \(String(describing: frame))",
                sourceLocation: sourceLocation
            )
            return
        }
        #expect(
            error.code == code && error.fatal,
            "\(error.code.name) \(error.message)",
            sourceLocation: sourceLocation
        )
    }

    static func expectRequestError(
        _ frame: Frame?,
        _ code: ErrorCode,
        requestID: UInt32,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        guard case .error(let error)? = frame else {
            Issue.record(
                "expected ERROR \(code.name), got \(String(describing: frame))",
                sourceLocation: sourceLocation
            )
            return
        }
        #expect(
            error.code == code && !error.fatal && error.requestID == requestID,
            "\(error.code.name) \(error.message)",
            sourceLocation: sourceLocation
        )
    }

    @Test func validTokenIsAcceptedAndItsIdentityShows() throws {
        let setup = try Setup()
        defer { setup.daemon.stop() }
        let client = try setup.connect(setup.token(identity: "worker-42"))
        let subscribed = try client.subscribe("prices.eur")
        #expect(subscribed.uniqueName == "prices.eur")
        let connz = try setup.daemon.request("GET", "/connz", token: setup.authToken)
        let connections = connz.object["connections"] as? [[String: Any]] ?? []
        #expect(
            connections.contains {
                $0["identity"] as? String == "worker-42" && $0["key_sid"] as? String == setup.key.sid
            },
            "\(connz.text)"
        )
        // Without --auth required a token is still verified (its grants narrow), and refused if bad:
        // this one names another server's account.
        let open = try TernDaemon.start()
        defer { open.stop() }
        let refused = try RawDataClient(port: open.dataPort)
        Self.expectFatal(try refused.hello(token: setup.token()), .tokenInvalid)
        let anonymous = try RawDataClient(port: open.dataPort)
        guard case .welcome? = try anonymous.hello(token: "") else {
            throw HarnessError("anonymous refused without auth")
        }
    }

    /// Each kind of bad token gets its own fatal code; a bystander keeps its subscription and
    /// keeps receiving messages meanwhile.
    @Test func badTokensAreRefusedPreciselyAndOthersUndisturbed() throws {
        let setup = try Setup(["--token-clock-skew", "0"])
        defer { setup.daemon.stop() }
        let bystander = try setup.connect(setup.token())
        let stream = try bystander.subscribe("news")

        let now = Int64(Date().timeIntervalSince1970)
        let good = setup.token()
        let parts = good.split(separator: ".").map(String.init)
        let header = #"{"alg":"HS256","typ":"JWT","cty":"twilio-fpa;v=1"}"#
        func encode(_ text: String) -> String { Base64URL.encode(Array(text.utf8)) }
        let unknownKey = AccessTokenMinter.mint(
            keySid: "SK" + String(repeating: "0", count: 32),
            secret: setup.key.secret,
            accountSid: setup.daemon.accountSid,
            identity: "w",
            serviceSid: setup.daemon.serviceSid,
            streamGrants: nil,
            ttlSeconds: 60,
            now: now
        )
        let cases: [(String, String, ErrorCode)] = [
            (
                "wrong signature", parts[0] + "." + parts[1] + "." + Base64URL.encode([UInt8](repeating: 7, count: 32)),
                .tokenSignatureInvalid
            ),
            (
                "wrong secret", AccessTokens.mint(setup.daemon, key: (setup.key.sid, "not the secret")),
                .tokenSignatureInvalid
            ),
            ("unknown key", unknownKey, .keyRevoked),
            ("expired", AccessTokens.mint(setup.daemon, key: setup.key, ttl: 60, now: now - 120), .tokenExpired),
            (
                "not yet valid", AccessTokens.mint(setup.daemon, key: setup.key, ttl: 60, now: now + 120),
                .tokenNotYetValid
            ),
            ("alg none", encode(#"{"alg":"none","cty":"twilio-fpa;v=1"}"#) + "." + parts[1] + ".", .tokenInvalid),
            (
                "RS256",
                encode(#"{"alg":"RS256","typ":"JWT","cty":"twilio-fpa;v=1"}"#) + "." + parts[1] + "." + parts[2],
                .tokenInvalid
            ),
            ("bad base64", parts[0] + ".!!!." + parts[2], .tokenInvalid),
            (
                "missing claims", encode(header) + "." + encode(#"{"iss":"\#(setup.key.sid)"}"#) + "." + parts[2],
                .tokenInvalid
            ),
            (
                "other account",
                AccessTokenMinter.mint(
                    keySid: setup.key.sid,
                    secret: setup.key.secret,
                    accountSid: "AC" + String(repeating: "1", count: 32),
                    identity: "w",
                    serviceSid: setup.daemon.serviceSid,
                    streamGrants: nil,
                    ttlSeconds: 60,
                    now: now
                ), .tokenInvalid
            ),
            ("huge", "a.b." + String(repeating: "c", count: 8000), .tokenInvalid),
            ("not a token", "a.b", .authFailed),
        ]
        for (what, token, code) in cases {
            let client = try RawDataClient(port: setup.daemon.dataPort)
            let answer = try client.hello(token: token)
            guard case .error(let error)? = answer else {
                Issue.record("\(what): \(String(describing: answer))")
                continue
            }
            #expect(error.code == code && error.fatal, "\(what): \(error.code.name) \(error.message)")
            #expect(client.closedByServer(), "\(what): connection left open")
        }
        // A HELLO past the largest valid one is refused from its header.
        let oversize = try RawDataClient(port: setup.daemon.dataPort)
        try oversize.send([0, 0, 0x20, 0x49, 0x01, 0, 0, 0])
        Self.expectFatal(try oversize.next(), .frameTooLarge)

        _ = try setup.daemon.request(
            "POST",
            "/v1/Services/\(setup.daemon.serviceSid)/Streams/news/Messages",
            form: [("Data", #"{"n":1}"#)],
            token: setup.authToken
        )
        guard case .message(let message)? = try bystander.nextSkippingPings() else {
            throw HarnessError("bystander got no message")
        }
        #expect(message.streamID == stream.streamID)
        // Anonymous clients are refused on both ports with keys present.
        let anonymous = try RawDataClient(port: setup.daemon.dataPort)
        Self.expectFatal(try anonymous.hello(token: ""), .authFailed)
        expectTwilioError(try setup.daemon.request("GET", "/v1/Services"), status: 401, code: 20003)
        let metrics = try setup.daemon.request("GET", "/metrics", token: setup.authToken).text
        #expect(
            metrics.contains("TOKEN_SIGNATURE_INVALID") || metrics.contains("token_signature_invalid"),
            "refusals counted"
        )
    }

    @Test func grantsNarrowRightsPerStream() throws {
        let setup = try Setup()
        defer { setup.daemon.stop() }
        let otherService = try setup.daemon.request(
            "POST",
            "/v1/Services",
            form: [("FriendlyName", "other")],
            token: setup.authToken
        )
        let otherSid = try #require(otherService.object["sid"] as? String)
        let inOther = try setup.daemon.request(
            "POST",
            "/v1/Services/\(otherSid)/Streams",
            form: [("UniqueName", "prices.eur")],
            token: setup.authToken
        )
        let otherStreamSid = try #require(inOther.object["sid"] as? String)

        let client = try setup.connect(setup.token(grants: StreamGrants(subscribe: ["prices.*"], publish: ["orders"])))
        let eur = try client.subscribe("prices.eur", requestID: 1)
        try client.send(.subscribe(.init(requestID: 2, stream: "news")))
        Self.expectRequestError(try client.next(), .subscribeNotGranted, requestID: 2)
        try client.send(.subscribe(.init(requestID: 3, stream: "prices.usd", attachOnly: true)))
        Self.expectRequestError(try client.next(), .publishNotGranted, requestID: 3)
        try client.send(.subscribe(.init(requestID: 4, stream: otherStreamSid)))
        Self.expectRequestError(try client.next(), .serviceNotGranted, requestID: 4)
        try client.send(.subscribe(.init(requestID: 5, stream: "\(otherSid)/prices.eur")))
        Self.expectRequestError(try client.next(), .serviceNotGranted, requestID: 5)
        // Subscribed but not granted publishing: PUBLISH is refused, the subscription stays.
        try client.send(.publish(.init(requestID: 6, streamID: eur.streamID, payload: Array("{}".utf8), ack: true)))
        Self.expectRequestError(try client.next(), .publishNotGranted, requestID: 6)
        let orders = try client.subscribe("orders", requestID: 7, attachOnly: true)
        try client.send(.publish(.init(requestID: 8, streamID: orders.streamID, payload: Array("{}".utf8), ack: true)))
        guard case .published(let published)? = try client.next() else {
            throw HarnessError("publish to a granted stream failed")
        }
        #expect(published.requestID == 8)
        // The subscription to prices.eur still delivers.
        _ = try setup.daemon.request(
            "POST",
            "/v1/Services/\(setup.daemon.serviceSid)/Streams/prices.eur/Messages",
            form: [("Data", "{}")],
            token: setup.authToken
        )
        guard case .message(let message)? = try client.nextSkippingPings() else { throw HarnessError("no message") }
        #expect(message.streamID == eur.streamID)
    }

    /// Deleting a key ends its live connections within a second; others stay.
    @Test func deletingAKeyCutsItsLiveConnections() throws {
        let setup = try Setup()
        defer { setup.daemon.stop() }
        let otherKey = try APIKeyTests.createKey(setup.daemon, token: setup.authToken, name: "other")
        let doomed = try setup.connect(setup.token())
        let doomedStream = try doomed.subscribe("news")
        let survivor = try setup.connect(AccessTokens.mint(setup.daemon, key: otherKey))
        let survivorStream = try survivor.subscribe("news")

        let started = Date()
        #expect(
            try setup.daemon.request("DELETE", APIKeyTests.keyPath(setup.daemon, setup.key.sid), token: setup.authToken)
                .status == 204
        )
        let ended = try doomed.next(timeout: 2)
        #expect(ended == .streamEnded(streamID: doomedStream.streamID, reason: .keyRevoked))
        Self.expectFatal(try doomed.next(timeout: 2), .keyRevoked)
        #expect(Date().timeIntervalSince(started) < 1.0, "cut after \(Date().timeIntervalSince(started)) s")
        #expect(doomed.closedByServer())
        // New connections with the deleted key are refused.
        let late = try RawDataClient(port: setup.daemon.dataPort)
        Self.expectFatal(try late.hello(token: setup.token()), .keyRevoked)

        _ = try setup.daemon.request(
            "POST",
            "/v1/Services/\(setup.daemon.serviceSid)/Streams/news/Messages",
            form: [("Data", "{}")],
            token: setup.authToken
        )
        guard case .message(let message)? = try survivor.nextSkippingPings() else { throw HarnessError("survivor cut") }
        #expect(message.streamID == survivorStream.streamID)
        #expect(setup.daemon.log.contains("as worker-7 with key \(setup.key.sid)"), "identity in the log")
    }

    /// Version 2: TOKEN_EXPIRING before the end, REFRESH_TOKEN keeps the connection and its
    /// subscriptions; refusals of a refresh are not fatal.
    @Test func refreshBeforeExpiryKeepsTheConnection() throws {
        let setup = try Setup(["--token-clock-skew", "0", "--token-expiry-warning", "2"])
        defer { setup.daemon.stop() }
        let client = try setup.connect(setup.token(ttl: 3))
        let stream = try client.subscribe("news")
        guard case .tokenExpiring(let expiring)? = try client.nextSkippingPings(timeout: 5) else {
            throw HarnessError("no TOKEN_EXPIRING")
        }
        #expect(expiring.remainingMilliseconds <= 2000)
        // Refusals first: another identity, a bad signature; the connection stays.
        try client.send(.refreshToken(requestID: 11, token: setup.token(ttl: 60, identity: "someone-else")))
        Self.expectRequestError(try client.next(), .refreshRefused, requestID: 11)
        try client.send(
            .refreshToken(requestID: 12, token: AccessTokens.mint(setup.daemon, key: (setup.key.sid, "wrong")))
        )
        Self.expectRequestError(try client.next(), .tokenSignatureInvalid, requestID: 12)
        let fresh = setup.token(ttl: 60)
        try client.send(.refreshToken(requestID: 13, token: fresh))
        guard case .tokenRefreshed(13, let expiresAt)? = try client.next() else {
            throw HarnessError("no TOKEN_REFRESHED")
        }
        #expect(expiresAt > UInt64(Date().timeIntervalSince1970) + 50)
        // Past the old expiry, the subscription still delivers.
        Thread.sleep(forTimeInterval: 2.5)
        _ = try setup.daemon.request(
            "POST",
            "/v1/Services/\(setup.daemon.serviceSid)/Streams/news/Messages",
            form: [("Data", "{}")],
            token: setup.authToken
        )
        guard case .message(let message)? = try client.nextSkippingPings() else {
            throw HarnessError("connection ended")
        }
        #expect(message.streamID == stream.streamID)
        // REFRESH_TOKEN on an auth-token connection is refused, and on version 1 it is unknown.
        let plain = try RawDataClient(port: setup.daemon.dataPort)
        guard case .welcome? = try plain.hello(token: setup.authToken) else { throw HarnessError("auth token refused") }
        try plain.send(.refreshToken(requestID: 1, token: fresh))
        Self.expectRequestError(try plain.next(), .refreshRefused, requestID: 1)
        let old = try setup.connect(setup.token(), maxVersion: 1)
        try old.send(.refreshToken(requestID: 1, token: fresh))
        Self.expectFatal(try old.next(), .unknownFrameType)
    }

    /// Without a refresh: STREAM_ENDED TOKEN_EXPIRED for each stream, then a fatal
    /// TOKEN_EXPIRED. A version-1 client gets the same end and never a version-2 frame.
    @Test func expiryWithoutRefreshEndsTheConnection() throws {
        let setup = try Setup(["--token-clock-skew", "0", "--token-expiry-warning", "1"])
        defer { setup.daemon.stop() }
        let modern = try setup.connect(setup.token(ttl: 2))
        let a = try modern.subscribe("news", requestID: 1)
        let b = try modern.subscribe("orders", requestID: 2, attachOnly: true)
        let legacy = try setup.connect(setup.token(ttl: 2), maxVersion: 1)
        let c = try legacy.subscribe("news")
        let bystander = try setup.connect(setup.token(ttl: 3600))
        _ = try bystander.subscribe("news")

        guard case .tokenExpiring? = try modern.nextSkippingPings(timeout: 4) else { throw HarnessError("no warning") }
        var ended: [UInt32] = []
        for _ in 0..<2 {
            guard case .streamEnded(let id, .tokenExpired)? = try modern.nextSkippingPings(timeout: 4) else {
                throw HarnessError("no STREAM_ENDED TOKEN_EXPIRED")
            }
            ended.append(id)
        }
        #expect(ended == [a.streamID, b.streamID].sorted())
        Self.expectFatal(try modern.nextSkippingPings(), .tokenExpired)
        #expect(try legacy.nextSkippingPings(timeout: 4) == .streamEnded(streamID: c.streamID, reason: .tokenExpired))
        Self.expectFatal(try legacy.nextSkippingPings(), .tokenExpired)
        #expect(legacy.closedByServer() && modern.closedByServer())

        _ = try setup.daemon.request(
            "POST",
            "/v1/Services/\(setup.daemon.serviceSid)/Streams/news/Messages",
            form: [("Data", "{}")],
            token: setup.authToken
        )
        guard case .message? = try bystander.nextSkippingPings() else { throw HarnessError("bystander disturbed") }
    }

    /// The Swift client library: an Access Token in HELLO, TOKEN_EXPIRING from `nextFrame`,
    /// `refreshToken`, and a refusal as a thrown, non-fatal error.
    @Test func swiftClientRefreshesItsToken() throws {
        let setup = try Setup(["--token-clock-skew", "0", "--token-expiry-warning", "2"])
        defer { setup.daemon.stop() }
        let connection = try DataConnection("127.0.0.1:\(setup.daemon.dataPort)", token: setup.token(ttl: 3))
        defer { connection.close() }
        #expect(connection.welcome.version == 3)
        let news = try connection.subscribe("news")
        guard case .tokenExpiring(let expiring)? = try connection.nextFrame(timeout: .seconds(5)) else {
            throw HarnessError("no TOKEN_EXPIRING")
        }
        #expect(expiring.remainingMilliseconds <= 2000)
        do {
            try connection.refreshToken(setup.token(ttl: 60, identity: "other"))
            Issue.record("a token of another identity was accepted")
        } catch TernClientError.server(let error) {
            #expect(error.code == .refreshRefused && !error.fatal)
        }
        let expiresAt = try connection.refreshToken(setup.token(ttl: 60))
        #expect(expiresAt >= UInt64(Date().timeIntervalSince1970) + 55)
        Thread.sleep(forTimeInterval: 2.5)
        _ = try setup.daemon.request(
            "POST",
            "/v1/Services/\(setup.daemon.serviceSid)/Streams/news/Messages",
            form: [("Data", "{}")],
            token: setup.authToken
        )
        guard case .message(let message)? = try connection.nextFrame(timeout: .seconds(5)) else {
            throw HarnessError("the connection ended despite the refresh")
        }
        #expect(message.streamID == news.streamID)
    }

    /// A token of several KiB in a HELLO above a small `--max-frame`, arriving in pieces with
    /// more frames behind it in the same read: accepted, and the frames after it answered.
    @Test func largeTokenAboveMaxFrameArrivingInPieces() throws {
        let setup = try Setup(["--max-payload", "512", "--max-frame", "1024"])
        defer { setup.daemon.stop() }
        let patterns = (0..<200).map { "prices.region-\($0).*" }
        let token = setup.token(grants: StreamGrants(subscribe: patterns, publish: ["orders"]))
        #expect(token.utf8.count > 6000 && token.utf8.count <= WireLimits.maxTokenBytes, "\(token.utf8.count) bytes")
        let hello = Frame.hello(.init(minVersion: 1, maxVersion: 2, clientName: "big", token: token)).encoded()
        var pings: [UInt8] = []
        for opaque in 0..<4000 { Frame.ping(UInt64(opaque)).encode(into: &pings) }
        let client = try RawDataClient(port: setup.daemon.dataPort)
        try client.send(Array(hello.prefix(100)))
        Thread.sleep(forTimeInterval: 0.2)
        try client.send(Array(hello.dropFirst(100)) + pings)
        guard case .welcome(let welcome)? = try client.next() else { throw HarnessError("no WELCOME") }
        #expect(welcome.maxFrameBody == 1024)
        for opaque in 0..<4000 {
            guard case .pong(let echoed)? = try client.next(), echoed == UInt64(opaque) else {
                throw HarnessError("PONG \(opaque) missing")
            }
        }
        // The big token's grants are in force.
        try client.send(.subscribe(.init(requestID: 1, stream: "news")))
        Self.expectRequestError(try client.next(), .subscribeNotGranted, requestID: 1)
    }
}
