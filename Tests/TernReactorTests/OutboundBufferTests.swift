import Testing

@testable import TernReactor

/// The out-buffer is raw-pointer code: its edges are tested byte for byte. (`#expect` cannot
/// take a non-copyable value, so each check reads a `Snapshot` first.)
@Suite("OutboundBuffer")
struct OutboundBufferTests {
    struct Snapshot {
        var contents: [UInt8]
        var count: Int
        var allocated: Int
        var spaceUnderLimit: Int
        var isEmpty: Bool
    }

    private func snapshot(_ buffer: borrowing OutboundBuffer) -> Snapshot {
        Snapshot(
            contents: Array(buffer.readable),
            count: buffer.count,
            allocated: buffer.allocatedBytes,
            spaceUnderLimit: buffer.spaceUnderLimit,
            isEmpty: buffer.isEmpty
        )
    }

    private func bytes(_ count: Int, from start: UInt8 = 0) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: Int(start) + $0) }
    }

    @Test func allocatesOnlyWhenFirstUsed() {
        var buffer = OutboundBuffer(limit: 1 << 20)
        let fresh = snapshot(buffer)
        #expect(fresh.allocated == 0 && fresh.isEmpty && fresh.contents.isEmpty)
        let appended = buffer.append(bytes(10))
        let after = snapshot(buffer)
        #expect(appended)
        #expect(after.allocated >= 10)
        #expect(after.contents == bytes(10))
    }

    @Test func consumesInOrderAndResetsWhenEmpty() {
        var buffer = OutboundBuffer(limit: 4096)
        _ = buffer.append(bytes(100))
        buffer.consume(40)
        #expect(snapshot(buffer).contents == Array(bytes(100)[40...]))
        _ = buffer.append(bytes(5, from: 200))
        #expect(snapshot(buffer).contents == Array(bytes(100)[40...]) + bytes(5, from: 200))
        buffer.consume(65)
        let drained = snapshot(buffer)
        #expect(drained.isEmpty && drained.count == 0)
    }

    @Test func slidesInsteadOfGrowingWhenThereIsRoomAtTheFront() {
        var buffer = OutboundBuffer(limit: 64 * 1024)
        _ = buffer.append(bytes(16 * 1024))
        let capacity = snapshot(buffer).allocated
        buffer.consume(10 * 1024)
        _ = buffer.append(bytes(8 * 1024, from: 7))
        let after = snapshot(buffer)
        #expect(after.allocated == capacity)
        #expect(after.contents == Array(bytes(16 * 1024)[(10 * 1024)...]) + bytes(8 * 1024, from: 7))
    }

    @Test func growsKeepingContents() {
        var buffer = OutboundBuffer(limit: 1 << 20)
        var expected: [UInt8] = []
        for round in 0..<40 {
            let chunk = bytes(7_000, from: UInt8(round))
            _ = buffer.append(chunk)
            expected += chunk
            if round % 3 == 0 {
                buffer.consume(1_000)
                expected.removeFirst(1_000)
            }
        }
        #expect(snapshot(buffer).contents == expected)
    }

    @Test func hardLimitRefusesWithoutAppending() {
        var buffer = OutboundBuffer(limit: 4096)
        let hardLimit = buffer.hardLimit
        #expect(hardLimit == 4096 + 64 * 1024)
        let first = buffer.append(bytes(hardLimit - 1))
        let tooMuch = buffer.append(bytes(2))
        let countAfterRefusal = snapshot(buffer).count
        let last = buffer.append(bytes(1))
        #expect(first && !tooMuch && last)
        #expect(countAfterRefusal == hardLimit - 1)
        #expect(snapshot(buffer).spaceUnderLimit == 0)
    }

    @Test func spaceUnderLimitTracksQueuedBytes() {
        var buffer = OutboundBuffer(limit: 1000)
        #expect(snapshot(buffer).spaceUnderLimit == 1000)
        _ = buffer.append(bytes(300))
        #expect(snapshot(buffer).spaceUnderLimit == 700)
        buffer.consume(300)
        #expect(snapshot(buffer).spaceUnderLimit == 1000)
    }

    @Test func givesBackLargeBuffersOnceDrained() {
        var buffer = OutboundBuffer(limit: 1 << 20)
        _ = buffer.append(bytes(512 * 1024))
        #expect(snapshot(buffer).allocated >= 512 * 1024)
        buffer.consume(512 * 1024)
        #expect(snapshot(buffer).allocated == 0)
        _ = buffer.append(bytes(3))
        #expect(snapshot(buffer).contents == bytes(3))
        buffer.consume(3)
        #expect(snapshot(buffer).allocated > 0, "a small buffer is kept for the next burst")
    }

    @Test func reserveAndCommitWriteInPlace() {
        var buffer = OutboundBuffer(limit: 4096)
        guard let place = buffer.reserve(4) else {
            Issue.record("reserve failed")
            return
        }
        place.storeBytes(of: UInt32(0x0102_0304).bigEndian, as: UInt32.self)
        buffer.commit(4)
        #expect(snapshot(buffer).contents == [1, 2, 3, 4])
    }
}
