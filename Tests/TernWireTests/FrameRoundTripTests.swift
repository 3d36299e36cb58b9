import TernWire
import Testing

/// Every frame type survives encode → split → decode unchanged, including at the edges of its
/// fields: empty and longest strings, multi-byte UTF-8, zero and maximal integers, empty payloads.
@Suite("Frame round trips")
struct FrameRoundTripTests {
    /// A large `max_frame_body`, so strings of 65535 bytes fit.
    static let roomyMaxBody = 1 << 20

    static let maxU64 = UInt64.max
    static let maxU32 = UInt32.max
    static let maxU16 = UInt16.max

    static func text(_ count: Int, _ character: Character = "x") -> String {
        String(repeating: character, count: count)
    }

    static let frames: [Frame] = [
        .hello(.init(minVersion: 0, maxVersion: 0, clientName: "", token: "")),
        .hello(.init(minVersion: maxU16, maxVersion: maxU16, clientName: text(64), token: text(256))),
        // 16 four-byte scalars: exactly 64 bytes of client name.
        .hello(.init(clientName: text(16, "😀"), token: text(128, "é"))),
        .welcome(
            .init(
                version: 0,
                maxPayload: 0,
                maxFrameBody: 0,
                maxSubscriptions: 0,
                pingIntervalMilliseconds: 0,
                serverName: ""
            )
        ),
        .welcome(
            .init(
                version: maxU16,
                maxPayload: maxU32,
                maxFrameBody: maxU32,
                maxSubscriptions: maxU32,
                pingIntervalMilliseconds: maxU32,
                serverName: text(Int(maxU16))
            )
        ),
        .subscribe(.init(requestID: 0, stream: "")),
        .subscribe(.init(requestID: maxU32, stream: text(320), attachOnly: true)),
        .subscribe(.init(requestID: 9, stream: text(WireLimits.maxStreamFieldBytes, "a"))),
        .subscribe(.init(requestID: 9, stream: "日本語/ストリーム")),
        .subscribed(
            .init(
                requestID: 0,
                streamID: 0,
                sidPrefix: SidPrefix(value: 0),
                nextSequence: 0,
                streamSid: "",
                uniqueName: ""
            )
        ),
        .subscribed(
            .init(
                requestID: maxU32,
                streamID: maxU32,
                sidPrefix: SidPrefix(value: maxU64),
                nextSequence: maxU64,
                streamSid: "TO" + text(32, "f"),
                uniqueName: text(320),
                attachOnly: true
            )
        ),
        .unsubscribe(requestID: 0, streamID: 0),
        .unsubscribe(requestID: maxU32, streamID: maxU32),
        .unsubscribed(requestID: 0, streamID: 0),
        .unsubscribed(requestID: maxU32, streamID: maxU32),
        .publish(.init(requestID: 0, streamID: 0, payload: [])),
        .publish(.init(requestID: maxU32, streamID: maxU32, payload: Array(repeating: 0xFF, count: 8184), ack: true)),
        .published(.init(requestID: 0, streamID: 0, sidPrefix: SidPrefix(value: 0), sequence: 0)),
        .published(.init(requestID: maxU32, streamID: maxU32, sidPrefix: SidPrefix(value: maxU64), sequence: maxU64)),
        .message(.init(streamID: 0, sequence: 0, payload: [])),
        .message(.init(streamID: maxU32, sequence: maxU64, payload: Array(0...255))),
        .dropped(.init(streamID: 0, count: 0, reason: .slowConsumer)),
        .dropped(.init(streamID: maxU32, count: maxU64, reason: .lapped)),
        .streamEnded(streamID: 0, reason: .deleted),
        .streamEnded(streamID: maxU32, reason: .expired),
        .streamEnded(streamID: 1, reason: .shutdown),
        .error(.init(requestID: 0, code: .malformedFrame, message: "")),
        .error(.init(requestID: maxU32, code: .rateLimited, message: text(1024))),
        // A request-level code marked fatal, and a fatal code marked request-level: the flag wins.
        .error(.init(requestID: 1, code: .streamNotFound, message: "x", fatal: true)),
        .error(.init(requestID: 1, code: .helloRequired, message: "x", fatal: false)),
        .ping(0),
        .ping(maxU64),
        .pong(0),
        .pong(maxU64),
        .refreshToken(requestID: 0, token: ""),
        .refreshToken(requestID: maxU32, token: text(WireLimits.maxTokenBytes)),
        .tokenExpiring(.init(expiresAt: 0, remainingMilliseconds: 0)),
        .tokenExpiring(.init(expiresAt: maxU64, remainingMilliseconds: maxU32)),
        .tokenRefreshed(requestID: 0, expiresAt: 0),
        .tokenRefreshed(requestID: maxU32, expiresAt: maxU64),
        .streamEnded(streamID: 2, reason: .tokenExpired),
        .streamEnded(streamID: 3, reason: .keyRevoked),
        .resume(.init(requestID: 0, sidPrefix: SidPrefix(value: 0), afterSequence: 0, stream: "a")),
        .resume(
            .init(requestID: maxU32, sidPrefix: SidPrefix(value: maxU64), afterSequence: maxU64, stream: text(1315))
        ),
        .resumed(.init(requestID: 0, streamID: 0, outcome: .continued)),
        .resumed(.init(requestID: maxU32, streamID: maxU32, outcome: .restarted)),
        .lane(.init(streamID: 3, laneID: 9, sidPrefix: SidPrefix(value: 0x0102_0304_0506_0708), nextSequence: 41)),
        .lane(.init(streamID: maxU32, laneID: maxU32, sidPrefix: SidPrefix(value: .max), nextSequence: .max)),
        .dropped(.init(streamID: 1, count: 1, reason: .notRetained)),
        .subscribeShared(requestID: 0, stream: "a"),
        .subscribeShared(requestID: maxU32, stream: text(1315)),
        .ringMapped(.init(requestID: 0, streamID: 0, headerBytes: 0, ringBytes: 0, startPosition: 0)),
        .ringMapped(
            .init(requestID: maxU32, streamID: maxU32, headerBytes: maxU32, ringBytes: maxU64, startPosition: maxU64)
        ),
        .ringLoss(requestID: 0, streamID: 0, count: 0),
        .ringLoss(requestID: maxU32, streamID: maxU32, count: maxU64),
        .dropped(.init(streamID: 1, count: 1, reason: .ringLapped)),
    ]

