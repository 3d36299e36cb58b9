import TernAuth
import TernCore
import TernWire
import Testing

@testable import TernReactor

/// Access Tokens in the session state machine with a fake clock (monotonic and wall clock move
/// together): grants at SUBSCRIBE and PUBLISH, the expiry warning, refresh, and the end.
@Suite("Data-port session with Access Tokens")
struct TokenSessionTests {
    let harness: EmbeddedDataPlane
    let key: (sid: String, secret: String)

    init() throws {
        harness = try EmbeddedDataPlane {
            $0.tokenClockSkewSeconds = 0
            $0.tokenExpiryWarningMilliseconds = 5_000
            $0.pingIntervalMilliseconds = 0
        }
        let created = try harness.broker.createKey(friendlyName: "test")
        key = (created.key.sid, created.secret)
        for name in ["prices.eur", "orders", "news"] { _ = try harness.createStream(name) }
    }

    func token(
        ttl: Int64 = 60,
        identity: String = "w",
        grants: StreamGrants? = nil,
        serviceSid: String? = nil
    ) -> String {
        AccessTokenMinter.mint(
            keySid: key.sid,
            secret: key.secret,
            accountSid: harness.broker.accountSid,
            identity: identity,
            serviceSid: serviceSid ?? harness.broker.defaultServiceSid,
            streamGrants: grants,
            ttlSeconds: ttl,
            now: harness.unixSeconds
        )
    }

    func connect(_ token: String, maxVersion: UInt16 = 2) throws -> EmbeddedClient {
        let client = harness.connect()
        client.send(.hello(.init(minVersion: 1, maxVersion: maxVersion, clientName: "t", token: token)))
        guard case .welcome(let welcome)? = try client.received().first else { throw EmbeddedError("no WELCOME") }
        #expect(welcome.version == maxVersion)
        #expect(client.connection.accessToken?.identity != nil)
        return client
    }

