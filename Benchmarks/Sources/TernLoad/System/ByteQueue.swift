/// Bytes waiting to be sent on one connection: appended at the end, consumed from the front,
/// compacted or grown (doubling, from 64 KiB) only when the tail has no room.
final class ByteQueue {
    private var storage: UnsafeMutableRawPointer?
    private var capacity = 0
    private var start = 0
    private var end = 0

    init() {}
    deinit { storage?.deallocate() }

    var count: Int { end - start }
    var isEmpty: Bool { start == end }

    /// The queued bytes, valid until the next `append` or `consume`.
    var readable: UnsafeRawPointer? { storage.map { UnsafeRawPointer($0 + start) } }

    func append(_ bytes: UnsafeRawPointer, _ byteCount: Int) {
        if capacity - end < byteCount { makeRoom(for: byteCount) }
        (storage! + end).copyMemory(from: bytes, byteCount: byteCount)
        end += byteCount
    }

    /// Drops the first `byteCount` bytes (they were sent).
    func consume(_ byteCount: Int) {
        precondition(byteCount <= count)
        start += byteCount
        if start == end {
            start = 0
            end = 0
        }
    }

    private func makeRoom(for byteCount: Int) {
        let live = count
        if capacity - live >= byteCount, let storage {
            storage.copyMemory(from: storage + start, byteCount: live)
        } else {
            var grown = max(capacity * 2, 64 << 10)
            while grown - live < byteCount { grown *= 2 }
            let bigger = UnsafeMutableRawPointer.allocate(byteCount: grown, alignment: 16)
            if let storage {
                bigger.copyMemory(from: storage + start, byteCount: live)
                storage.deallocate()
            }
            storage = bigger
            capacity = grown
        }
        start = 0
        end = live
    }
}
