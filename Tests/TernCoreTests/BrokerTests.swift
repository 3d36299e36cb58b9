import TernCore
import TernWire
import Testing

/// The broker core without any port in front: streams, names, Ttl, deletion and publishing.
@Suite("Broker")
struct BrokerTests {
    let broker: Broker
    var service: String { broker.defaultServiceSid }

    init() throws {
        broker = try Broker(
            limits: BrokerLimits(),
            accountSid: Sid.generate(.account),
            defaultServiceSid: Sid.generate(.service)
        )
    }

    func publish(_ text: String, to stream: BrokerStream) throws -> UInt64 {
        try broker.publish(to: stream, payload: Array(text.utf8).span.bytes)
    }

    func publishError(_ bytes: [UInt8], to stream: BrokerStream) -> BrokerError? {
        do {
            _ = try broker.publish(to: stream, payload: bytes.span.bytes)
            return nil
        } catch {
            return error
        }
    }

    func createError(uniqueName: String?, ttl: Int? = nil, service: String? = nil) -> BrokerError? {
        do {
            _ = try broker.createStream(serviceSid: service ?? self.service, uniqueName: uniqueName, ttl: ttl)
            return nil
        } catch {
            return error
        }
    }

    // MARK: Services

    @Test("the default service exists and is the only one")
    func defaultService() throws {
        let service = try #require(broker.service(sid: self.service))
        #expect(service.accountSid == broker.accountSid)
        #expect(broker.allServices() == [service])
        #expect(broker.service(sid: Sid.generate(.service)) == nil)
    }

    // MARK: Creating and finding streams

    @Test("a created stream is found by sid, unique name, id and data-port name")
    func createAndFetch() throws {
        let stream = try broker.createStream(serviceSid: service, uniqueName: "prices", ttl: nil)
        #expect(Sid.isSid(stream.sid, of: .stream))
        #expect(stream.serviceSid == service)
        #expect(stream.accountSid == broker.accountSid)
        #expect(stream.uniqueName == "prices")
        #expect(stream.dateExpires == nil)
        #expect(stream.ended == nil)
        #expect(stream.nextSequence == 1)
        #expect(try broker.stream(serviceSid: service, key: stream.sid) === stream)
        #expect(try broker.stream(serviceSid: service, key: "prices") === stream)
        #expect(broker.stream(id: stream.id) === stream)
        #expect(try broker.stream(named: stream.sid) === stream)
        #expect(try broker.stream(named: "prices") === stream)
        #expect(try broker.stream(named: "\(service)/prices") === stream)
        #expect(try broker.stream(named: "\(service)/\(stream.sid)") === stream)
        #expect(broker.streamCount == 1)
        #expect(try broker.streams(serviceSid: service).map(\.sid) == [stream.sid])
        let snapshot = stream.snapshot
        #expect(snapshot.sid == stream.sid && snapshot.uniqueName == "prices" && snapshot.serviceSid == service)
    }

    @Test("streams without a unique name are distinct, with distinct ids, listed in creation order")
    func anonymousStreams() throws {
        let streams = try (0..<5).map { _ in try broker.createStream(serviceSid: service, uniqueName: nil, ttl: nil) }
        #expect(Set(streams.map(\.sid)).count == 5)
        #expect(Set(streams.map(\.id)).count == 5)
        #expect(streams.allSatisfy { $0.uniqueName == nil })
        #expect(try broker.streams(serviceSid: service).map(\.sid) == streams.map(\.sid))
    }

