import TernCore
import TernWire
import Testing

/// `BroadcastRing` on one thread: exact bytes back, wrap-around, partial destinations, lapping.
@Suite("BroadcastRing, single thread")
struct BroadcastRingTests {
    static let streamID: UInt32 = 7

    /// A reader with its own cursor and destination buffer, as a reactor thread has.
    final class Reader {
        let ring: BroadcastRing
        var cursor: UInt64
        let destination: UnsafeMutableRawBufferPointer

        init(_ ring: BroadcastRing, destinationSize: Int) {
            self.ring = ring
            cursor = ring.tailPosition
            destination = .allocate(byteCount: destinationSize, alignment: 8)
        }

        deinit { destination.deallocate() }

        /// One `read`; returns the bytes and whether it reported lapping.
        func read() -> (bytes: [UInt8], lapped: Bool) {
            let result = ring.read(from: cursor, into: destination)
            #expect(result.cursor >= cursor || result.lapped)
            cursor = result.cursor
            return (Array(destination[..<result.bytes]), result.lapped)
        }
    }

    static func encoded(sequence: UInt64, payload: [UInt8]) -> [UInt8] {
        Frame.message(.init(streamID: streamID, sequence: sequence, payload: payload)).encoded()
    }

    static func append(_ ring: BroadcastRing, sequence: UInt64, payload: [UInt8]) {
        payload.withUnsafeBytes { ring.appendMessage(streamID: streamID, sequence: sequence, payload: $0) }
    }

    @Test("a new ring is empty; reading at the tail gives nothing")
    func empty() {
        let ring = BroadcastRing(capacity: 64)
        #expect(ring.capacity == 64)
        #expect(ring.tailPosition == 0)
        let reader = Reader(ring, destinationSize: 64)
        let (bytes, lapped) = reader.read()
        #expect(bytes.isEmpty && !lapped)
        #expect(reader.cursor == 0)
    }

    @Test("frames of many sizes come back exactly as Frame.message encodes them")
    func exactBytes() {
        let ring = BroadcastRing(capacity: 1 << 16)
        let reader = Reader(ring, destinationSize: 1 << 16)
        var expected: [UInt8] = []
        for (index, size) in [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 15, 16, 17, 100, 1000, 4096].enumerated() {
            let payload = (0..<size).map { UInt8(truncatingIfNeeded: $0 * 13 + index) }
            Self.append(ring, sequence: UInt64(index + 1), payload: payload)
            expected += Self.encoded(sequence: UInt64(index + 1), payload: payload)
        }
        #expect(ring.tailPosition == UInt64(expected.count))
        let (bytes, lapped) = reader.read()
        #expect(!lapped)
        #expect(bytes == expected)
        #expect(reader.cursor == ring.tailPosition)
        #expect(reader.read().bytes.isEmpty)
    }