    @Test func warningAtItsTimeThenTheEndWithoutRefresh() throws {
        let client = try connect(token(ttl: 60))
        let news = try client.subscribe("news", requestID: 1)
        let orders = try client.subscribe("orders", requestID: 2, attachOnly: true)
        harness.advance(milliseconds: 54_999, connections: [client])
        #expect(try client.received().isEmpty)
        harness.advance(milliseconds: 1, connections: [client])
        #expect(
            try client.received() == [
                .tokenExpiring(.init(expiresAt: UInt64(EmbeddedDataPlane.unixEpoch + 60), remainingMilliseconds: 5_000))
            ]
        )
        harness.advance(milliseconds: 4_999, connections: [client])
        #expect(try client.received().isEmpty, "warned once")
        harness.advance(milliseconds: 1, connections: [client])
        let frames = try client.received()
        #expect(frames.count == 3)
        #expect(
            Array(frames.prefix(2))
                == [news.streamID, orders.streamID].sorted().map { .streamEnded(streamID: $0, reason: .tokenExpired) }
        )
        guard case .error(let error)? = frames.last else { throw EmbeddedError("no ERROR") }
        #expect(error.code == .tokenExpired && error.fatal)
        #expect(client.isClosed)
    }

    @Test func versionOneGetsNoWarningButTheSameEnd() throws {
        let client = try connect(token(ttl: 60), maxVersion: 1)
        let news = try client.subscribe("news")
        harness.advance(milliseconds: 59_999, connections: [client])
        #expect(try client.received().isEmpty)
        harness.advance(milliseconds: 1, connections: [client])
        let frames = try client.received()
        #expect(frames.first == .streamEnded(streamID: news.streamID, reason: .tokenExpired))
        guard case .error(let error)? = frames.last else { throw EmbeddedError("no ERROR") }
        #expect(error.code == .tokenExpired && error.fatal)
    }

    @Test func refreshMovesTheDeadlineAndRearmsTheWarning() throws {
        let client = try connect(token(ttl: 60))
        _ = try client.subscribe("news")
        harness.advance(milliseconds: 56_000, connections: [client])
        guard case .tokenExpiring? = try client.received().first else { throw EmbeddedError("no warning") }
        client.send(.refreshToken(requestID: 9, token: token(ttl: 60)))
        let expected = UInt64(harness.unixSeconds + 60)
        #expect(try client.received() == [.tokenRefreshed(requestID: 9, expiresAt: expected)])
        harness.advance(milliseconds: 10_000, connections: [client])
        #expect(try client.received().isEmpty, "past the old deadline, still open")
        #expect(!client.isClosed)
        harness.advance(milliseconds: 45_000, connections: [client])
        guard case .tokenExpiring? = try client.received().first else { throw EmbeddedError("the warning is re-armed") }
    }

    @Test func refusedRefreshesAreRequestErrors() throws {
        let client = try connect(token(grants: StreamGrants(subscribe: ["news"])))
        client.send(
            .refreshToken(requestID: 1, token: token(identity: "other", grants: StreamGrants(subscribe: ["news"])))
        )
        client.send(.refreshToken(requestID: 2, token: token(grants: StreamGrants(subscribe: ["*"]))))
        client.send(.refreshToken(requestID: 3, token: token(ttl: -1, grants: StreamGrants(subscribe: ["news"]))))
        client.send(.refreshToken(requestID: 4, token: "a.b.c"))
        let codes = try client.received().compactMap { frame -> (UInt32, ErrorCode, Bool)? in
            guard case .error(let error) = frame else { return nil }
            return (error.requestID, error.code, error.fatal)
        }
        #expect(codes.map(\.0) == [1, 2, 3, 4])
        #expect(codes.map(\.1) == [.refreshRefused, .refreshRefused, .tokenExpired, .tokenInvalid])
        #expect(codes.allSatisfy { !$0.2 })
        #expect(!client.isClosed)
    }

    @Test func grantsAtSubscribeAndPublish() throws {
        let client = try connect(token(grants: StreamGrants(subscribe: ["prices.*", "orders"], publish: ["orders"])))
        let prices = try client.subscribe("prices.eur", requestID: 1)
        client.send(.subscribe(.init(requestID: 2, stream: "news")))
        client.send(.subscribe(.init(requestID: 3, stream: "news", attachOnly: true)))
        var frames = try client.received()
        let orders = try client.subscribe("orders", requestID: 4)
        client.send(
            .publish(.init(requestID: 5, streamID: prices.streamID, payload: Array("{}".utf8), ack: true)),
            .publish(.init(requestID: 6, streamID: orders.streamID, payload: Array("{}".utf8), ack: true))
        )
        frames += try client.received()
        let errors = frames.compactMap { frame -> (UInt32, ErrorCode)? in
            guard case .error(let error) = frame else { return nil }
            return (error.requestID, error.code)
        }
        #expect(errors.map(\.0) == [2, 3, 5], "\(frames)")
        #expect(errors.map(\.1) == [.subscribeNotGranted, .publishNotGranted, .publishNotGranted])
        #expect(frames.contains { if case .published(let p) = $0 { return p.requestID == 6 } else { return false } })
        #expect(
            frames.contains {
                if case .message(let m) = $0 { return m.streamID == orders.streamID } else { return false }
            }
        )
    }

    /// A token's connection gets the same MESSAGE bytes as an anonymous one: nothing per message.
    @Test func messagesAreByteIdenticalWithAndWithoutTokens() throws {
        let withToken = try connect(token())
        let anonymous = harness.connect()
        try anonymous.handshake()
        let a = try withToken.subscribe("news")
        let b = try anonymous.subscribe("news")
        #expect(a.streamID == b.streamID)
        let stream = try harness.broker.stream(named: "news")
        _ = try harness.broker.publish(to: stream, payload: Array(#"{"x":1}"#.utf8).span.bytes)
        harness.finishTurn()
        let first = try withToken.received()
        #expect(first == (try anonymous.received()))
        #expect(first.count == 1)
    }

    /// A token learns nothing of streams it does not cover: an existing and a missing stream get
    /// the same refusal, and STREAM_NOT_FOUND only answers names the grants cover.
    @Test func refusalsDoNotRevealWhichStreamsExist() throws {
        let other = try harness.broker.createService(friendlyName: "other")
        _ = try harness.broker.createStream(serviceSid: other.sid, uniqueName: "secret", ttl: nil)
        let client = try connect(token(grants: StreamGrants(subscribe: ["prices.*"], publish: ["prices.*"])))
        let requests: [(UInt32, String, Bool)] = [
            (1, "news", false), (2, "ghost", false),  // outside the grant: exists, does not
            (3, "news", true), (4, "ghost", true),
            (5, "\(other.sid)/secret", false), (6, "\(other.sid)/ghost", false),  // another service
            (7, "prices.gbp", false),  // covered, missing
        ]
        for (id, name, attach) in requests {
            client.send(.subscribe(.init(requestID: id, stream: name, attachOnly: attach)))
        }
        let errors = try client.received().compactMap { frame -> (UInt32, ErrorCode, String)? in
            guard case .error(let error) = frame else { return nil }
            return (error.requestID, error.code, error.message)
        }
        #expect(errors.map(\.0) == [1, 2, 3, 4, 5, 6, 7])
        #expect(
            errors.map(\.1) == [
                .subscribeNotGranted, .subscribeNotGranted, .publishNotGranted, .publishNotGranted,
                .serviceNotGranted, .serviceNotGranted, .streamNotFound,
            ]
        )
        // The existing and the missing stream's refusals differ only in the name they echo.
        #expect(errors[0].2.replacingOccurrences(of: "news", with: "ghost") == errors[1].2)
        #expect(errors[4].2.replacingOccurrences(of: "secret", with: "ghost") == errors[5].2)
    }

    /// A token's bare unique names are in the token's service, where its grant patterns apply.
    @Test func bareNamesAreInTheTokensService() throws {
        let other = try harness.broker.createService(friendlyName: "other")
        let inOther = try harness.broker.createStream(serviceSid: other.sid, uniqueName: "news", ttl: nil)
        let client = try connect(token(grants: StreamGrants(subscribe: ["news"]), serviceSid: other.sid))
        let subscribed = try client.subscribe("news", requestID: 1)
        #expect(subscribed.streamSid == inOther.sid)
        // The default service's "news", named with its service, is not the token's.
        client.send(.subscribe(.init(requestID: 2, stream: "\(harness.broker.defaultServiceSid)/news")))
        guard case .error(let error)? = try client.received().first else { throw EmbeddedError("no ERROR") }
        #expect(error.code == .serviceNotGranted)
    }
}
