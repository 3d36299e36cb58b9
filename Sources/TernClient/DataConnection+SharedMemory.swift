import TernWire

/// How a `DataConnection` waits when its mapped rings have nothing new (after Aeron's idle
/// strategies).
public enum SharedMemoryIdle: Sendable, Equatable {
    /// Check the rings `spins` times, then sleep on the ring's futex until ternd's next wake-up
    /// (one per publishing turn). No CPU while idle.
    case park(spins: Int)
    /// Never sleep: lowest latency, one core busy while waiting.
    case spin
}

/// A mapped ring and the STREAM_ENDED that waits until the ring is drained.
struct MappedRing {
    let reader: SharedRingReader
    var pendingEnd: Frame?
}

extension DataConnection {
    /// How often the socket is looked at while rings keep `nextFrame` busy, or while it spins:
    /// PING, STREAM_ENDED and errors still come that way.
    static let socketCheckInterval = Duration.milliseconds(1)
    /// Longest single futex sleep: the socket is looked at in between.
    static let longestPark = Duration.milliseconds(250)

    func nextFrameWithRings(until deadline: Deadline) throws -> Frame? {
        while true {
            if let event = nextRingEvent() { return event }
            if let event = try checkSocket(force: true) { return event }
            if let queued = dequeueEvent() { return queued }
            if rings.isEmpty { return try nextFrame(timeout: deadline.remaining) }
            if deadline.hasPassed { return nil }
            try idle(deadline: deadline)
        }
    }

    /// The next message or loss from any mapped ring, or the held-back STREAM_ENDED of a ring
    /// that is drained. Also looks at the socket every `socketCheckInterval`.
    private func nextRingEvent() -> Frame? {
        for (streamID, ring) in rings {
            switch ring.reader.next() {
            case .message(let bytes)?:
                return .message(
                    Frame.Message(
                        streamID: streamID,
                        sequence: MessageFrame.sequence(in: bytes, frameStart: 0),
                        payload: Array(bytes[MessageFrame.prefixSize...])
                    )
                )
            case .lost(let count)?:
                transport.append(.ringLoss(requestID: 0, streamID: streamID, count: count))
                return .dropped(Frame.Dropped(streamID: streamID, count: count, reason: .ringLapped))
            case nil:
                if let end = ring.pendingEnd {
                    rings[streamID] = nil
                    return end
                }
            }
        }
        return nil
    }

    /// For a caller that stops calling `nextFrame` for a while (its consumer is behind) while
    /// every subscription is mapped: answers PING and keeps what else the server pushed for
    /// `nextFrame`, without waiting and without reading the rings, so the server does not end
    /// the connection as idle. With socket-read subscriptions it reads nothing: the server then
    /// holds their messages, and drops and counts what does not fit.
    func keepAlive() throws {
        guard socketSubscriptions.isEmpty else { return }
        // Reading sends what is buffered, the PONG included.
        while let event = try checkSocket(force: true) { queuedEvents.append(event) }
    }

    /// Reads what the socket holds now (no waiting) and routes it; returns the first event.
    private func checkSocket(force: Bool) throws -> Frame? {
        let now = ContinuousClock.now
        guard force || now - lastSocketCheck >= Self.socketCheckInterval else { return nil }
        lastSocketCheck = now
        while let frame = try transport.readFrame(until: Deadline(instant: now)) {
            if let event = route(frame) { return event }
        }
        return nil
    }

    private func idle(deadline: Deadline) throws {
        var spins = Int.max
        if case .park(let count) = sharedMemoryIdle { spins = count }
        // Spin on the rings first (for `.spin`, until the socket is due a look).
        var spun = 0
        while spun < spins {
            if rings.values.contains(where: { $0.reader.hasNewFrames || $0.pendingEnd != nil }) { return }
            spun += 1
            if spun & 63 == 0 {
                if ContinuousClock.now - lastSocketCheck >= Self.socketCheckInterval { return }
                if deadline.hasPassed { return }
            }
        }
        // Park: one ring and no socket subscription: sleep on its futex (the daemon wakes it once
        // per publishing turn, and at the stream's end). Otherwise wait on the socket briefly.
        var limit = deadline.remaining.map { min($0, Self.longestPark) } ?? Self.longestPark
        if rings.count == 1, socketSubscriptions.isEmpty, let ring = rings.values.first, ring.reader.endReason == nil {
            let notify = ring.reader.notifyValue
            if ring.reader.hasNewFrames { return }
            ring.reader.wait(whileNotify: notify, timeout: limit)
        } else {
            if rings.count > 1 || !socketSubscriptions.isEmpty { limit = min(limit, Self.socketCheckInterval) }
            if let frame = try transport.readFrame(until: Deadline(after: limit)), let event = route(frame) {
                queuedEvents.append(event)
            }
        }
    }
}

extension Deadline {
    /// Time left, nil for never.
    var remaining: Duration? {
        guard let instant else { return nil }
        return max(.zero, ContinuousClock.now.duration(to: instant))
    }
}
