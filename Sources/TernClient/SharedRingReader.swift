import CTernShims
import Glibc
import Synchronization
import TernWire

/// A stream's ring, mapped read-only from ternd (protocol.md §4.19), read with the rules a
/// reactor thread uses: copy a run of frames out, then check the writer did not announce that
/// range meanwhile (a seqlock); a reader that was lapped jumps to the newest frame and counts
/// what it lost from the sequence numbers.
///
/// All the client's pointer code for shared memory is here. Nothing it does writes to the
/// mapping (it is mapped `PROT_READ`, and the memfd is sealed against writable mappings).
/// One thread at a time.
public final class SharedRingReader {
    /// What one `next()` found.
    public enum Event {
        /// A whole MESSAGE frame, valid until the next call.
        case message(UnsafeRawBufferPointer)
        /// `count` messages were overwritten before this reader copied them (a lap).
        case lost(UInt64)
    }

    public let streamID: UInt32
    public let capacity: Int
    /// The ring position of the next frame to read.
    public internal(set) var cursor: UInt64
    /// The sequence the next MESSAGE should carry; a larger one means a loss.
    public internal(set) var expectedSequence: UInt64
    /// Messages lost to lapping since the reader started.
    public internal(set) var totalLost: UInt64 = 0

    private let mapping: UnsafeMutableRawPointer
    private let mappedBytes: Int
    let header: UnsafeRawPointer
    let frames: UnsafeRawPointer
    let batch: UnsafeMutableRawBufferPointer
    var batchEnd = 0
    var batchOffset = 0
    /// Copies retried after a lap during the copy before skipping to the tail (as the server's).
    static let readAttempts = 8

    /// Maps `descriptor` (which it closes) as the ring `mapped` describes; the first frame to
    /// read has sequence `nextSequence` (from SUBSCRIBED).
    /// - Throws: `.system` if mmap fails, `.protocolViolation` if the control block is not a
    ///   Tern ring of a layout this client knows, for this stream, of the announced size.
    public init(descriptor: Int32, mapped: Frame.RingMapped, nextSequence: UInt64) throws {
        defer { close(descriptor) }
        let headerBytes = Int(mapped.headerBytes)
        let capacity = Int(mapped.ringBytes)
        guard headerBytes >= 128, headerBytes % 64 == 0, capacity >= 64, capacity & (capacity - 1) == 0 else {
            throw TernClientError.protocolViolation("RING_MAPPED with header \(headerBytes) and ring \(capacity) bytes")
        }
        let total = headerBytes + capacity
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { throw TernClientError.system(call: "fstat", errno: errno) }
        guard Int(status.st_size) >= total else {
            throw TernClientError.protocolViolation(
                "ring memfd holds \(status.st_size) bytes, RING_MAPPED says \(total)"
            )
        }
        let address = mmap(nil, total, PROT_READ, MAP_SHARED, descriptor, 0)
        guard let address, address != MAP_FAILED else { throw TernClientError.system(call: "mmap", errno: errno) }
        mapping = address
        mappedBytes = total
        header = UnsafeRawPointer(address)
        frames = UnsafeRawPointer(address) + headerBytes
        self.capacity = capacity
        streamID = mapped.streamID
        cursor = mapped.startPosition
        expectedSequence = nextSequence
        batch = .allocate(byteCount: min(capacity, 256 << 10), alignment: 16)
        let magic = (0..<8).map { header.load(fromByteOffset: SharedRingLayout.magicOffset + $0, as: UInt8.self) }
        let layout = header.load(fromByteOffset: SharedRingLayout.layoutVersionOffset, as: UInt32.self)
        let announced = header.load(fromByteOffset: SharedRingLayout.capacityOffset, as: UInt64.self)
        let stream = header.load(fromByteOffset: SharedRingLayout.streamIDOffset, as: UInt32.self)
        guard magic == SharedRingLayout.magic, layout == SharedRingLayout.layoutVersion,
            announced == mapped.ringBytes, stream == mapped.streamID
        else {
            batch.deallocate()
            munmap(address, total)
            throw TernClientError.protocolViolation("the mapped ring's control block does not match RING_MAPPED")
        }
    }

    deinit {
        batch.deallocate()
        munmap(mapping, mappedBytes)
    }

    /// The notify word now: read it, find no frame, then `wait(whileNotify:)` with it.
    public var notifyValue: UInt32 { ctern_load_acquire_u32(header + SharedRingLayout.notifyOffset) }

    /// The STREAM_ENDED reason once the stream ended (the socket brings STREAM_ENDED too).
    public var endReason: UInt8? {
        let reason = ctern_load_acquire_u32(header + SharedRingLayout.endReasonOffset)
        return reason == 0 ? nil : UInt8(truncatingIfNeeded: reason)
    }

    /// Whether the writer has published past this reader's position.
    public var hasNewFrames: Bool {
        batchOffset < batchEnd || ctern_load_acquire_u64(header + SharedRingLayout.tailOffset) != cursor
    }

    /// Sleeps (FUTEX_WAIT) until the notify word moves from `notify`, a wake-up, or `timeout`.
    public func wait(whileNotify notify: UInt32, timeout: Duration?) {
        var nanoseconds: Int64 = -1
        if let timeout {
            let (seconds, attoseconds) = timeout.components
            nanoseconds = max(0, seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
        }
        _ = ctern_futex_wait(header + SharedRingLayout.notifyOffset, notify, nanoseconds)
    }

    /// The next frame or loss, or nil when the reader has caught up with the writer.
    public func next() -> Event? {
        if batchOffset >= batchEnd && !refill() { return nil }
        let frame = UnsafeRawBufferPointer(rebasing: batch[batchOffset..<batchEnd])
        let sequence = MessageFrame.sequence(in: frame, frameStart: 0)
        if sequence > expectedSequence {
            let lost = sequence - expectedSequence
            expectedSequence = sequence
            totalLost += lost
            return .lost(lost)
        }
        let size = FrameWalker.firstFrameSize(frame)
        batchOffset += size
        expectedSequence = sequence + 1
        return .message(UnsafeRawBufferPointer(rebasing: frame[0..<size]))
    }

    /// Copies the next run of whole frames (at most `limit` bytes of them) into `batch`; false
    /// when there is none.
    func refill(limit: Int = .max) -> Bool {
        batchOffset = 0
        batchEnd = 0
        let tailWord = header + SharedRingLayout.tailOffset
        let intentWord = header + SharedRingLayout.tailIntentOffset
        let latestWord = header + SharedRingLayout.latestOffset
        let ringBytes = UInt64(capacity)
        for _ in 0..<Self.readAttempts {
            let end = ctern_load_acquire_u64(tailWord)
            if end == cursor { return false }
            if end &- cursor > ringBytes || cursor > end {
                cursor = ctern_load_acquire_u64(latestWord)
                continue
            }
            let count = min(Int(end - cursor), batch.count, limit)
            ctern_ring_load(batch.baseAddress, frames, capacity, cursor, count)
            atomicMemoryFence(ordering: .acquiring)
            if ctern_load_relaxed_u64(intentWord) &- cursor > ringBytes {
                cursor = ctern_load_acquire_u64(latestWord)
                continue
            }
            let whole = FrameWalker.wholeFrames(UnsafeRawBufferPointer(rebasing: batch[..<count])).bytes
            cursor += UInt64(whole)
            batchEnd = whole
            return whole > 0
        }
        // Lapped on every try: the writer is far ahead. Start again at its tail; the next frame
        // read tells how much was lost.
        cursor = ctern_load_acquire_u64(tailWord)
        return false
    }
}
