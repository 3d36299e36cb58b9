import TernCore
import TernWire

extension StreamFanOut {
    /// Replays to `connection`, which has just joined `stream` as a subscriber, the frames after
    /// `sequence` that the ring still holds, up to where this thread's live delivery stands: the
    /// same ring bytes every subscriber got, copied, never re-encoded. What the ring no longer
    /// holds is counted as `notRetained` and reported with DROPPED before the first replayed
    /// frame; a replay the writer overruns meanwhile counts the rest as `lapped`. Each batch goes
    /// through `deliver`, so a resumer whose out-buffer fills is cut like any slow subscriber.
    ///
    /// Must run right after `join` (nothing delivered on this thread in between), so the live
    /// part continues exactly where the replay ends.
    func replay(_ connection: Connection, stream: BrokerStream, after sequence: UInt64) {
        guard let local = localStream(stream), let ring = local.ring else { return }
        let end = local.cursor
        let endSequence = local.expectedSequence
        var expected = sequence + 1
        guard expected < endSequence else { return }
        var cursor = stream.replayStart(in: ring, after: sequence).map(\.position)
        var replayedAny = false
        while let position = cursor, position < end, connection.state == .open {
            guard let result = ring.readRange(from: position, upTo: end, into: batchBuffer), result.bytes > 0 else {
                break
            }
            cursor = result.cursor
            let batch = UnsafeRawBufferPointer(rebasing: batchBuffer[0..<result.bytes])
            var starts: [Int] = []
            FrameWalker.frameStarts(batch, into: &starts)
            let firstSequence = MessageFrame.sequence(in: batch, frameStart: 0)
            // Frames the client saw already: the checkpoint may lie before its sequence.
            let skip = firstSequence < expected ? Int(min(expected - firstSequence, UInt64(starts.count))) : 0
            guard skip < starts.count else { continue }
            let from = starts[skip]
            let replayFrom = firstSequence + UInt64(skip)
            if replayFrom > expected {
                if !replayedAny { plane.counters.add(replayFrom - expected, to: .messagesDroppedNotRetained) }
                connection.recordDrop(
                    streamID: stream.id,
                    count: replayFrom - expected,
                    reason: replayedAny ? .lapped : .notRetained
                )
            }
            replayedAny = true
            batchFrameStarts = starts[skip...].map { $0 - from }
            batchFrameCount = starts.count - skip
            deliver(UnsafeRawBufferPointer(rebasing: batch[from...]), streamID: stream.id, to: connection)
            expected = firstSequence + UInt64(starts.count)
            plane.counters.add(UInt64(starts.count - skip), to: .messagesReplayed)
        }
        batchFrameStarts.removeAll(keepingCapacity: true)
        if expected < endSequence {
            if !replayedAny { plane.counters.add(endSequence - expected, to: .messagesDroppedNotRetained) }
            connection.recordDrop(
                streamID: stream.id,
                count: endSequence - expected,
                reason: replayedAny ? .lapped : .notRetained
            )
        }
        // Nothing may follow for a while: report the loss now if there is room (else as usual).
        queueDropNotices(connection)
    }
}
