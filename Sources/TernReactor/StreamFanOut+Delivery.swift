import TernCore
import TernWire

extension StreamFanOut {
    /// Copies the stream's new frames out of its ring once and hands the same bytes to every
    /// subscriber on this thread. If the ring holds more than one call takes, the stream goes on
    /// `drainAgain`, for the loop's next iteration (without waiting for a publish).
    func drain(_ local: LocalStream) {
        guard let ring = local.ring else { return }
        // Before reading: a publish after this point marks this thread dirty again.
        local.stream.beginDrain(group: index)
        for _ in 0..<Self.drainRoundsPerCall {
            let result = ring.read(from: local.cursor, into: batchBuffer)
            local.cursor = result.cursor
            guard result.bytes > 0 else { return }
            let batch = UnsafeRawBufferPointer(rebasing: batchBuffer[0..<result.bytes])
            let firstSequence = MessageFrame.sequence(in: batch, frameStart: 0)
            let lastSequence = MessageFrame.sequence(in: batch, frameStart: result.lastFrameStart)
            // Ring frames carry consecutive sequences, so the count needs no walk; frame starts
            // are indexed only if a subscriber needs the batch cut (`frameStarts`).
            batchFrameCount = Int(lastSequence - firstSequence + 1)
            batchFrameStarts.removeAll(keepingCapacity: true)
            if firstSequence > local.expectedSequence {
                // Lapped: the frames in between were overwritten before this thread copied them.
                let lost = firstSequence - local.expectedSequence
                plane.counters.add(lost * UInt64(local.subscribers.count), to: .messagesDroppedLapped)
                for subscriber in local.subscribers {
                    subscriber.recordDrop(streamID: local.stream.id, count: lost, reason: .lapped)
                }
            }
            local.expectedSequence = lastSequence + 1
            for subscriber in local.subscribers {
                deliver(batch, streamID: local.stream.id, to: subscriber)
            }
            if result.bytes < batchBuffer.count / 2 { return }
        }
        drainAgain.append(local.stream)
    }

    /// Where each frame of the current batch starts, indexed on first use.
    private func frameStarts(_ batch: UnsafeRawBufferPointer) -> [Int] {
        if batchFrameStarts.isEmpty { FrameWalker.frameStarts(batch, into: &batchFrameStarts) }
        return batchFrameStarts
    }

    /// Sends a run of whole MESSAGE frames to one subscriber: straight from the batch when its
    /// out-buffer is empty, else appended. What does not fit under the out-buffer limit is
    /// dropped whole frame by whole frame and counted.
    func deliver(_ batch: UnsafeRawBufferPointer, streamID: UInt32, to connection: Connection) {
        guard connection.state == .open else { return }
        if connection.streamsWithDrops > 0 {
            queueDropNotices(connection)
            // A DROPPED that cannot go out yet must still come before any later message of its
            // stream, so that stream's messages are dropped (and counted) until it can.
            if connection.subscriptions[streamID]?.hasPendingDrops == true {
                connection.recordDrop(streamID: streamID, count: UInt64(batchFrameCount), reason: .slowConsumer)
                plane.counters.add(UInt64(batchFrameCount), to: .messagesDroppedSlowConsumer)
                return
            }
        }
        var sent = 0
        if connection.outbound.isEmpty && connection.writable {
            switch connection.io.write(batch) {
            case .wrote(let written):
                connection.bytesWritten += UInt64(written)
                plane.counters.add(UInt64(written), to: .bytesOut)
                if written == batch.count {
                    creditDelivered(connection, frames: batchFrameCount)
                    return
                }
                sent = written
            case .wouldBlock:
                break
            case .failed(let reason):
                plane.close(connection, reason: reason)
                return
            }
            connection.writable = false
        }
        enqueue(batch, alreadySent: sent, streamID: streamID, to: connection)
    }

    private func enqueue(
        _ batch: UnsafeRawBufferPointer,
        alreadySent sent: Int,
        streamID: UInt32,
        to connection: Connection
    ) {
        let starts = frameStarts(batch)
        // The first frame not yet started; a frame cut by a partial write must be finished whatever the limit.
        let firstUnsent = starts.partitioningIndex { $0 >= sent }
        if sent > 0 && (firstUnsent == starts.count || starts[firstUnsent] > sent) {
            let tailEnd = firstUnsent < starts.count ? starts[firstUnsent] : batch.count
            guard connection.outbound.append(UnsafeRawBufferPointer(rebasing: batch[sent..<tailEnd])) else {
                plane.close(connection, reason: "out-buffer hard limit reached")
                return
            }
        }
        guard firstUnsent < starts.count else {
            creditDelivered(connection, frames: starts.count)
            return
        }
        let from = starts[firstUnsent]
        let space = connection.outbound.spaceUnderLimit
        // Frames [firstUnsent, cutFrame) fit under the limit; frame cutFrame would not.
        var cutFrame = starts.count
        if batch.count - from > space {
            cutFrame = starts.partitioningIndex { $0 - from > space } - 1
        }
        let cutOffset = cutFrame < starts.count ? starts[cutFrame] : batch.count
        if cutOffset > from {
            _ = connection.outbound.append(UnsafeRawBufferPointer(rebasing: batch[from..<cutOffset]))
        }
        let dropped = starts.count - cutFrame
        if dropped > 0 {
            connection.recordDrop(streamID: streamID, count: UInt64(dropped), reason: .slowConsumer)
            plane.counters.add(UInt64(dropped), to: .messagesDroppedSlowConsumer)
        }
        creditDelivered(connection, frames: cutFrame)
        if connection.writable { plane.queueFlush(connection) }
    }

    private func creditDelivered(_ connection: Connection, frames: Int) {
        connection.messagesDelivered += UInt64(frames)
        plane.counters.add(UInt64(frames), to: .messagesDelivered)
    }
}

extension Array {
    /// The first index whose element satisfies `belongs`, assuming all that do come after all that don't.
    func partitioningIndex(where belongs: (Element) -> Bool) -> Int {
        var low = 0
        var high = count
        while low < high {
            let middle = (low + high) / 2
            if belongs(self[middle]) { high = middle } else { low = middle + 1 }
        }
        return low
    }
}
