import TernWire
import Testing

/// Bodies and headers that break protocol.md's rules are refused with the right code, and
/// nothing is read past a body whatever its fields claim.
@Suite("Decoding rejects malformed frames")
struct DecodingRejectionTests {
    /// Frames whose bodies are fixed fields only (no `rest`): any truncation or extra byte is malformed.
    static let fixedBodyFrames: [Frame] = [
        .hello(.init(clientName: "worker", token: "t")),
        .welcome(
            .init(
                version: 1,
                maxPayload: 1,
                maxFrameBody: 2,
                maxSubscriptions: 3,
                pingIntervalMilliseconds: 4,
                serverName: "s"
            )
        ),
        .subscribe(.init(requestID: 1, stream: "prices")),
        .subscribed(
            .init(
                requestID: 1,
                streamID: 2,
                sidPrefix: SidPrefix(value: 3),
                nextSequence: 4,
                streamSid: "TO",
                uniqueName: "u"
            )
        ),
        .unsubscribe(requestID: 1, streamID: 2),
        .unsubscribed(requestID: 1, streamID: 2),
        .published(.init(requestID: 1, streamID: 2, sidPrefix: SidPrefix(value: 3), sequence: 4)),
        .dropped(.init(streamID: 1, count: 2, reason: .lapped)),
        .streamEnded(streamID: 1, reason: .deleted),
        .error(.init(requestID: 1, code: .streamNotFound, message: "m")),
        .ping(1),
        .pong(2),
    ]

    @Test("a body cut short anywhere is malformed", arguments: fixedBodyFrames)
    func truncatedBody(frame: Frame) {
        let bytes = frame.encoded()
        let body = Array(bytes[WireLimits.headerSize...])
        for cut in 0..<body.count {
            let error = wireError { try splitAndDecode(reframed(bytes, body: Array(body[..<cut]))) }
            #expect(error?.code == .malformedFrame, "\(frame.type) body cut to \(cut) of \(body.count) bytes")
        }
    }

    @Test("a byte after the last field is malformed", arguments: fixedBodyFrames)
    func trailingByte(frame: Frame) {
        let bytes = frame.encoded()
        let body = Array(bytes[WireLimits.headerSize...]) + [0]
        let error = wireError { try splitAndDecode(reframed(bytes, body: body)) }
        #expect(error?.code == .malformedFrame)
    }

    @Test("PUBLISH and MESSAGE: a body shorter than the fixed fields is malformed, any payload is fine")
    func restBodies() throws {
        for frame in [
            Frame.publish(.init(requestID: 1, streamID: 2, payload: [])),
            .message(.init(streamID: 1, sequence: 2, payload: [])),
        ] {
            let bytes = frame.encoded()
            let fixed = Array(bytes[WireLimits.headerSize...])
            for cut in 0..<fixed.count {
                let error = wireError { try splitAndDecode(reframed(bytes, body: Array(fixed[..<cut]))) }
                #expect(error?.code == .malformedFrame, "\(frame.type) body cut to \(cut)")
            }
            // Whatever follows the fixed fields is the payload, even bytes that are not JSON.
            let withPayload = reframed(bytes, body: fixed + [0x00, 0xFF])
            guard case .frame(let decoded) = try splitAndDecode(withPayload) else {
                Issue.record("\(frame.type) with a payload did not decode")
                continue
            }
            switch decoded {
            case .publish(let publish): #expect(publish.payload == [0x00, 0xFF])
            case .message(let message): #expect(message.payload == [0x00, 0xFF])
            default: Issue.record("decoded \(decoded) from \(frame.type)")
            }
        }
    }

    /// A HELLO body with raw string bytes, for limits and encodings the encoder would not produce.
    static func helloBody(clientName: [UInt8], token: [UInt8] = []) -> [UInt8] {
        var writer = WireWriter()
        writer.u16(1)
        writer.u16(1)
        writer.u16(UInt16(clientName.count))
        writer.raw(clientName)
        writer.u16(UInt16(token.count))
        writer.raw(token)
        return writer.bytes
    }

    static func frame(_ type: FrameType, flags: UInt8 = 0, body: [UInt8]) -> [UInt8] {
        var writer = WireWriter()
        writer.u32(UInt32(body.count))
        writer.u8(type.rawValue)
        writer.u8(flags)
        writer.u16(0)
        writer.raw(body)
        return writer.bytes
    }

