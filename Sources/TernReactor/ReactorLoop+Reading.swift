import Glibc
import TernCore

extension ReactorLoop {
    /// Whether `connection`, after `reads` reads in this call, must wait for the next turn. It
    /// must once any stream got a batch's worth of frames in this turn (they are delivered first,
    /// before the ring could lap this thread's reader), and once it had its fair share of reads
    /// while the turn's `readBudgetBytes` is spent. Until then publishers read on: under load to
    /// many streams, each subscriber write then carries several messages instead of one.
    ///
    /// Every call reads at least once, so a connection that arrives after a stream filled up
    /// is still served this turn; a turn thus adds at most `streamTurnLimit` plus one read per
    /// call to a stream.
    private func mustWaitForNextTurn(afterReads reads: Int) -> Bool {
        guard reads > 0 else { return false }
        return plane.turn.largestStreamBytes >= streamTurnLimit
            || (reads >= Self.readsPerTurn && plane.turn.bytesRead >= configuration.readBudgetBytes)
    }

    func retryReads() {
        guard !readAgainQueue.isEmpty else { return }
        let queue = readAgainQueue
        readAgainQueue.removeAll(keepingCapacity: true)
        for connection in queue {
            connection.queuedForRead = false
            readReady(connection)
        }
    }

    /// Reads and handles what arrived. A short read normally means the socket is drained (the next
    /// arrival raises a new edge), but once the peer has closed its side, its end-of-file raises no
    /// further edge: then reading goes on until `read` returns 0.
    func readReady(_ connection: Connection) {
        var reads = 0
        while connection.state == .awaitingHello || connection.state == .open {
            if mustWaitForNextTurn(afterReads: reads) {
                if !connection.queuedForRead {
                    connection.queuedForRead = true
                    readAgainQueue.append(connection)
                }
                return
            }
            let leftover = connection.pendingInput.count
            if leftover > 0 {
                connection.pendingInput.withUnsafeBytes {
                    readBuffer.baseAddress!.copyMemory(from: $0.baseAddress!, byteCount: leftover)
                }
            }
            let wanted = Self.readSize
            let received = read(connection.fd, readBuffer.baseAddress! + leftover, wanted)
            if received == 0 {
                if leftover > 0 {
                    // The peer may only have half-closed: tell it why its last frame is lost.
                    plane.session.endedInsideFrame(connection, leftover: leftover)
                } else {
                    plane.close(connection, reason: "closed by peer")
                }
                return
            }
            if received < 0 {
                if errno == EINTR { continue }
                if errno != EAGAIN && errno != EWOULDBLOCK {
                    plane.close(connection, reason: "read failed: \(String(cString: strerror(errno)))")
                }
                return
            }
            connection.lastHeard = MonotonicTime.milliseconds()
            connection.pingSentAt = nil
            counters.add(UInt64(received), to: .bytesIn)
            let total = leftover + received
            let consumed = plane.session.receive(
                UnsafeRawBufferPointer(rebasing: readBuffer[0..<total]),
                from: connection
            )
            if connection.state == .closing || connection.state == .closed { return }
            connection.pendingInput.removeAll(keepingCapacity: true)
            if consumed < total {
                connection.pendingInput.append(
                    contentsOf: UnsafeRawBufferPointer(rebasing: readBuffer[consumed..<total])
                )
            }
            reads += 1
            plane.turn.bytesRead += received
            if received < wanted && !connection.peerClosed { return }  // drained; the next edge will tell us
        }
    }
}