    @Test(
        "a run comes back exactly as frame-by-frame appends: pieces, a frame larger than the staging area, a wrap",
        arguments: [0, 4096, 16 * 1024]
    )
    func runs(stagingBytes: Int) {
        let staging =
            stagingBytes > 0 ? UnsafeMutableRawBufferPointer.allocate(byteCount: stagingBytes, alignment: 16) : nil
        defer { staging?.deallocate() }
        let ring = BroadcastRing(capacity: 1 << 16)
        let reader = Reader(ring, destinationSize: 1 << 16)
        // Start near the end of the buffer so the run wraps.
        let filler = [UInt8](repeating: 0x61, count: 1000)
        var sequence: UInt64 = 1
        for _ in 0..<60 {
            Self.append(ring, sequence: sequence, payload: filler)
            sequence += 1
            _ = reader.read()
        }
        let sizes = [0, 1, 7, 8, 9, 100, 3000, 20_000, 5, 4096, 64, 64, 64, 13_000, 2]
        let payloads = sizes.enumerated().map { index, size in
            (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ index) }
        }
        var expected: [UInt8] = []
        for (offset, payload) in payloads.enumerated() {
            expected += Self.encoded(sequence: sequence + UInt64(offset), payload: payload)
        }
        #expect(expected.count > ring.capacity / 2, "the run needs more than one piece")
        withRawBuffers(payloads) { buffers in
            buffers.withUnsafeBufferPointer {
                ring.appendMessages(streamID: Self.streamID, firstSequence: sequence, payloads: $0, staging: staging)
            }
        }
        var received: [UInt8] = []
        var lastFrameStarts: [Int] = []
        while received.count < expected.count {
            let result = ring.read(from: reader.cursor, into: reader.destination)
            guard result.bytes > 0, !result.lapped else {
                Issue.record("read returned \(result)")
                break
            }
            reader.cursor = result.cursor
            lastFrameStarts.append(received.count + result.lastFrameStart)
            received += reader.destination[..<result.bytes]
        }
        #expect(received == expected)
        // The last frame start of the final read is the last frame of the run.
        #expect(lastFrameStarts.last == expected.count - Self.encoded(sequence: 0, payload: payloads.last!).count)
    }

    /// Calls `body` with raw buffers over each array (kept alive for the call).
    func withRawBuffers(_ arrays: [[UInt8]], _ body: ([UnsafeRawBufferPointer]) -> Void) {
        let storage = arrays.map { array -> UnsafeMutableRawBufferPointer in
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(array.count, 1), alignment: 1)
            buffer.copyBytes(from: array)
            return buffer
        }
        defer { for buffer in storage { buffer.deallocate() } }
        body(zip(storage, arrays).map { UnsafeRawBufferPointer(rebasing: $0.0[..<$0.1.count]) })
    }

    @Test("a reader that keeps up sees every frame across many wraps, at every alignment")
    func wrapAround() {
        let ring = BroadcastRing(capacity: 256)
        let reader = Reader(ring, destinationSize: 256)
        var crossings = 0
        for sequence in UInt64(1)...2000 {
            let payload = Array(repeating: UInt8(truncatingIfNeeded: sequence), count: Int(sequence % 109))
            let before = ring.tailPosition
            Self.append(ring, sequence: sequence, payload: payload)
            if before / 256 != (ring.tailPosition - 1) / 256 { crossings += 1 }
            let (bytes, lapped) = reader.read()
            #expect(!lapped)
            #expect(bytes == Self.encoded(sequence: sequence, payload: payload), "sequence \(sequence)")
        }
        // Frames really did straddle the end of the buffer, many times.
        #expect(crossings > 100)
    }

    @Test("one read returns a run that wraps past the end of the buffer")
    func readAcrossTheEnd() {
        let ring = BroadcastRing(capacity: 256)
        let reader = Reader(ring, destinationSize: 256)
        // Move to 200, close to the end.
        Self.append(ring, sequence: 1, payload: Array(repeating: 1, count: 80))
        Self.append(ring, sequence: 2, payload: Array(repeating: 2, count: 80))
        #expect(ring.tailPosition == 200)
        _ = reader.read()
        var expected: [UInt8] = []
        for sequence in UInt64(3)...6 {
            let payload = Array(repeating: UInt8(sequence), count: 20)
            Self.append(ring, sequence: sequence, payload: payload)
            expected += Self.encoded(sequence: sequence, payload: payload)
        }
        #expect(ring.tailPosition == 360)
        let (bytes, lapped) = reader.read()
        #expect(!lapped)
        #expect(bytes == expected)
    }

    @Test("a destination smaller than the run gets whole frames only, then the rest")
    func smallDestination() {
        let ring = BroadcastRing(capacity: 1024)
        let sizes = [30, 40, 50, 60]  // frame sizes, prefix included
        var frames: [[UInt8]] = []
        for (index, size) in sizes.enumerated() {
            let payload = Array(repeating: UInt8(index), count: size - MessageFrame.prefixSize)
            Self.append(ring, sequence: UInt64(index + 1), payload: payload)
            frames.append(Self.encoded(sequence: UInt64(index + 1), payload: payload))
        }
        // 100 bytes hold the first two frames (70), not the third (ends at 120).
        let reader = Reader(ring, destinationSize: 100)
        reader.cursor = 0
        var read = reader.read()
        #expect(read.bytes == frames[0] + frames[1])
        #expect(reader.cursor == 70)
        // The third frame (50) fits, the fourth (ends at 110 from here) does not.
        read = reader.read()
        #expect(read.bytes == frames[2])
        read = reader.read()
        #expect(read.bytes == frames[3])
        #expect(reader.cursor == ring.tailPosition)
        // A destination of exactly one frame takes exactly one frame.
        let exact = Reader(ring, destinationSize: 30)
        exact.cursor = 0
        #expect(exact.read().bytes == frames[0])
        // Smaller than the next frame: nothing, and the cursor stays (the caller must size its
        // destination for the largest frame).
        #expect(exact.read().bytes.isEmpty)
        #expect(exact.cursor == 30)
    }

    @Test("a reader exactly one capacity behind is not lapped; one byte more is")
    func lapBoundary() {
        let ring = BroadcastRing(capacity: 256)
        let reader = Reader(ring, destinationSize: 1024)
        var expected: [UInt8] = []
        for sequence in UInt64(1)...8 {  // 8 frames of 32 bytes: exactly 256
            let payload = Array(repeating: UInt8(sequence), count: 12)
            Self.append(ring, sequence: sequence, payload: payload)
            expected += Self.encoded(sequence: sequence, payload: payload)
        }
        #expect(ring.tailPosition == 256)
        let full = reader.read()
        #expect(!full.lapped)
        #expect(full.bytes == expected)

        let behind = Reader(ring, destinationSize: 1024)
        behind.cursor = 0
        Self.append(ring, sequence: 9, payload: [])  // 20 more bytes: the oldest frame is overwritten
        let lapped = behind.read()
        #expect(lapped.lapped)
        #expect(lapped.bytes == Self.encoded(sequence: 9, payload: []))
        #expect(behind.cursor == ring.tailPosition)
    }

    @Test("a lapped reader resumes at the newest whole frame and then follows normally")
    func lapping() throws {
        let ring = BroadcastRing(capacity: 256)
        let reader = Reader(ring, destinationSize: 256)
        Self.append(ring, sequence: 1, payload: [1])
        #expect(reader.read().bytes == Self.encoded(sequence: 1, payload: [1]))
        // The writer runs more than a whole ring ahead.
        for sequence in UInt64(2)...40 {
            Self.append(ring, sequence: sequence, payload: Array(repeating: UInt8(sequence), count: Int(sequence % 30)))
        }
        let (bytes, lapped) = reader.read()
        #expect(lapped)
        #expect(bytes == Self.encoded(sequence: 40, payload: Array(repeating: 40, count: 10)))
        #expect(reader.cursor == ring.tailPosition)
        // Afterwards: nothing lost, nothing lapped.
        Self.append(ring, sequence: 41, payload: [4, 1])
        Self.append(ring, sequence: 42, payload: [4, 2])
        let next = reader.read()
        #expect(!next.lapped)
        #expect(
            next.bytes == Self.encoded(sequence: 41, payload: [4, 1]) + Self.encoded(sequence: 42, payload: [4, 2])
        )
    }

    @Test("lapping is reported from any distance behind, and the frame returned is always whole")
    func lappingFromAnywhere() throws {
        let ring = BroadcastRing(capacity: 512)
        var starts: [UInt64] = []  // where each frame starts
        for sequence in UInt64(1)...300 {
            starts.append(ring.tailPosition)
            appendPayload(ring, sequence: sequence)
        }
        let tail = ring.tailPosition
        for (index, start) in starts.enumerated() {
            let reader = Reader(ring, destinationSize: 512)
            reader.cursor = start
            let read = reader.read()
            let inRing = tail - start <= 512
            #expect(read.lapped == !inRing, "reader at \(start), tail \(tail)")
            var frames: [UInt64] = []
            try read.bytes.withUnsafeBytes { raw in
                try parseRingBytes(raw) { frame in
                    #expect(hasDeterministicPayload(frame, maxPayload: 64))
                    frames.append(frame.sequence)
                }
            }
            if inRing {
                #expect(frames.first == UInt64(index + 1))
            } else {
                #expect(frames == [300])
            }
            #expect(frames.last == 300)
        }
    }

    @Test("a cursor ahead of the tail is treated as lapped and reset")
    func cursorFromTheFuture() {
        let ring = BroadcastRing(capacity: 256)
        Self.append(ring, sequence: 1, payload: [])
        let reader = Reader(ring, destinationSize: 256)
        reader.cursor = 1000
        let (bytes, lapped) = reader.read()
        #expect(lapped)
        #expect(bytes == Self.encoded(sequence: 1, payload: []))
        #expect(reader.cursor == ring.tailPosition)
    }

    private func appendPayload(_ ring: BroadcastRing, sequence: UInt64) {
        let bytes = payload(sequence: sequence, max: 64)
        bytes.withUnsafeBytes { ring.appendMessage(streamID: Self.streamID, sequence: sequence, payload: $0) }
    }
}
