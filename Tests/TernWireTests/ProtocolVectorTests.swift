import Foundation
import TernWire
import Testing

/// The hex vectors of protocol.md section 8, checked against the codec in both directions.
///
/// The expected field values below are copied from the prose under each vector (the source of
/// truth). The test fails if the document gains a vector this file does not know, loses one it
/// does, or leaves a frame type without a vector, so the document and the codec cannot drift.
@Suite("protocol.md test vectors")
struct ProtocolVectorTests {
    /// Field values written under each ```vector block, by vector name.
    static let expectedFrames: [String: Frame] = {
        let prefix = SidPrefix(value: 0x0102_0304_0506_0708)
        return [
            "hello": .hello(.init(minVersion: 1, maxVersion: 1, clientName: "worker-7", token: "s3cr")),
            "welcome": .welcome(
                .init(
                    version: 1,
                    maxPayload: 4096,
                    maxFrameBody: 8192,
                    maxSubscriptions: 1024,
                    pingIntervalMilliseconds: 30000,
                    serverName: "ternd/0.1"
                )
            ),
            "subscribe": .subscribe(.init(requestID: 1, stream: "prices")),
            "subscribe-attach-only": .subscribe(.init(requestID: 2, stream: "prices", attachOnly: true)),
            "subscribed": .subscribed(
                .init(
                    requestID: 1,
                    streamID: 3,
                    sidPrefix: prefix,
                    nextSequence: 41,
                    streamSid: "TO0123456789abcdef0123456789abcdef",
                    uniqueName: "prices"
                )
            ),
            "unsubscribe": .unsubscribe(requestID: 5, streamID: 3),
            "unsubscribed": .unsubscribed(requestID: 5, streamID: 3),
            "publish-ack": .publish(.init(requestID: 2, streamID: 3, payload: Array(#"{"px":1}"#.utf8), ack: true)),
            "publish": .publish(.init(requestID: 0, streamID: 3, payload: Array("{}".utf8))),
            "published": .published(.init(requestID: 2, streamID: 3, sidPrefix: prefix, sequence: 41)),
            "message": .message(.init(streamID: 3, sequence: 41, payload: Array(#"{"px":1}"#.utf8))),
            "dropped": .dropped(.init(streamID: 3, count: 1000, reason: .slowConsumer)),
            "stream-ended": .streamEnded(streamID: 3, reason: .expired),
            "error": .error(.init(requestID: 7, code: .streamNotFound, message: "stream 'nope' not found")),
            "error-fatal": .error(.init(requestID: 0, code: .helloRequired, message: "hello required", fatal: true)),
            "ping": .ping(42),
            "pong": .pong(42),
            "hello-version-2": .hello(
                .init(minVersion: 1, maxVersion: 2, clientName: "worker-7", token: "eyJ9.eyJ9.s")
            ),
            "refresh-token": .refreshToken(requestID: 9, token: "eyJ9.eyJ9.s"),
            "token-expiring": .tokenExpiring(.init(expiresAt: 1_700_000_000, remainingMilliseconds: 60_000)),
            "token-refreshed": .tokenRefreshed(requestID: 9, expiresAt: 1_700_003_600),
            "stream-ended-token-expired": .streamEnded(streamID: 3, reason: .tokenExpired),
            "error-refresh-expired": .error(
                .init(requestID: 9, code: .tokenExpired, message: "the Access Token expired", fatal: false)
            ),
            "hello-v2": .hello(.init(minVersion: 1, maxVersion: 2, clientName: "worker-7", token: "")),
            "welcome-v2": .welcome(
                .init(
                    version: 2,
                    maxPayload: 4096,
                    maxFrameBody: 8192,
                    maxSubscriptions: 1024,
                    pingIntervalMilliseconds: 30000,
                    serverName: "ternd/0.1"
                )
            ),
            "resume": .resume(.init(requestID: 8, sidPrefix: prefix, afterSequence: 41, stream: "prices")),
            "resumed": .resumed(.init(requestID: 8, streamID: 3, outcome: .continued)),
            "resumed-restarted": .resumed(.init(requestID: 8, streamID: 3, outcome: .restarted)),
            "dropped-not-retained": .dropped(.init(streamID: 3, count: 17, reason: .notRetained)),
            "subscribe-shared": .subscribeShared(requestID: 1, stream: "prices"),
            "ring-mapped": .ringMapped(
                .init(requestID: 1, streamID: 3, headerBytes: 4096, ringBytes: 1 << 20, startPosition: 48)
            ),
            "ring-loss": .ringLoss(requestID: 0, streamID: 3, count: 2),
            "dropped-ring-lapped": .dropped(.init(streamID: 3, count: 2, reason: .ringLapped)),
            "lane": .lane(
                .init(streamID: 3, laneID: 9, sidPrefix: SidPrefix(value: 0x0102_0304_0506_0708), nextSequence: 41)
            ),
        ]
    }()

    /// The error each ```invalid block must produce, and the state it is sent in.
    static let expectedErrors: [String: (ErrorCode, ProtocolDocument.State)] = [
        "unknown-type": (.unknownFrameType, .open),
        "unknown-server-type": (.unknownFrameType, .open),
        "reserved-set": (.malformedFrame, .open),
        "undefined-flag": (.malformedFrame, .open),
        "short-body": (.malformedFrame, .open),
        "trailing-bytes": (.malformedFrame, .open),
        "string-overrun": (.malformedFrame, .open),
        "not-utf8": (.malformedFrame, .open),
        "utf8-surrogate": (.malformedFrame, .open),
        "too-large": (.frameTooLarge, .open),
        "length-before-type": (.frameTooLarge, .open),
        "type-before-reserved": (.unknownFrameType, .open),
        "hello-required": (.helloRequired, .new),
        "hello-required-before-body": (.helloRequired, .new),
        "second-hello": (.unexpectedFrame, .open),
        "client-sends-message": (.unexpectedFrame, .open),
        "hello-min-above-max": (.unsupportedVersion, .new),
        "client-sends-token-expiring": (.unexpectedFrame, .open),
        "hello-too-large": (.frameTooLarge, .new),
        "token-over-limit": (.malformedFrame, .new),
        "resume-in-version-1": (.unknownFrameType, .openV1),
        "subscribe-shared-in-version-1": (.unknownFrameType, .openV1),
        "client-sends-ring-mapped": (.unexpectedFrame, .open),
    ]

    /// The `open` vectors that give HELLO_REQUIRED instead when sent as a connection's first
    /// frame, and the one that is then a good HELLO (protocol.md says which); every other one
    /// gives the same code in both states.
    static let helloRequiredWhenFirst: Set<String> = [
        "short-body", "trailing-bytes", "string-overrun", "not-utf8", "utf8-surrogate", "client-sends-message",
        "client-sends-token-expiring", "client-sends-ring-mapped",
    ]
    static let acceptedWhenFirst: Set<String> = ["second-hello"]

    @Test("the document has exactly the vectors this file expects")
    func vectorNamesMatch() throws {
        let document = try ProtocolDocument.load()
        #expect(Set(document.vectors.map(\.name)) == Set(Self.expectedFrames.keys))
        #expect(Set(document.invalidVectors.map(\.name)) == Set(Self.expectedErrors.keys))
        #expect(document.vectors.count == Set(document.vectors.map(\.name)).count, "duplicate vector names")
        #expect(
            document.invalidVectors.count == Set(document.invalidVectors.map(\.name)).count,
            "duplicate invalid vector names"
        )
    }

    @Test("every frame type has at least one vector")
    func everyTypeHasAVector() throws {
        let document = try ProtocolDocument.load()
        let documentedTypes = Set(document.vectors.compactMap { $0.bytes.count > 4 ? $0.bytes[4] : nil })
        for type in FrameType.allCases {
            #expect(documentedTypes.contains(type.rawValue), "no vector for \(type)")
        }
        let expectedTypes = Set(Self.expectedFrames.values.map(\.type))
        #expect(expectedTypes == Set(FrameType.allCases))
    }

    @Test("decoding a vector gives its documented fields", arguments: expectedFrames.keys.sorted())
    func decodesToDocumentedFields(name: String) throws {
        let vector = try #require(try ProtocolDocument.load().vectors.first { $0.name == name })
        let expected = try #require(Self.expectedFrames[name])
        #expect(try splitAndDecode(vector.bytes) == .frame(expected), "\(name): \(hexString(vector.bytes))")
    }

    @Test("encoding the documented fields gives the vector's bytes", arguments: expectedFrames.keys.sorted())
    func encodesToVectorBytes(name: String) throws {
        let vector = try #require(try ProtocolDocument.load().vectors.first { $0.name == name })
        let expected = try #require(Self.expectedFrames[name])
        let encoded = expected.encoded()
        #expect(encoded == vector.bytes, "\(name): encoder gives \(hexString(encoded))")
    }

    @Test("an invalid vector is refused with its documented code", arguments: expectedErrors.keys.sorted())
    func invalidVectorIsRefused(name: String) throws {
        let vector = try #require(try ProtocolDocument.load().invalidVectors.first { $0.name == name })
        let (code, state) = try #require(Self.expectedErrors[name])
        #expect(vector.code == code.rawValue, "the document gives code \(vector.code) for \(name)")
        #expect(vector.state == state, "the document gives state \(vector.state) for \(name)")
        // A vector must be decidable from its own bytes: the splitter may not ask for more.
        var outcome: SplitOutcome?
        let error = wireError { outcome = try Self.serverChecks(vector.bytes, state: vector.state) }
        #expect(
            error?.code == code,
            "\(name): got \(String(describing: error)), outcome \(String(describing: outcome))"
        )
    }

    @Test("an open-state vector sent first gives HELLO_REQUIRED exactly where the document says")
    func invalidVectorsSentFirst() throws {
        for vector in try ProtocolDocument.load().invalidVectors where vector.state == .open {
            let first = wireError { try Self.serverChecks(vector.bytes, state: .new) }?.code
            var expected: UInt16? = vector.code
            if Self.helloRequiredWhenFirst.contains(vector.name) { expected = ErrorCode.helloRequired.rawValue }
            if Self.acceptedWhenFirst.contains(vector.name) { expected = nil }
            #expect(first?.rawValue == expected, "\(vector.name) sent first gave \(String(describing: first))")
        }
    }

    /// The server's checks on one received frame, in its order (protocol.md §2.2): header
    /// (`FrameSplitter`), HELLO first / direction (`ClientFrameRules`), body (`Frame.decode`),
    /// and for HELLO the version. Request-level checks need a broker and are not modelled.
    static func serverChecks(_ bytes: [UInt8], state: ProtocolDocument.State) throws -> SplitOutcome {
        let splitter = FrameSplitter(maxBody: defaultMaxFrameBody)
        return try bytes.withUnsafeBytes { buffer in
            guard let slice = try splitter.next(in: buffer, at: 0) else { return .incomplete }
            try ClientFrameRules.check(
                slice.header.type,
                helloAccepted: state != .new,
                version: state == .openV1 ? 1 : WireLimits.protocolVersion
            )
            let frame = try Frame.decode(
                header: slice.header,
                body: UnsafeRawBufferPointer(rebasing: buffer[slice.bodyStart..<slice.end])
            )
            if case .hello(let hello) = frame { _ = try ClientFrameRules.version(for: hello) }
            return slice.end == buffer.count ? .frame(frame) : .leftover(frame, extra: buffer.count - slice.end)
        }
    }
}

/// The vector blocks of protocol.md, read when the tests run.
struct ProtocolDocument {
    struct Vector {
        var name: String
        var bytes: [UInt8]
    }

    /// The connection state an ```invalid block is sent in (protocol.md §8.1).
    enum State: String {
        /// The first frame of a new connection.
        case new
        /// After WELCOME (the default).
        case open
        /// After a WELCOME of version 1.
        case openV1 = "open-v1"
    }

    struct InvalidVector {
        var name: String
        var code: UInt16
        var state: State
        var bytes: [UInt8]
    }

    var vectors: [Vector] = []
    var invalidVectors: [InvalidVector] = []

    struct LoadError: Error, CustomStringConvertible {
        var description: String
    }

    /// protocol.md sits three directories above this file: Tests/TernWireTests/<file>.
    static var path: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("protocol.md").path
    }

    static func load() throws -> ProtocolDocument {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        return try parse(text)
    }

    /// Collects every ```vector NAME and ```invalid NAME CODE [STATE] block; each holds one hex
    /// frame (protocol.md §8.1 defines the format).
    static func parse(_ text: String) throws -> ProtocolDocument {
        var document = ProtocolDocument()
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        var index = 0
        while index < lines.count {
            let line = lines[index].trimmingCharacters(in: .whitespaces)
            index += 1
            let words = line.split(separator: " ")
            guard let fence = words.first, fence == "```vector" || fence == "```invalid" else { continue }
            var hex = ""
            while index < lines.count, !lines[index].hasPrefix("```") {
                hex += lines[index] + " "
                index += 1
            }
            guard index < lines.count else { throw LoadError(description: "unterminated block: \(line)") }
            index += 1
            guard let bytes = bytes(hex: hex) else { throw LoadError(description: "bad hex in block: \(line)") }
            if fence == "```vector" {
                guard words.count == 2 else { throw LoadError(description: "expected ```vector NAME: \(line)") }
                document.vectors.append(Vector(name: String(words[1]), bytes: bytes))
            } else {
                guard words.count == 3 || words.count == 4, let code = UInt16(words[2]),
                    let state = words.count == 4 ? State(rawValue: String(words[3])) : .open
                else {
                    throw LoadError(description: "expected ```invalid NAME CODE [new|open|open-v1]: \(line)")
                }
                document.invalidVectors.append(
                    InvalidVector(name: String(words[1]), code: code, state: state, bytes: bytes)
                )
            }
        }
        guard !document.vectors.isEmpty else { throw LoadError(description: "no vectors found in \(path)") }
        return document
    }
}
