import TernWire
import Testing

/// `FrameSplitter` finds whole frames in whatever bytes have arrived, and asks for more
/// (returns nil) at every point where a frame is not complete yet.
@Suite("FrameSplitter")
struct FrameSplitterTests {
    static let frames: [Frame] = [
        .hello(.init(clientName: "worker-7", token: "")),
        .ping(7),
        .publish(.init(requestID: 1, streamID: 2, payload: [])),
        .message(.init(streamID: 3, sequence: 4, payload: Array(#"{"px":1}"#.utf8))),
        .streamEnded(streamID: 3, reason: .deleted),
        .error(.init(requestID: 0, code: .helloRequired, message: "hello required")),
    ]

    /// Splits `buffer` from `offset` until the splitter asks for more; returns the frames and
    /// where the unconsumed bytes start.
    func splitAll(_ buffer: [UInt8], from offset: Int = 0) throws -> (frames: [Frame], consumed: Int) {
        let splitter = FrameSplitter(maxBody: defaultMaxFrameBody)
        return try buffer.withUnsafeBytes { raw in
            var offset = offset
            var frames: [Frame] = []
            while let slice = try splitter.next(in: raw, at: offset) {
                #expect(slice.bodyStart == offset + WireLimits.headerSize)
                #expect(slice.end == slice.bodyStart + Int(slice.header.length))
                let body = UnsafeRawBufferPointer(rebasing: raw[slice.bodyStart..<slice.end])
                frames.append(try Frame.decode(header: slice.header, body: body))
                offset = slice.end
            }
            return (frames, offset)
        }
    }

    @Test("every cut point of a multi-frame buffer yields exactly the frames before it")
    func everyCutPoint() throws {
        let encoded = Self.frames.map { $0.encoded() }
        let buffer = encoded.flatMap { $0 }
        var ends: [Int] = []
        var total = 0
        for frame in encoded {
            total += frame.count
            ends.append(total)
        }
        for cut in 0...buffer.count {
            let complete = ends.filter { $0 <= cut }.count
            let (frames, consumed) = try splitAll(Array(buffer[..<cut]))
            #expect(frames == Array(Self.frames[..<complete]), "cut at \(cut)")
            #expect(consumed == (complete == 0 ? 0 : ends[complete - 1]), "cut at \(cut)")
        }
    }

    @Test("the splitter starts at the offset it is given")
    func startsAtOffset() throws {
        let junk: [UInt8] = [0xDE, 0xAD, 0xBE]
        let buffer = junk + Self.frames.flatMap { $0.encoded() }
        let (frames, consumed) = try splitAll(buffer, from: junk.count)
        #expect(frames == Self.frames)
        #expect(consumed == buffer.count)
    }

    @Test("an empty buffer and an offset at the end ask for more")
    func emptyBuffer() throws {
        let splitter = FrameSplitter(maxBody: defaultMaxFrameBody)
        let bytes = Frame.ping(1).encoded()
        try bytes.withUnsafeBytes { (raw) throws in
            #expect(try splitter.next(in: UnsafeRawBufferPointer(rebasing: raw[0..<0]), at: 0) == nil)
            #expect(try splitter.next(in: raw, at: raw.count) == nil)
        }
    }

    @Test("a bad header throws as soon as its 8 bytes are in, before the body arrives")
    func headerErrorsWithoutBody() {
        let splitter = FrameSplitter(maxBody: 100)
        let cases: [([UInt8], ErrorCode)] = [
            ([0, 0, 0, 101, FrameType.publish.rawValue, 0, 0, 0], .frameTooLarge),
            ([0, 0, 0, 8, 0x7e, 0, 0, 0], .unknownFrameType),
            ([0, 0, 0, 8, FrameType.ping.rawValue, 1, 0, 0], .malformedFrame),
            ([0, 0, 0, 8, FrameType.ping.rawValue, 0, 1, 0], .malformedFrame),
        ]
        for (header, code) in cases {
            // Seven bytes: not a header yet, so no verdict.
            let seven = wireError {
                try header.withUnsafeBytes { try splitter.next(in: UnsafeRawBufferPointer(rebasing: $0[..<7]), at: 0) }
            }
            #expect(seven == nil)
            let error = wireError { try header.withUnsafeBytes { try splitter.next(in: $0, at: 0) } }
            #expect(error?.code == code, "\(hexString(header))")
        }
    }

    @Test("a frame of exactly max_frame_body is split; the limit is the splitter's")
    func limitIsTheSplitters() throws {
        let frame = Frame.publish(.init(requestID: 1, streamID: 1, payload: Array(repeating: 0x20, count: 92)))
        let bytes = frame.encoded()
        #expect(bytes.count == 108)
        #expect(try splitAndDecode(bytes, maxBody: 100) == .frame(frame))
        #expect(wireError { try splitAndDecode(bytes, maxBody: 99) }?.code == .frameTooLarge)
    }
}
