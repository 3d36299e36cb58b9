import CTernShims
import Synchronization
import TernWire

#if canImport(Glibc)
import Glibc
#endif

/// A lossy single-writer, many-reader broadcast buffer of MESSAGE frames (after Agrona's
/// `BroadcastTransmitter`/`BroadcastReceiver`).
///
/// Frames are stored back to back as final wire bytes, wrapping at the end of the buffer, so a
/// reader copies a whole run of frames at once and relays it unchanged. Readers never block the
/// writer: the writer announces the range it is about to overwrite (`tailIntent`) before touching
/// it, and a reader checks after copying that the range it copied was not announced meanwhile.
/// If it was, the copy may be torn: the reader has been lapped, discards the copy and jumps
/// to the newest frame (`latest`).
///
/// ### Concurrency
/// `append` must be serialised by the caller (one writer at a time; `BrokerStream` holds a lock).
/// `read` may run on any number of threads at once, lock-free. Ring memory is only ever touched
/// through word-sized relaxed atomics (`ctern_ring_store`/`ctern_ring_load`), so the deliberate
/// race is visible to the Thread Sanitizer as atomics, not as a data race.
public final class BroadcastRing: @unchecked Sendable {
    /// Bytes of frame storage; a power of two.
    public let capacity: Int
    private let memory: UnsafeMutableRawPointer
    /// End of the region the writer may be writing (≥ `tail`).
    private let tailIntent = Atomic<UInt64>(0)
    /// End of the last complete frame. Frames live in `[tail - capacity, tail)`, minus lapping.
    private let tail = Atomic<UInt64>(0)
    /// Start of the newest complete frame: where a lapped reader starts again.
    private let latest = Atomic<UInt64>(0)

    /// - Parameter capacity: a power of two, at least twice the largest frame.
    public init(capacity: Int) {
        precondition(capacity >= 64 && capacity & (capacity - 1) == 0, "ring capacity must be a power of two ≥ 64")
        self.capacity = capacity
        // mmap so that pages of a large, sparsely used ring are not resident until written.
        let mapped = mmap(nil, capacity, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        guard let mapped, mapped != MAP_FAILED else {
            fatalError("mmap of a \(capacity)-byte ring failed: errno \(errno)")
        }
        memory = mapped
    }

    deinit {
        munmap(memory, capacity)
    }

    /// The position just past the newest complete frame; a new reader starts here.
    public var tailPosition: UInt64 { tail.load(ordering: .acquiring) }

    /// Appends one MESSAGE frame. Caller serialises writers.
    public func appendMessage(streamID: UInt32, sequence: UInt64, payload: UnsafeRawBufferPointer) {
        let size = MessageFrame.size(payloadCount: payload.count)
        precondition(size <= capacity / 2, "frame of \(size) bytes does not fit a \(capacity)-byte ring")
        let start = tail.load(ordering: .relaxed)
        let end = start + UInt64(size)
        // Seqlock write side: announce, fence, write, publish.
        tailIntent.store(end, ordering: .relaxed)
        atomicMemoryFence(ordering: .releasing)
        withUnsafeTemporaryAllocation(byteCount: MessageFrame.prefixSize, alignment: 8) { prefix in
            MessageFrame.writePrefix(
                streamID: streamID, sequence: sequence, payloadCount: payload.count, to: prefix.baseAddress!)
            ctern_ring_store(memory, capacity, start, prefix.baseAddress, MessageFrame.prefixSize)
        }
        if let base = payload.baseAddress {
            ctern_ring_store(memory, capacity, start + UInt64(MessageFrame.prefixSize), base, payload.count)
        }
        latest.store(start, ordering: .releasing)
        tail.store(end, ordering: .releasing)
    }

    /// The outcome of one `read`.
    public struct ReadResult: Equatable {
        /// Bytes of whole frames copied to the destination.
        public var bytes: Int
        /// Where the reader continues next time.
        public var cursor: UInt64
        /// True if the reader had been lapped and skipped ahead (frames were lost).
        public var lapped: Bool
    }

    /// Copies whole frames from `cursor` on into `destination`, as many as fit.
    ///
    /// `destination` must hold at least the largest frame: a frame that does not fit is not
    /// copied, and the cursor does not move past it.
    ///
    /// The copy is validated after it is made, so the bytes returned are never torn. When the
    /// reader was lapped it restarts at the newest frame and reports `lapped`; the caller learns
    /// how many frames it lost from the sequence numbers.
    public func read(from cursor: UInt64, into destination: UnsafeMutableRawBufferPointer) -> ReadResult {
        var cursor = cursor
        var lapped = false
        for _ in 0..<8 {
            let end = tail.load(ordering: .acquiring)
            if end == cursor { return ReadResult(bytes: 0, cursor: cursor, lapped: lapped) }
            if end &- cursor > UInt64(capacity) || cursor > end {
                cursor = latest.load(ordering: .acquiring)
                lapped = true
                continue
            }
            let count = min(Int(end - cursor), destination.count)
            ctern_ring_load(destination.baseAddress, memory, capacity, cursor, count)
            atomicMemoryFence(ordering: .acquiring)
            let intent = tailIntent.load(ordering: .relaxed)
            if intent &- cursor > UInt64(capacity) {
                cursor = latest.load(ordering: .acquiring)
                lapped = true
                continue
            }
            let whole = Self.wholeFrameBytes(UnsafeRawBufferPointer(rebasing: destination[..<count]))
            return ReadResult(bytes: whole, cursor: cursor + UInt64(whole), lapped: lapped)
        }
        // Lapped again and again: the writer is far faster than this reader. Skip to the tail.
        return ReadResult(bytes: 0, cursor: tail.load(ordering: .acquiring), lapped: true)
    }

    /// Length of the longest prefix of `bytes` made of whole frames.
    static func wholeFrameBytes(_ bytes: UnsafeRawBufferPointer) -> Int {
        var offset = 0
        while bytes.count - offset >= WireLimits.headerSize {
            let length = Int(UInt32(bigEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self)))
            let next = offset + WireLimits.headerSize + length
            if next > bytes.count { break }
            offset = next
        }
        return offset
    }
}
