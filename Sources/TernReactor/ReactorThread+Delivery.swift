import Glibc
import TernCore
import TernWire

extension ReactorThread {
    /// Rounds of ring reads per stream per loop iteration before giving other work a turn.
    static let drainRoundsPerIteration = 4

    /// Copies the stream's new frames out of its ring once and hands the same bytes to every
    /// subscriber on this thread.
    func drain(_ local: LocalStream) {
        guard let ring = local.ring else { return }
        // Clear our dirty bit first: a publish after this point marks us dirty again.
        local.stream.dirtyMask.bitwiseAnd(~(1 << UInt64(index)), ordering: .sequentiallyConsistent)
        for _ in 0..<Self.drainRoundsPerIteration {
            let result = ring.read(from: local.cursor, into: batchBuffer)
            local.cursor = result.cursor
            guard result.bytes > 0 else { return }
            let batch = UnsafeRawBufferPointer(rebasing: batchBuffer[0..<result.bytes])
            let firstSequence = sequence(in: batch, at: 0)
            let lastSequence = sequence(in: batch, at: result.lastFrameStart)
            // Ring frames carry consecutive sequences, so the count needs no walk; frame starts
            // are indexed only if a subscriber needs the batch cut (`frameStarts`).
            batchFrameCount = Int(lastSequence - firstSequence + 1)
            batchFrameStarts.removeAll(keepingCapacity: true)
            if firstSequence > local.expectedSequence {
                // Lapped: the frames in between were overwritten before this thread copied them.
                let lost = firstSequence - local.expectedSequence
                counters.messagesLapped.add(lost * UInt64(local.subscribers.count), ordering: .relaxed)
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
        // Still more: come back next iteration without waiting for a new publish.
        streamHasNewFrames(local.stream)
    }

    /// Where each frame of the current batch starts, indexed on first use.
    private func frameStarts(_ batch: UnsafeRawBufferPointer) -> [Int] {
        if batchFrameStarts.isEmpty {
            var offset = 0
            while offset < batch.count {
                batchFrameStarts.append(offset)
                let length = Int(UInt32(bigEndian: batch.loadUnaligned(fromByteOffset: offset, as: UInt32.self)))
                offset += WireLimits.headerSize + length
            }
        }
        return batchFrameStarts
    }

    private func sequence(in batch: UnsafeRawBufferPointer, at frameStart: Int) -> UInt64 {
        UInt64(bigEndian: batch.loadUnaligned(fromByteOffset: frameStart + 12, as: UInt64.self))
    }

    /// Sends a run of whole MESSAGE frames to one subscriber: straight from the batch when its
    /// out-buffer is empty, else appended. What does not fit under the out-buffer limit is
    /// dropped whole frame by whole frame and counted.
    private func deliver(_ batch: UnsafeRawBufferPointer, streamID: UInt32, to connection: Connection) {
        guard connection.state == .open else { return }
        if connection.streamsWithDrops > 0 {
            queueDropNotices(connection)
            // A DROPPED that cannot go out yet must still come before any later message of its
            // stream, so that stream's messages are dropped (and counted) until it can.
            if connection.subscriptions[streamID]?.hasPendingDrops == true {
                connection.recordDrop(streamID: streamID, count: UInt64(batchFrameCount), reason: .slowConsumer)
                counters.messagesDroppedSlow.add(UInt64(batchFrameCount), ordering: .relaxed)
                return
            }
        }
        var sent = 0
        if connection.outbound.isEmpty && connection.writable {
            let written = write(connection.fd, batch.baseAddress, batch.count)
            if written == batch.count {
                connection.bytesWritten += UInt64(written)
                connection.messagesDelivered += UInt64(batchFrameCount)
                counters.messagesDelivered.add(UInt64(batchFrameCount), ordering: .relaxed)
                counters.bytesOut.add(UInt64(written), ordering: .relaxed)
                return
            }
            if written < 0 {
                guard errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR else {
                    closeNow(connection, reason: "write failed: \(String(cString: strerror(errno)))")
                    return
                }
            } else {
                sent = written
                connection.bytesWritten += UInt64(written)
                counters.bytesOut.add(UInt64(written), ordering: .relaxed)
            }
            connection.writable = false
        }
        enqueue(batch, alreadySent: sent, streamID: streamID, to: connection)
    }

    private func enqueue(_ batch: UnsafeRawBufferPointer, alreadySent sent: Int, streamID: UInt32, to connection: Connection) {
        let starts = frameStarts(batch)
        // The first frame not yet started; a frame cut by a partial write must be finished whatever the limit.
        let firstUnsent = starts.partitioningIndex { $0 >= sent }
        if sent > 0 && (firstUnsent == starts.count || starts[firstUnsent] > sent) {
            let tailEnd = firstUnsent < starts.count ? starts[firstUnsent] : batch.count
            guard connection.outbound.append(UnsafeRawBufferPointer(rebasing: batch[sent..<tailEnd])) else {
                closeNow(connection, reason: "out-buffer hard limit reached")
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
            counters.messagesDroppedSlow.add(UInt64(dropped), ordering: .relaxed)
        }
        creditDelivered(connection, frames: cutFrame)
        if connection.writable { queueFlush(connection) }
    }

    private func creditDelivered(_ connection: Connection, frames: Int) {
        connection.messagesDelivered += UInt64(frames)
        counters.messagesDelivered.add(UInt64(frames), ordering: .relaxed)
    }

    /// Appends DROPPED notices once the out-buffer has room again (at least half free).
    func queueDropNotices(_ connection: Connection) {
        guard connection.streamsWithDrops > 0,
            connection.outbound.spaceUnderLimit >= connection.outbound.limit / 2
        else { return }
        for (streamID, subscription) in connection.subscriptions where subscription.hasPendingDrops {
            sendDropNotices(connection, streamID: streamID)
            guard connection.state != .closed else { return }
        }
    }

    /// Sends the DROPPED notices one subscription still owes, whatever room the out-buffer has
    /// (control frames may pass the message limit): before STREAM_ENDED or UNSUBSCRIBED, since
    /// no later moment exists to report them.
    func sendDropNotices(_ connection: Connection, streamID: UInt32) {
        guard var subscription = connection.subscriptions[streamID], subscription.hasPendingDrops else { return }
        let slow = subscription.droppedSlow
        let lapped = subscription.droppedLapped
        subscription.droppedSlow = 0
        subscription.droppedLapped = 0
        connection.subscriptions[streamID] = subscription
        connection.streamsWithDrops -= 1
        if slow > 0 { sendControl(connection, .dropped(.init(streamID: streamID, count: slow, reason: .slowConsumer))) }
        if lapped > 0 { sendControl(connection, .dropped(.init(streamID: streamID, count: lapped, reason: .lapped))) }
    }

    /// Writes as much pending output as the socket takes.
    func flush(_ connection: Connection) {
        while !connection.outbound.isEmpty && connection.writable {
            let pending = connection.outbound.readable
            let written = write(connection.fd, pending.baseAddress, pending.count)
            if written > 0 {
                connection.outbound.consume(written)
                connection.bytesWritten += UInt64(written)
                counters.bytesOut.add(UInt64(written), ordering: .relaxed)
            } else if written < 0 && errno == EINTR {
                continue
            } else if written < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
                connection.writable = false
            } else {
                closeNow(connection, reason: "write failed: \(String(cString: strerror(errno)))")
                return
            }
            if connection.streamsWithDrops > 0 { queueDropNotices(connection) }
        }
        if connection.outbound.isEmpty && connection.state == .closing {
            closeNow(connection, reason: connection.closeReason)
        }
    }

    /// Closes the socket and forgets the connection.
    func closeNow(_ connection: Connection, reason: String) {
        guard connection.state != .closed else { return }
        leaveAll(connection)
        connection.state = .closed
        epoll.remove(connection.fd)
        close(connection.fd)
        if Int(connection.fd) < connections.count, connections[Int(connection.fd)] === connection {
            connections[Int(connection.fd)] = nil
        }
        shared.openConnections.subtract(1, ordering: .relaxed)
        counters.connectionsClosed.add(1, ordering: .relaxed)
        rememberClosed(connection, reason: reason)
        logger.debug("connection \(connection.id) (\(connection.peer)) closed: \(reason)")
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
