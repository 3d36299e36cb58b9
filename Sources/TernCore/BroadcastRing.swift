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
///
/// ### Memory
/// The cursors (`tailIntent`, `tail`, `latest`) live in a control block in front of the frames
/// (`SharedRingLayout`), in a `RingMemory`: anonymous memory, or (with `shared`, or after
/// `makeShared`) a sealed memfd that shared-memory readers map read-only and read with the same
/// rules (protocol.md §4.19).
public final class BroadcastRing: @unchecked Sendable {
    /// Bytes of frame storage; a power of two.
    public let capacity: Int
    private let mapping: RingMemory
    private let memory: UnsafeMutableRawPointer
    private let header: UnsafeMutableRawPointer
    /// Replay checkpoints: per segment of the ring (a 1/`checkpointSlots` of it), the start and
    /// sequence of the first piece the writer began there in its current lap. Written once per appended piece, never
    /// per frame; read by `replayStart` under the same lock that serialises the writers.
    private let checkpoints: UnsafeMutablePointer<Checkpoint>
    private let segmentShift: UInt64
    static let checkpointSlots = 256

    /// A frame start and its sequence.
    public struct Checkpoint: Equatable, Sendable {
        public var position: UInt64
        public var sequence: UInt64
    }

    /// - Parameters:
    ///   - capacity: a power of two, at least twice the largest frame.
    ///   - shared: place the ring in a memfd that can be handed to shared-memory readers; if the
    ///     memfd cannot be made, the ring lives in private memory (`isShared` is false).
    ///   - streamID: written into the control block for readers to check.
    public init(capacity: Int, shared: Bool = false, streamID: UInt32 = 0) {
        precondition(capacity >= 64 && capacity & (capacity - 1) == 0, "ring capacity must be a power of two ≥ 64")
        self.capacity = capacity
        mapping = RingMemory(capacity: capacity, shared: shared, streamID: streamID)
        header = mapping.header
        memory = mapping.frames
        checkpoints = .allocate(capacity: Self.checkpointSlots)
        checkpoints.initialize(repeating: Checkpoint(position: 0, sequence: 0), count: Self.checkpointSlots)
        segmentShift = UInt64(max(1, capacity / Self.checkpointSlots).trailingZeroBitCount)
    }

    deinit { checkpoints.deallocate() }

    // The control block's words (`SharedRingLayout`).
    private var tailIntentWord: UnsafeMutableRawPointer { header + SharedRingLayout.tailIntentOffset }
    private var tailWord: UnsafeMutableRawPointer { header + SharedRingLayout.tailOffset }
    private var latestWord: UnsafeMutableRawPointer { header + SharedRingLayout.latestOffset }

    /// The memfd shared-memory readers map, nil for a private ring.
    public var sharedDescriptor: Int32? { mapping.descriptor }
    public var isShared: Bool { mapping.descriptor != nil }

    /// Moves a private ring into a sealed memfd in place, for its first shared-memory reader;
    /// true if the ring is shared afterwards (false when no memfd can be made: the ring stays
    /// private and intact). Caller serialises with the writers; readers may go on.
    public func makeShared() -> Bool { mapping.share() }

    /// Wakes shared-memory readers waiting for frames (protocol.md §4.19): one increment of the
    /// notify word and one FUTEX_WAKE. Called once per publishing turn, never per message.
    public func wakeMappedReaders() { mapping.notify() }

    /// Tells shared-memory readers the stream ended (`reason` is its STREAM_ENDED reason), and
    /// wakes them.
    public func markEnded(reason: UInt8) {
        ctern_store_release_u32(header + SharedRingLayout.endReasonOffset, UInt32(reason))
        mapping.notify()
    }

