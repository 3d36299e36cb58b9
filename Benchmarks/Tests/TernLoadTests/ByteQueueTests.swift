import Testing

@testable import TernLoad

/// The relay's per-subscriber queue at its edges: partial consumes, compaction, growth.
@Suite struct ByteQueueTests {
    @Test func keepsOrderAcrossConsumesCompactionAndGrowth() {
        let queue = ByteQueue()
        var expected: [UInt8] = []
        var next: UInt8 = 0
        // Sizes around the 64 KiB first capacity; consume part of what is queued each round.
        for size in [1, 1000, 65_535, 2, 70_000, 10, 200_000] {
            let chunk = (0..<size).map { _ in
                next &+= 1
                return next
            }
            chunk.withUnsafeBytes { queue.append($0.baseAddress!, $0.count) }
            expected += chunk
            let consumed = queue.count / 3
            let front = Array(UnsafeRawBufferPointer(start: queue.readable, count: queue.count))
            #expect(front == expected)
            queue.consume(consumed)
            expected.removeFirst(consumed)
        }
        #expect(queue.count == expected.count)
        queue.consume(queue.count)
        #expect(queue.isEmpty)
    }
}
