/// A connection's pending output: bytes accepted for the socket but not yet written.
///
/// Allocated on first use and kept (steady-state delivery then allocates nothing). It is bounded:
/// message frames are only appended while they fit under `limit` (the rest are dropped and
/// counted by the caller), while control frames and the tail of a half-written frame may go up to
/// `hardLimit`, past which the connection is closed.
struct OutboundBuffer: ~Copyable {
    /// Message bytes allowed to wait (`--out-buffer`).
    let limit: Int
    /// Absolute cap including control frames.
    let hardLimit: Int
    private var storage: UnsafeMutableRawPointer?
    private var capacity = 0
    private var readIndex = 0
    private var writeIndex = 0

    init(limit: Int) {
        self.limit = limit
        hardLimit = limit + 64 * 1024
    }

    deinit {
        storage?.deallocate()
    }

    var count: Int { writeIndex - readIndex }
    var isEmpty: Bool { writeIndex == readIndex }
    /// Room left under `limit` for message frames.
    var spaceUnderLimit: Int { max(0, limit - count) }
    /// Bytes held in memory (for the connections view and memory accounting).
    var allocatedBytes: Int { capacity }

    /// The bytes waiting to be written.
    var readable: UnsafeRawBufferPointer {
        guard let storage else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        return UnsafeRawBufferPointer(start: storage + readIndex, count: count)
    }

    /// Capacity kept after the buffer drains; a larger buffer (grown by a burst) is given back,
    /// so thousands of once-busy, now-idle subscribers do not each hold a megabyte.
    static let retainedCapacity = 64 * 1024

    /// Marks `n` bytes as written.
    mutating func consume(_ n: Int) {
        readIndex += n
        if readIndex == writeIndex {
            readIndex = 0
            writeIndex = 0
            if capacity > Self.retainedCapacity {
                storage?.deallocate()
                storage = nil
                capacity = 0
            }
        }
    }

    /// Appends `bytes` if the total stays under `hardLimit`; false otherwise (nothing appended).
    mutating func append(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard bytes.count > 0 else { return true }
        guard let destination = reserve(bytes.count) else { return false }
        destination.copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
        commit(bytes.count)
        return true
    }

    mutating func append(_ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { append($0) }
    }

    /// Room for `n` more bytes at the write end, or nil past `hardLimit`. Call `commit` after writing.
    mutating func reserve(_ n: Int) -> UnsafeMutableRawPointer? {
        guard count + n <= hardLimit else { return nil }
        if capacity - writeIndex < n {
            if readIndex > 0 && capacity - count >= n {
                // Slide the waiting bytes to the front instead of growing.
                if let storage, count > 0 { (storage).copyMemory(from: storage + readIndex, byteCount: count) }
                writeIndex = count
                readIndex = 0
            } else {
                grow(toHold: count + n)
            }
        }
        return storage! + writeIndex
    }

    mutating func commit(_ n: Int) {
        writeIndex += n
    }

    private mutating func grow(toHold needed: Int) {
        var newCapacity = max(capacity * 2, 16 * 1024)
        while newCapacity < needed { newCapacity *= 2 }
        newCapacity = min(newCapacity, max(hardLimit, needed))
        let newStorage = UnsafeMutableRawPointer.allocate(byteCount: newCapacity, alignment: 16)
        if let storage {
            if count > 0 { newStorage.copyMemory(from: storage + readIndex, byteCount: count) }
            storage.deallocate()
        }
        writeIndex = count
        readIndex = 0
        storage = newStorage
        capacity = newCapacity
    }
}