    @Test("encode then decode gives the same frame", arguments: frames)
    func roundTrip(frame: Frame) throws {
        let bytes = frame.encoded()
        #expect(Int(bytes.count) == WireLimits.headerSize + Int(bodyLength(bytes)))
        #expect(bytes[4] == frame.type.rawValue)
        #expect(try splitAndDecode(bytes, maxBody: Self.roomyMaxBody) == .frame(frame))
    }

    @Test("the frame table covers every frame type")
    func tableCoversEveryType() {
        #expect(Set(Self.frames.map(\.type)) == Set(FrameType.allCases))
    }

    @Test("every error code round-trips and keeps its default fatality", arguments: ErrorCode.allCases)
    func errorCodes(code: ErrorCode) throws {
        let frame = Frame.error(.init(requestID: 3, code: code, message: code.name))
        guard case .error(let error) = frame else { return }
        #expect(error.fatal == (code.rawValue < 100))
        #expect(frame.encoded()[5] == (error.fatal ? FrameFlags.fatal : 0))
        #expect(try splitAndDecode(frame.encoded()) == .frame(frame))
    }

    @Test("encode(into:) appends to what is already there")
    func encodeAppends() {
        var out: [UInt8] = [0xAA]
        Frame.ping(1).encode(into: &out)
        Frame.pong(2).encode(into: &out)
        #expect(out == [0xAA] + Frame.ping(1).encoded() + Frame.pong(2).encoded())
    }

    @Test("the encoder cuts an over-long string at its limit, on a character boundary")
    func encoderCutsLongStrings() throws {
        // 65 ASCII bytes: cut to 64.
        let ascii = Frame.hello(.init(clientName: Self.text(65)))
        #expect(try splitAndDecode(ascii.encoded()) == .frame(.hello(.init(clientName: Self.text(64)))))
        // 2-byte scalars starting at an odd offset: the cut at 64 would split "é", so 63 bytes remain.
        let accented = Frame.hello(.init(clientName: "x" + Self.text(40, "é")))
        #expect(try splitAndDecode(accented.encoded()) == .frame(.hello(.init(clientName: "x" + Self.text(31, "é")))))
        // An ERROR message is cut at 1024 bytes.
        let error = Frame.error(.init(requestID: 1, code: .malformedFrame, message: Self.text(2000)))
        #expect(
            try splitAndDecode(error.encoded())
                == .frame(.error(.init(requestID: 1, code: .malformedFrame, message: Self.text(1024))))
        )
        // An echoed name of 3-byte scalars after two ASCII bytes: 2 + 3 × 340 = 1022 bytes remain,
        // never a split scalar.
        let echoed = Frame.error(.init(requestID: 2, code: .streamNotFound, message: "xx" + Self.text(400, "日")))
        #expect(
            try splitAndDecode(echoed.encoded())
                == .frame(.error(.init(requestID: 2, code: .streamNotFound, message: "xx" + Self.text(340, "日"))))
        )
    }

    private func bodyLength(_ bytes: [UInt8]) -> UInt32 {
        bytes[0..<4].reduce(0) { $0 << 8 | UInt32($1) }
    }
}

extension Frame: CustomTestStringConvertible {
    public var testDescription: String {
        let text = String(describing: self)
        return text.count > 120 ? String(text.prefix(117)) + "…" : text
    }
}
