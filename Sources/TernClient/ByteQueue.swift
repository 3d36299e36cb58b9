/// A growable run of bytes with a read index and a write index, used for both directions of a
/// connection. Bytes are appended at the tail and consumed from the head; consumed space is
/// reclaimed by moving the unread bytes to the front only when the tail runs short, so a steady
/// stream of small frames costs no copies beyond the one into the queue.
final class ByteQueue {
    private(set) var storage: UnsafeMutableRawPointer
    private(set) var capacity: Int
    private(set) var readIndex = 0
    private(set) var writeIndex = 0

    init(capacity: Int) {
        self.capacity = capacity
        storage = .allocate(byteCount: capacity, alignment: 16)
    }

    deinit { storage.deallocate() }

    var readableCount: Int { writeIndex - readIndex }
    var isEmpty: Bool { readIndex == writeIndex }

    /// The unread bytes; valid until the next mutation.
    var readable: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: storage + readIndex, count: readableCount) }

    var writablePointer: UnsafeMutableRawPointer { storage + writeIndex }
    var writableCount: Int { capacity - writeIndex }

    /// Makes room for at least `count` more bytes at the tail.
    func reserveWritable(_ count: Int) {
        if capacity - writeIndex >= count { return }
        let unread = readableCount
        if readIndex > 0 && capacity - unread >= count {
            storage.copyMemory(from: storage + readIndex, byteCount: unread)
        } else {
            var newCapacity = capacity * 2
            while newCapacity - unread < count { newCapacity *= 2 }
            let grown = UnsafeMutableRawPointer.allocate(byteCount: newCapacity, alignment: 16)
            grown.copyMemory(from: storage + readIndex, byteCount: unread)
            storage.deallocate()
            storage = grown
            capacity = newCapacity
        }
        readIndex = 0
        writeIndex = unread
    }

    /// Records that `count` bytes were written at `writablePointer`.
    func didWrite(_ count: Int) {
        precondition(count >= 0 && writeIndex + count <= capacity)
        writeIndex += count
    }

    func append(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        reserveWritable(bytes.count)
        writablePointer.copyMemory(from: base, byteCount: bytes.count)
        writeIndex += bytes.count
    }

    func append(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { append($0) }
    }

    /// Drops `count` bytes from the head. An emptied queue restarts at offset 0 for free.
    func consume(_ count: Int) {
        precondition(count >= 0 && count <= readableCount)
        readIndex += count
        if readIndex == writeIndex {
            readIndex = 0
            writeIndex = 0
        }
    }
}
