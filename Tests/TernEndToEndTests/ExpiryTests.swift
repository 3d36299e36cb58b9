import Foundation
import TernWire
import Testing

/// A stream's `Ttl` end to end: it expires on time (subscribers get STREAM_ENDED reason EXPIRED,
/// REST answers 404 afterwards), and updating `Ttl` moves or cancels the expiry.
@Suite(.serialized)
struct ExpiryTests {
    /// The reason of the first STREAM_ENDED for `streamID` within `timeout` seconds, and when it
    /// came; nil if none came. Other frames are skipped.
    func streamEnd(_ client: RawDataClient, streamID: UInt32, timeout: Double) throws -> (StreamEndReason, Date)? {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let frame: Frame?
            do {
                frame = try client.next(timeout: max(0.01, deadline.timeIntervalSinceNow))
            } catch {
                return nil  // timed out
            }
            guard let frame else { return nil }
            if case .streamEnded(let id, let reason) = frame, id == streamID { return (reason, Date()) }
        }
        return nil
    }

    func subscriber(_ daemon: TernDaemon, to stream: String) throws -> (RawDataClient, UInt32) {
        let client = try RawDataClient(port: daemon.dataPort)
        try client.handshake()
        return (client, try client.subscribe(stream).streamID)
    }

    func streamsPath(_ daemon: TernDaemon) -> String { "/v1/Services/\(daemon.serviceSid)/Streams" }

    @Test func streamExpiresOnTime() throws {
        let daemon = try TernDaemon.start()
        defer { daemon.stop() }
        let created = Date()
        let sid = try daemon.createStream(uniqueName: "short-lived", ttl: 1)
        let (client, streamID) = try subscriber(daemon, to: sid)

        let ended = try #require(try streamEnd(client, streamID: streamID, timeout: 5), "no STREAM_ENDED within 5 s")
        #expect(ended.0 == .expired)
        let after = ended.1.timeIntervalSince(created)
        #expect(after >= 0.9 && after <= 2.2, "ended \(after) s after creation")

        expectTwilioError(try daemon.request("GET", "\(streamsPath(daemon))/\(sid)"), status: 404, code: 20404)
        expectTwilioError(try daemon.request("GET", "\(streamsPath(daemon))/short-lived"), status: 404, code: 20404)
        let listed = try daemon.request("GET", streamsPath(daemon)).object["streams"] as? [Any]
        #expect(listed?.isEmpty == true)
        // The unique name is free again.
        #expect(try daemon.createStream(uniqueName: "short-lived") != sid)
    }

    /// A later `Ttl` moves the expiry: the stream outlives its first deadline, then expires at the new one.
    @Test func updatingTtlExtendsTheExpiry() throws {
        let daemon = try TernDaemon.start()
        defer { daemon.stop() }
        let sid = try daemon.createStream(ttl: 1)
        let updatedAt = Date()
        let updated = try daemon.request("POST", "\(streamsPath(daemon))/\(sid)", form: [("Ttl", "3")])
        #expect(updated.status == 200)
        let expires = try #require(ControlAPITests.date(updated.object["date_expires"]))
        #expect(abs(expires.timeIntervalSince(updatedAt) - 3) <= 1.1)
        let (client, streamID) = try subscriber(daemon, to: sid)

        // Past the first deadline (1 s) plus a sweep or two, the stream is still there.
        #expect(try streamEnd(client, streamID: streamID, timeout: 1.8) == nil)
        #expect(try daemon.request("GET", "\(streamsPath(daemon))/\(sid)").status == 200)

        let ended = try #require(
            try streamEnd(client, streamID: streamID, timeout: 4),
            "no STREAM_ENDED by the new deadline"
        )
        #expect(ended.0 == .expired)
        let after = ended.1.timeIntervalSince(updatedAt)
        #expect(after >= 2.4 && after <= 4.2, "ended \(after) s after the update")
        expectTwilioError(try daemon.request("GET", "\(streamsPath(daemon))/\(sid)"), status: 404, code: 20404)
    }

    /// `Ttl=0` cancels the expiry: `date_expires` is null and the stream stays.
    @Test func ttlZeroCancelsTheExpiry() throws {
        let daemon = try TernDaemon.start()
        defer { daemon.stop() }
        let sid = try daemon.createStream(ttl: 1)
        let cleared = try daemon.request("POST", "\(streamsPath(daemon))/\(sid)", form: [("Ttl", "0")])
        #expect(cleared.status == 200)
        #expect(cleared.object["date_expires"] is NSNull)
        let (client, streamID) = try subscriber(daemon, to: sid)

        #expect(try streamEnd(client, streamID: streamID, timeout: 2.0) == nil)
        let fetched = try daemon.request("GET", "\(streamsPath(daemon))/\(sid)")
        #expect(fetched.status == 200)
        #expect(fetched.object["date_expires"] is NSNull)
        // Still a live stream: a REST publish reaches the subscriber.
        #expect(try daemon.publishREST(stream: sid, data: #"{"alive":true}"#).status == 201)
        guard case .message(let message)? = try client.next(timeout: 5) else {
            Issue.record("expected the published MESSAGE")
            return
        }
        #expect(message.streamID == streamID)
    }

    /// A shorter `Ttl` brings the expiry forward.
    @Test func updatingTtlShortensTheExpiry() throws {
        let daemon = try TernDaemon.start()
        defer { daemon.stop() }
        let sid = try daemon.createStream(ttl: 3600)
        let (client, streamID) = try subscriber(daemon, to: sid)
        let updatedAt = Date()
        #expect(try daemon.request("POST", "\(streamsPath(daemon))/\(sid)", form: [("Ttl", "1")]).status == 200)
        let ended = try #require(try streamEnd(client, streamID: streamID, timeout: 5))
        #expect(ended.0 == .expired)
        #expect(ended.1.timeIntervalSince(updatedAt) <= 2.2)
    }
}
