import TernWire
import Testing

/// The server's zero-copy paths: `PublishView` points into the read buffer, `MessageFrame`
/// writes the same bytes `Frame.message` encodes.
@Suite("PublishView and MessageFrame")
struct HotPathCodecTests {
    @Test("PublishView reads the fields and points at the payload in place", arguments: [false, true])
    func publishViewIsZeroCopy(ack: Bool) throws {
        let payload = Array(#"{"px":1}"#.utf8)
        let bytes = Frame.publish(.init(requestID: 0xDEAD_BEEF, streamID: 42, payload: payload, ack: ack)).encoded()
        try bytes.withUnsafeBytes { raw in
            let slice = try #require(try FrameSplitter(maxBody: defaultMaxFrameBody).next(in: raw, at: 0))
            let body = UnsafeRawBufferPointer(rebasing: raw[slice.bodyStart..<slice.end])
            let view = try PublishView(header: slice.header, body: body)
            #expect(view.requestID == 0xDEAD_BEEF)
            #expect(view.streamID == 42)
            #expect(view.ack == ack)
            #expect(Array(view.payload) == payload)
            // Same memory, not a copy: the payload starts 8 bytes into the body.
            #expect(view.payload.baseAddress == body.baseAddress! + WireLimits.publishBodyOverhead)
            #expect(view.payload.count == body.count - WireLimits.publishBodyOverhead)
        }
    }

    @Test("PublishView of an empty payload, and of a body too short for its fields")
    func publishViewEdges() throws {
        let empty = Frame.publish(.init(requestID: 1, streamID: 2, payload: [])).encoded()
        try empty.withUnsafeBytes { raw in
            let view = try PublishView(
                header: FrameHeader(length: 8, type: .publish),
                body: UnsafeRawBufferPointer(rebasing: raw[8...])
            )
            #expect(view.payload.isEmpty)
            #expect(view.streamID == 2)
        }
        for count in 0..<8 {
            let body = [UInt8](repeating: 1, count: count)
            let error = wireError {
                try body.withUnsafeBytes {
                    try PublishView(header: FrameHeader(length: UInt32(count), type: .publish), body: $0)
                }
            }
            #expect(error?.code == .malformedFrame, "body of \(count) bytes")
        }
    }

    @Test("MessageFrame sizes")
    func messageFrameSizes() {
        #expect(MessageFrame.prefixSize == 20)
        #expect(MessageFrame.size(payloadCount: 0) == 20)
        #expect(MessageFrame.size(payloadCount: 4096) == 4116)
    }

    static let messages: [(streamID: UInt32, sequence: UInt64, payloadCount: Int)] = [
        (0, 0, 0), (3, 41, 8), (UInt32.max, UInt64.max, 1), (7, 1 << 40, 4096),
    ]

    @Test("writePrefix + payload is byte-for-byte Frame.message, at any alignment")
    func writePrefixMatchesFrameEncoding() {
        for (streamID, sequence, payloadCount) in Self.messages {
            let payload = (0..<payloadCount).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
            let expected = Frame.message(.init(streamID: streamID, sequence: sequence, payload: payload)).encoded()
            for misalignment in 0..<8 {
                let size = MessageFrame.size(payloadCount: payloadCount)
                let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: size + misalignment, alignment: 8)
                defer { buffer.deallocate() }
                buffer.initializeMemory(as: UInt8.self, repeating: 0xEE)
                let start = buffer.baseAddress! + misalignment
                MessageFrame.writePrefix(streamID: streamID, sequence: sequence, payloadCount: payloadCount, to: start)
                payload.withUnsafeBytes {
                    (start + MessageFrame.prefixSize).copyMemory(from: $0.baseAddress!, byteCount: $0.count)
                }
                let written = Array(UnsafeRawBufferPointer(start: start, count: size))
                #expect(
                    written == expected,
                    "stream \(streamID) seq \(sequence) payload \(payloadCount) at +\(misalignment)"
                )
            }
        }
    }
}
