import CTernShims
import Synchronization
import TernWire

/// Zero-copy reading, after Agrona's `BroadcastReceiver`: frames are looked at where they lie in
/// the mapping, and only afterwards checked against the writer. Use either this or `next()` on
/// one reader, not both.
///
///     while let run = reader.nextRunInPlace() {
///         let summary = look(at: run.frames)          // no side effects that cannot be undone
///         switch reader.validate(run) {
///         case .intact(let lostBefore): keep(summary, lostBefore)
///         case .overwritten: break                    // discard; the next run counts the loss
///         }
///     }
extension SharedRingReader {
    /// A run of whole MESSAGE frames, consecutive in sequence. In place, the writer may be
    /// overwriting them while they are read: trust nothing read from them until `validate` says
    /// `.intact`.
    public struct Run {
        public let frames: UnsafeRawBufferPointer
        /// The sequences of the first and last frame, as read before the check.
        public let firstSequence: UInt64
        public let lastSequence: UInt64
        let start: UInt64
        let inPlace: Bool
    }

    /// What `validate` found.
    public enum RunCheck: Equatable {
        /// The run was intact; `lostBefore` messages were overwritten between the previous run and
        /// this one (a lap).
        case intact(lostBefore: UInt64)
        /// The writer overwrote the run while it was being read: discard what was read from it.
        case overwritten
    }

    /// The next run of whole frames, or nil when the reader has caught up with the writer. A
    /// frame that wraps around the ring's end is copied out first (the run then lies in the
    /// reader's own buffer, already checked). `maxBytes` bounds how much of the ring one run
    /// covers (a run always holds at least one frame), so a thread serving many readers can give
    /// each a bounded turn.
    public func nextRunInPlace(maxBytes: Int = .max) -> Run? {
        let tailWord = header + SharedRingLayout.tailOffset
        let latestWord = header + SharedRingLayout.latestOffset
        let ringBytes = UInt64(capacity)
        for _ in 0..<Self.readAttempts {
            // One read of the property a try: each is checked for exclusive access.
            let position = cursor
            let end = ctern_load_acquire_u64(tailWord)
            if end == position { return nil }
            if end &- position > ringBytes || position > end {
                cursor = ctern_load_acquire_u64(latestWord)
                continue
            }
            let offset = Int(position & (ringBytes - 1))
            let inPlace = UnsafeRawBufferPointer(
                start: frames + offset,
                count: min(Int(end - position), capacity - offset)
            )
            let (whole, lastStart) = FrameWalker.wholeFrames(inPlace, upTo: maxBytes)
            // The sequences are read from the first and last frame, which must hold them: torn
            // bytes may claim any length.
            if whole >= lastStart + MessageFrame.prefixSize, whole >= MessageFrame.prefixSize,
                FrameWalker.firstFrameSize(inPlace) >= MessageFrame.prefixSize
            {
                return Run(
                    frames: UnsafeRawBufferPointer(rebasing: inPlace[..<whole]),
                    firstSequence: MessageFrame.sequence(in: inPlace, frameStart: 0),
                    lastSequence: MessageFrame.sequence(in: inPlace, frameStart: lastStart),
                    start: position,
                    inPlace: true
                )
            }
            // The next frame wraps around the ring's end (or is being rewritten): copy it out.
            // Only that frame: what follows it is read in place again.
            var length: UInt32 = 0
            ctern_ring_load(&length, frames, capacity, position, 4)
            guard refill(limit: WireLimits.headerSize + Int(UInt32(bigEndian: length))) else { continue }
            let copied = UnsafeRawBufferPointer(rebasing: batch[..<batchEnd])
            batchEnd = 0
            let last = FrameWalker.wholeFrames(copied).lastStart
            return Run(
                frames: copied,
                firstSequence: MessageFrame.sequence(in: copied, frameStart: 0),
                lastSequence: MessageFrame.sequence(in: copied, frameStart: last),
                start: position,
                inPlace: false
            )
        }
        return nil
    }

    /// Checks `run` against the writer after it was read, and moves past it if it was intact.
    public func validate(_ run: Run) -> RunCheck {
        if run.inPlace {
            atomicMemoryFence(ordering: .acquiring)
            let intent = ctern_load_relaxed_u64(header + SharedRingLayout.tailIntentOffset)
            if intent &- run.start > UInt64(capacity) {
                // Lapped while reading: start again at the newest frame; the next run counts the loss.
                cursor = ctern_load_acquire_u64(header + SharedRingLayout.latestOffset)
                return .overwritten
            }
            cursor = run.start + UInt64(run.frames.count)
        }
        let expected = expectedSequence
        let lost = run.firstSequence > expected ? run.firstSequence - expected : 0
        if lost > 0 { totalLost += lost }
        expectedSequence = run.lastSequence + 1
        return .intact(lostBefore: lost)
    }
}