    /// Where a replay of the frames after `sequence` starts: the newest checkpoint still in the
    /// ring at or before sequence + 1, else the oldest one still in the ring (the frames before
    /// it are gone). Nil when the ring holds no checkpoint. Caller serialises with the writers.
    public func replayStart(after sequence: UInt64) -> Checkpoint? {
        let end = ctern_load_relaxed_u64(tailWord)
        var best: Checkpoint?
        var oldest: Checkpoint?
        for slot in 0..<Self.checkpointSlots {
            let checkpoint = checkpoints[slot]
            // Unused, or overwritten since (its frame no longer lies in the last `capacity` bytes).
            guard checkpoint.sequence > 0, checkpoint.position < end, end - checkpoint.position <= UInt64(capacity)
            else { continue }
            if checkpoint.sequence <= sequence + 1, checkpoint.sequence > best?.sequence ?? 0 { best = checkpoint }
            if checkpoint.sequence < oldest?.sequence ?? .max { oldest = checkpoint }
        }
        return best ?? oldest
    }

    /// Copies whole frames from `cursor` up to `limit` (a frame boundary, at most the tail) into
    /// `destination`. Nil if the writer lapped the range: the bytes in it are gone.
    public func readRange(
        from cursor: UInt64,
        upTo limit: UInt64,
        into destination: UnsafeMutableRawBufferPointer
    )
        -> ReadResult?
    {
        guard cursor < limit else { return ReadResult(bytes: 0, cursor: cursor, lapped: false) }
        let end = ctern_load_acquire_u64(tailWord)
        guard limit <= end, end &- cursor <= UInt64(capacity) else { return nil }
        let count = min(Int(limit - cursor), destination.count)
        ctern_ring_load(destination.baseAddress, memory, capacity, cursor, count)
        atomicMemoryFence(ordering: .acquiring)
        guard ctern_load_relaxed_u64(tailIntentWord) &- cursor <= UInt64(capacity) else { return nil }
        let (whole, lastStart) = FrameWalker.wholeFrames(UnsafeRawBufferPointer(rebasing: destination[..<count]))
        return ReadResult(bytes: whole, cursor: cursor + UInt64(whole), lapped: false, lastFrameStart: lastStart)
    }

    /// The position just past the newest complete frame; a new reader starts here.
    public var tailPosition: UInt64 { ctern_load_acquire_u64(tailWord) }

    /// Appends one MESSAGE frame. Caller serialises writers.
    public func appendMessage(streamID: UInt32, sequence: UInt64, payload: UnsafeRawBufferPointer) {
        withUnsafePointer(to: payload) { single in
            appendMessages(
                streamID: streamID,
                firstSequence: sequence,
                payloads: UnsafeBufferPointer(start: single, count: 1),
                staging: nil
            )
        }
    }