    @Test("looking up what does not exist fails with the right error")
    func notFound() throws {
        let missingSid = Sid.generate(.stream)
        #expect(throws: BrokerError.streamNotFound(missingSid)) {
            try broker.stream(serviceSid: service, key: missingSid)
        }
        #expect(throws: BrokerError.streamNotFound("nope")) { try broker.stream(serviceSid: service, key: "nope") }
        #expect(throws: BrokerError.streamNotFound("nope")) { try broker.stream(named: "nope") }
        let otherService = Sid.generate(.service)
        #expect(throws: BrokerError.serviceNotFound(otherService)) {
            try broker.stream(named: "\(otherService)/prices")
        }
        #expect(throws: BrokerError.serviceNotFound(otherService)) { try broker.streams(serviceSid: otherService) }
        #expect(createError(uniqueName: "x", service: otherService) == .serviceNotFound(otherService))
        #expect(broker.stream(id: 999) == nil)
    }

    @Test("a stream's sid is not found through another service")
    func sidScopedToService() throws {
        let stream = try broker.createStream(serviceSid: service, uniqueName: nil, ttl: nil)
        let otherService = Sid.generate(.service)
        #expect(throws: BrokerError.serviceNotFound(otherService)) {
            try broker.stream(serviceSid: otherService, key: stream.sid)
        }
    }

    // MARK: Unique names

    @Test("a unique name is taken once per service, and free again after delete")
    func uniqueNameCollision() throws {
        let first = try broker.createStream(serviceSid: service, uniqueName: "orders", ttl: nil)
        #expect(createError(uniqueName: "orders") == .uniqueNameTaken("orders"))
        // Names are case-sensitive and exact.
        _ = try broker.createStream(serviceSid: service, uniqueName: "Orders", ttl: nil)
        _ = try broker.createStream(serviceSid: service, uniqueName: "orders ", ttl: nil)
        #expect(try broker.deleteStream(first))
        let second = try broker.createStream(serviceSid: service, uniqueName: "orders", ttl: nil)
        #expect(second.sid != first.sid)
        #expect(second.id != first.id)
        #expect(try broker.stream(named: "orders") === second)
    }

    @Test("the same unique name exists once per service, and lookups stay within their service")
    func uniqueNamePerService() throws {
        let other = try broker.createService(friendlyName: "other")
        let here = try broker.createStream(serviceSid: service, uniqueName: "orders", ttl: nil)
        let there = try broker.createStream(serviceSid: other.sid, uniqueName: "orders", ttl: nil)
        #expect(here.sid != there.sid)
        #expect(there.serviceSid == other.sid)
        #expect(createError(uniqueName: "orders", service: other.sid) == .uniqueNameTaken("orders"))
        #expect(try broker.stream(serviceSid: service, key: "orders") === here)
        #expect(try broker.stream(serviceSid: other.sid, key: "orders") === there)
        // A bare name on the data port means the default service; `<ServiceSid>/<name>` any other.
        #expect(try broker.stream(named: "orders") === here)
        #expect(try broker.stream(named: "\(other.sid)/orders") === there)
        // A sid is found through its own service only (and, on the data port, directly).
        #expect(throws: BrokerError.streamNotFound(there.sid)) {
            try broker.stream(serviceSid: service, key: there.sid)
        }
        #expect(try broker.stream(named: there.sid) === there)
        #expect(try broker.streams(serviceSid: other.sid).map(\.sid) == [there.sid])
        #expect(try broker.streams(serviceSid: service).map(\.sid) == [here.sid])
    }

    static let invalidNames: [String] = [
        "",
        String(repeating: "n", count: 321),
        "TO0123456789abcdef0123456789abcdef",
        "IS0123456789ABCDEF0123456789ABCDEF",
        "ZZ00000000000000000000000000000000",
    ]

    @Test("empty, over-long and sid-shaped unique names are refused", arguments: invalidNames)
    func invalidUniqueNames(name: String) {
        guard case .invalidUniqueName = createError(uniqueName: name) else {
            Issue.record("\(name.prefix(40)) was not refused as an invalid unique name")
            return
        }
        #expect(BrokerError.invalidUniqueName("x").wireCode == .invalidStreamName)
    }

    @Test("unique names of up to 320 characters, and ones merely close to a sid, are accepted")
    func validUniqueNames() throws {
        for name in [
            "a", String(repeating: "n", count: 320), "TO0123456789abcdef0123456789abcde",
            "TO0123456789abcdef0123456789abcdefg",
            "to0123456789abcdef0123456789abcdef", "prices/eu", "日本語", "with space",
        ] {
            let stream = try broker.createStream(serviceSid: service, uniqueName: name, ttl: nil)
            #expect(try broker.stream(serviceSid: service, key: name) === stream, "\(name.prefix(40))")
        }
    }

    @Test("a data-port name counts 1 to 320 scalars after any <ServiceSid>/, and only the first / can split")
    func subscribeNames() throws {
        let other = try broker.createService(friendlyName: "other")
        let long = String(repeating: "n", count: 320)
        let there = try broker.createStream(serviceSid: other.sid, uniqueName: long, ttl: nil)
        #expect(try broker.stream(named: "\(other.sid)/\(long)") === there)
        let tooLong = "\(other.sid)/\(long)n"
        guard case .invalidUniqueName? = Self.namedError(broker, tooLong) else {
            Issue.record("321 scalars after a service prefix were not refused as a name")
            return
        }
        for bad in ["", "\(other.sid)/", String(repeating: "n", count: 321)] {
            guard case .invalidUniqueName? = Self.namedError(broker, bad) else {
                Issue.record("'\(bad.prefix(40))' was not refused as a name")
                continue
            }
        }
        // 320 scalars in 4-byte UTF-8 (1280 bytes) is a valid name.
        let wide = String(repeating: "😀", count: 320)
        let widest = try broker.createStream(serviceSid: other.sid, uniqueName: wide, ttl: nil)
        #expect(try broker.stream(named: "\(other.sid)/\(wide)") === widest)
        // "é" as e + combining accent is two scalars: 161 of them are over the limit.
        let decomposed = String(repeating: "e\u{301}", count: 161)
        #expect(createError(uniqueName: decomposed) != nil)
        guard case .invalidUniqueName? = Self.namedError(broker, decomposed) else {
            Issue.record("322 scalars were not refused as a name")
            return
        }
        // A "/" not after a service sid is part of the name; after one, the rest may hold more.
        let slashed = try broker.createStream(serviceSid: service, uniqueName: "a/b", ttl: nil)
        #expect(try broker.stream(named: "a/b") === slashed)
        let nested = try broker.createStream(serviceSid: other.sid, uniqueName: "x/y", ttl: nil)
        #expect(try broker.stream(named: "\(other.sid)/x/y") === nested)
    }

    static func namedError(_ broker: Broker, _ name: String) -> BrokerError? {
        do {
            _ = try broker.stream(named: name)
            return nil
        } catch {
            return error
        }
    }

    // MARK: Ttl

    @Test("Ttl nil and 0 mean never; a positive Ttl sets the expiry; the maximum is allowed")
    func ttlAccepted() throws {
        let now = UnixTime(milliseconds: 1_700_000_000_000)
        let never = try broker.createStream(serviceSid: service, uniqueName: nil, ttl: nil, now: now)
        #expect(never.dateExpires == nil)
        let zero = try broker.createStream(serviceSid: service, uniqueName: nil, ttl: 0, now: now)
        #expect(zero.dateExpires == nil)
        let minute = try broker.createStream(serviceSid: service, uniqueName: nil, ttl: 60, now: now)
        #expect(minute.dateExpires == now.adding(seconds: 60))
        #expect(minute.dateCreated == now && minute.dateUpdated == now)
        let longest = try broker.createStream(
            serviceSid: service,
            uniqueName: nil,
            ttl: broker.limits.maxTtlSeconds,
            now: now
        )
        #expect(longest.dateExpires == now.adding(seconds: 31_536_000))
    }

    @Test("a negative Ttl or one above the maximum is refused", arguments: [-1, -3600, 31_536_001, Int.max])
    func ttlRefused(ttl: Int) {
        guard case .invalidTtl = createError(uniqueName: nil, ttl: ttl) else {
            Issue.record("Ttl \(ttl) was not refused")
            return
        }
    }

    @Test("updating the Ttl changes the expiry and the update date, and validates the same way")
    func updateTtl() throws {
        let created = UnixTime(milliseconds: 1_700_000_000_000)
        let stream = try broker.createStream(serviceSid: service, uniqueName: nil, ttl: nil, now: created)
        let later = created.adding(seconds: 10)
        try broker.updateStream(stream, ttl: 5, now: later)
        #expect(stream.dateExpires == later.adding(seconds: 5))
        #expect(stream.dateUpdated == later)
        #expect(stream.dateCreated == created)
        try broker.updateStream(stream, ttl: 0, now: later.adding(seconds: 1))
        #expect(stream.dateExpires == nil)
        #expect(throws: BrokerError.self) { try broker.updateStream(stream, ttl: -5) }
        #expect(stream.dateExpires == nil)
    }

    // MARK: Deleting

    @Test("a deleted stream is gone from every index, ends once, and refuses publishes")
    func delete() throws {
        let stream = try broker.createStream(serviceSid: service, uniqueName: "gone", ttl: nil)
        #expect(try broker.deleteStream(stream))
        #expect(stream.ended == .deleted)
        #expect(try !broker.deleteStream(stream))
        #expect(try !broker.deleteStream(stream, reason: .expired))
        #expect(stream.ended == .deleted)
        #expect(broker.stream(id: stream.id) == nil)
        #expect(throws: BrokerError.streamNotFound(stream.sid)) { try broker.stream(named: stream.sid) }
        #expect(throws: BrokerError.streamNotFound("gone")) { try broker.stream(named: "gone") }
        #expect(broker.streamCount == 0)
        #expect(try broker.streams(serviceSid: service).isEmpty)
        #expect(publishError(Array("{}".utf8), to: stream) == .streamNotFound(stream.sid))
        // Refused under the publish lock, before a sequence is taken, on both publish paths.
        #expect(stream.nextSequence == 1)
        var frame: [UInt8] = []
        Frame.publish(.init(requestID: 1, streamID: stream.id, payload: Array("{}".utf8))).encode(into: &frame)
        let refused = frame.withUnsafeBytes { raw in
            Result { () throws(BrokerError) in
                let header = try! FrameHeader.parse(raw, maxBody: raw.count)
                var run = PayloadRun(capacity: 1)
                run.append(
                    try! PublishView(
                        header: header,
                        body: UnsafeRawBufferPointer(rebasing: raw[WireLimits.headerSize...])
                    )
                )
                return try broker.publish(to: stream, validatedRun: run)
            }
        }
        guard case .failure(.streamNotFound) = refused else {
            Issue.record("a run published to an ended stream: \(refused)")
            return
        }
        #expect(stream.nextSequence == 1)
    }

    @Test("the end reason is kept", arguments: [StreamEndReason.expired, .shutdown])
    func endReason(reason: StreamEndReason) throws {
        let stream = try broker.createStream(serviceSid: service, uniqueName: nil, ttl: nil)
        #expect(try broker.deleteStream(stream, reason: reason))
        #expect(stream.ended == reason)
    }

    // MARK: Publishing

    @Test("sequences start at 1 and increase by one per accepted message")
    func sequences() throws {
        let stream = try broker.createStream(serviceSid: service, uniqueName: nil, ttl: nil)
        let other = try broker.createStream(serviceSid: service, uniqueName: nil, ttl: nil)
        let before = broker.messagesPublished.load(ordering: .relaxed)
        for expected in UInt64(1)...100 {
            #expect(try publish(#"{"n":\#(expected)}"#, to: stream) == expected)
        }
        #expect(stream.nextSequence == 101)
        // A refused message takes no sequence.
        #expect(publishError(Array("[]".utf8), to: stream) == .invalidPayload)
        #expect(try publish("{}", to: stream) == 101)
        // Sequences are per stream.
        #expect(try publish("{}", to: other) == 1)
        #expect(broker.messagesPublished.load(ordering: .relaxed) - before == 102)
    }

    @Test("a payload above max_payload is refused; exactly max_payload is accepted")
    func payloadSize() throws {
        let stream = try broker.createStream(serviceSid: service, uniqueName: nil, ttl: nil)
        let limit = broker.limits.maxPayload
        func object(ofSize size: Int) -> [UInt8] {
            Array(#"{"p":""#.utf8) + [UInt8](repeating: UInt8(ascii: "x"), count: size - 8) + Array(#""}"#.utf8)
        }
        #expect(object(ofSize: limit).count == limit)
        #expect(JSONObjectValidator.isObject(object(ofSize: limit)))
        #expect(publishError(object(ofSize: limit), to: stream) == nil)
        let error = publishError(object(ofSize: limit + 1), to: stream)
        #expect(error == .payloadTooLarge(size: limit + 1, limit: limit))
        #expect(error?.wireCode == .payloadTooLarge)
        #expect(stream.nextSequence == 2)
    }

    @Test(
        "a payload that is not a JSON object is refused",
        arguments: ["", "[]", "1", "\"s\"", "null", "{", "{}x", "{'a':1}"]
    )
    func notAnObject(text: String) throws {
        let stream = try broker.createStream(serviceSid: service, uniqueName: nil, ttl: nil)
        let error = publishError(Array(text.utf8), to: stream)
        #expect(error == .invalidPayload)
        #expect(error?.wireCode == .invalidPayload)
        #expect(stream.nextSequence == 1)
    }

    @Test("with a reader, each message lands in the ring as the MESSAGE frame subscribers get")
    func publishIntoRing() throws {
        let stream = try broker.createStream(serviceSid: service, uniqueName: nil, ttl: nil)
        // Published before anyone reads: accepted and not kept.
        #expect(try publish(#"{"early":true}"#, to: stream) == 1)
        let start = stream.addReader(group: 0, ringCapacity: 4096)
        #expect(start.nextSequence == 2)
        #expect(stream.deliveringGroups == 1)
        let payloads = [#"{"a":1}"#, "{}", #"{"b":[1,2,3]}"#]
        var expected: [UInt8] = []
        for (offset, payload) in payloads.enumerated() {
            let sequence = try publish(payload, to: stream)
            #expect(sequence == UInt64(offset + 2))
            expected += Frame.message(.init(streamID: stream.id, sequence: sequence, payload: Array(payload.utf8)))
                .encoded()
        }
        let destination = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 8)
        defer { destination.deallocate() }
        let result = start.ring.read(from: start.cursor, into: destination)
        #expect(!result.lapped)
        #expect(Array(destination[..<result.bytes]) == expected)
        stream.removeReader(group: 0)
        #expect(stream.deliveringGroups == 0)
    }

    // MARK: Errors and limits

    @Test("every broker error maps to its data-port code and says something")
    func errorMapping() {
        let cases: [(BrokerError, ErrorCode)] = [
            (.serviceNotFound("IS1"), .streamNotFound), (.streamNotFound("s"), .streamNotFound),
            (.uniqueNameTaken("n"), .invalidStreamName), (.invalidUniqueName("w"), .invalidStreamName),
            (.invalidTtl("w"), .invalidStreamName), (.payloadTooLarge(size: 2, limit: 1), .payloadTooLarge),
            (.invalidPayload, .invalidPayload),
        ]
        for (error, code) in cases {
            #expect(error.wireCode == code)
            #expect(!error.message.isEmpty)
        }
    }

    @Test("limit settings are checked")
    func limitProblems() {
        #expect(BrokerLimits().problems().isEmpty)
        var tiny = BrokerLimits()
        tiny.maxPayload = 1
        #expect(tiny.problems().count == 1)
        var notPowerOfTwo = BrokerLimits()
        notPowerOfTwo.ringBytes = 5000
        #expect(notPowerOfTwo.problems().count == 1)
        var ringTooSmall = BrokerLimits()
        ringTooSmall.ringBytes = 8192
        #expect(ringTooSmall.problems().count == 1)
        ringTooSmall.maxPayload = 8192 / 2 - MessageFrame.prefixSize
        #expect(ringTooSmall.problems().isEmpty)
    }
}