    @Test("strings at their limit decode; one byte more is malformed")
    func stringLimits() throws {
        let x = UInt8(ascii: "x")
        let token = WireLimits.maxTokenBytes
        let atLimit = Self.frame(
            .hello,
            body: Self.helloBody(clientName: .init(repeating: x, count: 64), token: .init(repeating: x, count: token))
        )
        #expect(
            try splitAndDecode(atLimit)
                == .frame(
                    .hello(
                        .init(
                            clientName: String(repeating: "x", count: 64),
                            token: String(repeating: "x", count: token)
                        )
                    )
                )
        )
        for body in [
            Self.helloBody(clientName: .init(repeating: x, count: 65)),
            Self.helloBody(clientName: [], token: .init(repeating: x, count: token + 1)),
        ] {
            #expect(wireError { try splitAndDecode(Self.frame(.hello, body: body)) }?.code == .malformedFrame)
        }
        var error = WireWriter()
        error.u32(1)
        error.u16(ErrorCode.streamNotFound.rawValue)
        error.u16(1025)
        error.raw([UInt8](repeating: x, count: 1025))
        #expect(wireError { try splitAndDecode(Self.frame(.error, body: error.bytes)) }?.code == .malformedFrame)
        // SUBSCRIBE's stream: `<ServiceSid>/` (35 bytes) and 320 four-byte scalars at most.
        #expect(WireLimits.maxStreamFieldBytes == 1315)
        for (count, fits) in [(WireLimits.maxStreamFieldBytes, true), (WireLimits.maxStreamFieldBytes + 1, false)] {
            var subscribe = WireWriter()
            subscribe.u32(1)
            subscribe.u16(UInt16(count))
            subscribe.raw([UInt8](repeating: x, count: count))
            let bytes = Self.frame(.subscribe, body: subscribe.bytes)
            if fits {
                #expect(
                    try splitAndDecode(bytes)
                        == .frame(.subscribe(.init(requestID: 1, stream: String(repeating: "x", count: count))))
                )
            } else {
                #expect(wireError { try splitAndDecode(bytes) }?.code == .malformedFrame)
            }
        }
    }

    @Test(
        "the largest HELLO and REFRESH_TOKEN pass the header check whatever max_frame_body is; one byte more does not"
    )
    func largestTokenFrames() throws {
        let token = String(repeating: "x", count: WireLimits.maxTokenBytes)
        let hello = Frame.hello(.init(clientName: String(repeating: "x", count: 64), token: token))
        let refresh = Frame.refreshToken(requestID: 1, token: token)
        #expect(hello.encoded().count == WireLimits.headerSize + WireLimits.maxHelloBody)
        #expect(refresh.encoded().count == WireLimits.headerSize + WireLimits.maxRefreshTokenBody)
        #expect(WireLimits.maxHelloBody == 8264 && WireLimits.maxRefreshTokenBody == 8198)
        for frame in [hello, refresh] {
            let bytes = frame.encoded()
            let splitter = FrameSplitter(maxBody: 1024)
            let slice = try bytes.withUnsafeBytes { try splitter.next(in: $0, at: 0) }
            #expect(slice?.end == bytes.count)
            let decoded = try bytes.withUnsafeBytes { raw in
                try Frame.decode(
                    header: slice!.header,
                    body: UnsafeRawBufferPointer(rebasing: raw[WireLimits.headerSize...])
                )
            }
            #expect(decoded == frame)
            var oneMore = bytes
            oneMore[3] &+= 1
            let refused = wireError { _ = try oneMore.withUnsafeBytes { try splitter.next(in: $0, at: 0) } }
            #expect(refused?.code == .frameTooLarge)
        }
        // Other types stay held to max_frame_body.
        let ping = [UInt8](Frame.ping(1).encoded().prefix(4)) + [0x05, 0, 0, 0]
        var large = ping
        large[2] = 0x08  // 2048 bytes
        #expect(
            wireError { _ = try large.withUnsafeBytes { try FrameSplitter(maxBody: 1024).next(in: $0, at: 0) } }?.code
                == .frameTooLarge
        )
    }

    @Test("before HELLO only HELLO passes; after it, HELLO and server-to-client types are unexpected")
    func admission() {
        for type in FrameType.allCases {
            let before = wireError { try ClientFrameRules.check(type, helloAccepted: false) }
            let expectedBefore: ErrorCode? = type == .hello ? nil : .helloRequired
            #expect(before?.code == expectedBefore, "\(type) before HELLO")
            let after = wireError { try ClientFrameRules.check(type, helloAccepted: true) }
            let expectedAfter: ErrorCode? = type == .hello || type.rawValue >= 0x80 ? .unexpectedFrame : nil
            #expect(after?.code == expectedAfter, "\(type) after HELLO")
            // On a version-1 connection the version-2 types are unknown.
            let onVersion1 = wireError { try ClientFrameRules.check(type, helloAccepted: true, version: 1) }
            let unknownOnVersion1 = type.sinceVersion > 1 && type.isClientToServer
            #expect(onVersion1?.code == (unknownOnVersion1 ? .unknownFrameType : expectedAfter), "\(type) on version 1")
            // On a version-2 connection the version-3 types (shared memory) are unknown.
            let onVersion2 = wireError { try ClientFrameRules.check(type, helloAccepted: true, version: 2) }
            let unknownOnVersion2 = type.sinceVersion > 2 && type.isClientToServer
            #expect(onVersion2?.code == (unknownOnVersion2 ? .unknownFrameType : expectedAfter), "\(type) on version 2")
        }
    }

    @Test("HELLO gets the highest version both sides speak")
    func versionChoice() throws {
        #expect(try ClientFrameRules.version(for: .init(minVersion: 1, maxVersion: 1, clientName: "")) == 1)
        #expect(try ClientFrameRules.version(for: .init(minVersion: 1, maxVersion: 2, clientName: "")) == 2)
        #expect(try ClientFrameRules.version(for: .init(minVersion: 2, maxVersion: 9, clientName: "")) == 3)
        for (low, high) in [(UInt16(4), UInt16(5)), (0, 0), (2, 1)] {
            #expect(
                wireError {
                    try ClientFrameRules.version(for: .init(minVersion: low, maxVersion: high, clientName: ""))
                }?.code == .unsupportedVersion
            )
        }
    }

    /// Byte sequences that are not UTF-8: stray continuation, invalid lead bytes, an overlong
    /// encoding, a UTF-16 surrogate, a scalar above U+10FFFF, a sequence cut short.
    static let notUTF8: [[UInt8]] = [
        [0x80], [0xFF], [0xFE], [0xC0, 0xAF], [0xE0, 0x80, 0xAF], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80],
        [0x61, 0xC3], [0xE2, 0x82],
    ]

    @Test("a string that is not UTF-8 is malformed, in every string field", arguments: notUTF8)
    func notUTF8Strings(bad: [UInt8]) {
        var subscribe = WireWriter()
        subscribe.u32(1)
        subscribe.u16(UInt16(bad.count))
        subscribe.raw(bad)
        var subscribed = WireWriter()
        subscribed.u32(1)
        subscribed.u32(2)
        subscribed.u64(3)
        subscribed.u64(4)
        subscribed.u16(UInt16(bad.count))
        subscribed.raw(bad)
        subscribed.u16(0)
        var error = WireWriter()
        error.u32(1)
        error.u16(1)
        error.u16(UInt16(bad.count))
        error.raw(bad)
        var welcome = WireWriter()
        welcome.u16(1)
        for _ in 0..<4 { welcome.u32(1) }
        welcome.u16(UInt16(bad.count))
        welcome.raw(bad)
        let frames = [
            Self.frame(.hello, body: Self.helloBody(clientName: bad)),
            Self.frame(.hello, body: Self.helloBody(clientName: [], token: bad)),
            Self.frame(.welcome, body: welcome.bytes),
            Self.frame(.subscribe, body: subscribe.bytes),
            Self.frame(.subscribed, body: subscribed.bytes),
            Self.frame(.error, body: error.bytes),
        ]
        for bytes in frames {
            #expect(wireError { try splitAndDecode(bytes) }?.code == .malformedFrame, "\(hexString(bytes))")
        }
    }

    @Test("a string count past the end of the body is malformed, not an over-read")
    func stringCountOverrun() {
        // SUBSCRIBE whose stream claims 65535 bytes in a 12-byte body.
        let bytes = Self.frame(.subscribe, body: [0, 0, 0, 1, 0xFF, 0xFF, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66])
        #expect(wireError { try splitAndDecode(bytes) }?.code == .malformedFrame)
    }

    @Test("unknown DROPPED and STREAM_ENDED reasons decode as a loss and an end (protocol.md 5.1)")
    func unknownReasons() throws {
        for reason: UInt8 in [0, 4, 255] {
            let body: [UInt8] = [0, 0, 0, 1] + [0, 0, 0, 0, 0, 0, 0, 9] + [reason]
            let decoded = try splitAndDecode(Self.frame(.dropped, body: body))
            #expect(decoded == .frame(.dropped(.init(streamID: 1, count: 9, reason: .slowConsumer, rawReason: reason))))
        }
        for reason: UInt8 in [0, 4, 255] {
            let body: [UInt8] = [0, 0, 0, 1, reason]
            #expect(
                try splitAndDecode(Self.frame(.streamEnded, body: body))
                    == .frame(.streamEnded(streamID: 1, reason: .deleted))
            )
        }
    }

    @Test("an ERROR with a code this version does not know still decodes, keeping FATAL and the message")
    func unknownErrorCode() throws {
        for fatal in [false, true] {
            let body: [UInt8] = [0, 0, 0, 9, 0x01, 0xF4, 0, 2, 0x68, 0x69]  // request 9, code 500, "hi"
            let outcome = try splitAndDecode(Self.frame(.error, flags: fatal ? FrameFlags.fatal : 0, body: body))
            guard case .frame(.error(let error)) = outcome else {
                Issue.record("got \(outcome)")
                continue
            }
            #expect(error.requestID == 9)
            #expect(error.fatal == fatal)
            #expect(error.message == "hi")
        }
    }

    // MARK: Headers

    @Test("every flag bit a type does not define is malformed", arguments: FrameType.allCases)
    func undefinedFlags(type: FrameType) throws {
        for bit in 0..<8 {
            let flag = UInt8(1) << UInt8(bit)
            let header = Self.frame(type, flags: flag, body: [])
            if type.definedFlags & flag != 0 {
                #expect(try parseHeader(header, maxBody: defaultMaxFrameBody).flags == flag)
            } else {
                let error = wireError { try parseHeader(header, maxBody: defaultMaxFrameBody) }
                #expect(error?.code == .malformedFrame, "\(type) flag \(flag)")
            }
        }
    }

    @Test("a non-zero reserved byte is malformed")
    func reservedBytes() {
        for index in [6, 7] {
            var header = Self.frame(.ping, body: [])
            header[index] = 0x80
            #expect(wireError { try parseHeader(header, maxBody: defaultMaxFrameBody) }?.code == .malformedFrame)
        }
    }

    @Test("every type byte versions 1 to 3 do not define is UNKNOWN_FRAME_TYPE")
    func unknownTypes() {
        let known = Set(FrameType.allCases.map(\.rawValue))
        #expect(known.count == 23)
        for raw in 0...255 where !known.contains(UInt8(raw)) {
            let header: [UInt8] = [0, 0, 0, 0, UInt8(raw), 0, 0, 0]
            #expect(wireError { try parseHeader(header, maxBody: defaultMaxFrameBody) }?.code == .unknownFrameType)
        }
    }

    @Test("length up to max_frame_body is accepted; above it is FRAME_TOO_LARGE from the header alone")
    func lengthLimit() throws {
        for maxBody in [0, 1, 8192, Int(UInt32.max) - 1] {
            var atLimit = WireWriter()
            atLimit.u32(UInt32(maxBody))
            atLimit.raw([FrameType.message.rawValue, 0, 0, 0])
            #expect(try parseHeader(atLimit.bytes, maxBody: maxBody).length == UInt32(maxBody))
            var over = WireWriter()
            over.u32(UInt32(maxBody + 1))
            over.raw([FrameType.message.rawValue, 0, 0, 0])
            #expect(wireError { try parseHeader(over.bytes, maxBody: maxBody) }?.code == .frameTooLarge)
        }
        let maxLength: [UInt8] = [0xFF, 0xFF, 0xFF, 0xFF, FrameType.publish.rawValue, 0, 0, 0]
        #expect(wireError { try parseHeader(maxLength, maxBody: defaultMaxFrameBody) }?.code == .frameTooLarge)
    }

    @Test("the direction of each type matches its number")
    func directions() {
        for type in FrameType.allCases {
            #expect(type.isClientToServer == (type.rawValue < 0x80))
        }
        #expect(FrameType.ping.isClientToServer && FrameType.pong.isClientToServer)
        #expect(!FrameType.message.isClientToServer)
    }

    private func parseHeader(_ bytes: [UInt8], maxBody: Int) throws -> FrameHeader {
        try bytes.withUnsafeBytes { try FrameHeader.parse($0, maxBody: maxBody) }
    }
}