    /// Appends one MESSAGE frame per payload, with consecutive sequences. Caller serialises writers.
    ///
    /// A run is announced and published (one `tailIntent`, one `tail`) in pieces of at most half
    /// the ring. With `staging` (the calling thread's scratch memory), a piece's frames are
    /// encoded there and copied into the ring at once, so the word-atomic copy pays for unaligned
    /// ends once per piece rather than twice per frame; a frame larger than `staging` is written
    /// in place. Scratch memory belongs to the writer, not the ring, so ten thousand streams with
    /// runs do not each keep a staging page resident.
    public func appendMessages(
        streamID: UInt32,
        firstSequence: UInt64,
        payloads: UnsafeBufferPointer<UnsafeRawBufferPointer>,
        staging: UnsafeMutableRawBufferPointer?
    ) {
        let stagingBytes = payloads.count > 1 ? staging?.count ?? 0 : 0
        let pieceLimit = UInt64(capacity / 2)
        var index = 0
        var sequence = firstSequence
        withUnsafeTemporaryAllocation(byteCount: MessageFrame.prefixSize, alignment: 8) { prefix in
            while index < payloads.count {
                let start = ctern_load_relaxed_u64(tailWord)
                var end = start
                var lastStart = start
                var stop = index
                while stop < payloads.count {
                    let size = UInt64(MessageFrame.size(payloadCount: payloads[stop].count))
                    precondition(size <= pieceLimit, "frame of \(size) bytes does not fit a \(capacity)-byte ring")
                    if end + size - start > pieceLimit && stop > index { break }
                    // A staged piece ends where the staging memory does, unless it is one frame.
                    if stagingBytes > 0 && end + size - start > UInt64(stagingBytes) && stop > index { break }
                    lastStart = end
                    end += size
                    stop += 1
                }
                // The first piece that starts in a segment marks it, so a replay walks at most
                // one segment (plus one piece) of frames it skips.
                let slot = Int((start >> segmentShift) & UInt64(Self.checkpointSlots - 1))
                if checkpoints[slot].sequence == 0
                    || checkpoints[slot].position >> segmentShift != start >> segmentShift
                {
                    checkpoints[slot] = Checkpoint(position: start, sequence: sequence)
                }
                // Seqlock write side: announce, fence, write, publish.
                ctern_store_relaxed_u64(tailIntentWord, end)
                atomicMemoryFence(ordering: .releasing)
                if let staging, stagingBytes > 0, end - start <= UInt64(stagingBytes) {
                    var staged = staging.baseAddress!
                    for payload in payloads[index..<stop] {
                        MessageFrame.writePrefix(
                            streamID: streamID,
                            sequence: sequence,
                            payloadCount: payload.count,
                            to: staged
                        )
                        staged += MessageFrame.prefixSize
                        if let base = payload.baseAddress { staged.copyMemory(from: base, byteCount: payload.count) }
                        staged += payload.count
                        sequence += 1
                    }
                    ctern_ring_store(memory, capacity, start, staging.baseAddress, Int(end - start))
                } else {
                    var position = start
                    for payload in payloads[index..<stop] {
                        MessageFrame.writePrefix(
                            streamID: streamID,
                            sequence: sequence,
                            payloadCount: payload.count,
                            to: prefix.baseAddress!
                        )
                        ctern_ring_store(memory, capacity, position, prefix.baseAddress, MessageFrame.prefixSize)
                        if let base = payload.baseAddress {
                            ctern_ring_store(
                                memory,
                                capacity,
                                position + UInt64(MessageFrame.prefixSize),
                                base,
                                payload.count
                            )
                        }
                        position += UInt64(MessageFrame.size(payloadCount: payload.count))
                        sequence += 1
                    }
                }
                ctern_store_release_u64(latestWord, lastStart)
                ctern_store_release_u64(tailWord, end)
                index = stop
            }
        }
    }

    /// The outcome of one `read`.
    public struct ReadResult: Equatable {
        /// Bytes of whole frames copied to the destination.
        public var bytes: Int
        /// Where the reader continues next time.
        public var cursor: UInt64
        /// True if the reader had been lapped and skipped ahead (frames were lost).
        public var lapped: Bool
        /// Offset in the destination of the last whole frame copied (when `bytes > 0`): with the
        /// first frame's sequence it tells how many frames the copy holds, without walking them.
        public var lastFrameStart: Int = 0
    }

    /// Copies a reader retries after being lapped during a copy before it skips to the tail.
    static let readAttempts = 8

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
        for _ in 0..<Self.readAttempts {
            let end = ctern_load_acquire_u64(tailWord)
            if end == cursor { return ReadResult(bytes: 0, cursor: cursor, lapped: lapped) }
            if end &- cursor > UInt64(capacity) || cursor > end {
                cursor = ctern_load_acquire_u64(latestWord)
                lapped = true
                continue
            }
            let count = min(Int(end - cursor), destination.count)
            ctern_ring_load(destination.baseAddress, memory, capacity, cursor, count)
            atomicMemoryFence(ordering: .acquiring)
            let intent = ctern_load_relaxed_u64(tailIntentWord)
            if intent &- cursor > UInt64(capacity) {
                cursor = ctern_load_acquire_u64(latestWord)
                lapped = true
                continue
            }
            let (whole, lastStart) = FrameWalker.wholeFrames(UnsafeRawBufferPointer(rebasing: destination[..<count]))
            return ReadResult(bytes: whole, cursor: cursor + UInt64(whole), lapped: lapped, lastFrameStart: lastStart)
        }
        // Lapped again and again: the writer is far faster than this reader. Skip to the tail.
        return ReadResult(bytes: 0, cursor: ctern_load_acquire_u64(tailWord), lapped: true)
    }
}
