import TernWire

/// One subscription's account of what arrived, checked frame by frame against the gap rule
/// (protocol.md §4.9): the DROPPED counts that arrive between two MESSAGEs of the stream (or
/// between SUBSCRIBED and the first) equal the gap in their sequences exactly, so every DROPPED
/// comes before the first message after its gap. Feed it frames with `message`, `dropped` and
/// `ended`, or let `read` pull them from a `RawDataClient` until STREAM_ENDED or EOF.
struct Ledger {
    var received = 0
    var dropped: UInt64 = 0
    /// Dropped counts announced since the last message, not yet matched by a gap.
    var unmatched: UInt64 = 0
    var lastSequence: UInt64
    var ended: StreamEndReason?
    var violations: [String] = []

    init(nextSequence: UInt64) { lastSequence = nextSequence - 1 }

    /// Everything this subscription was due since SUBSCRIBED: delivered plus announced as lost.
    var accounted: UInt64 { UInt64(received) + dropped }

    mutating func message(sequence: UInt64) {
        if ended != nil { violations.append("MESSAGE \(sequence) after STREAM_ENDED") }
        if sequence <= lastSequence {
            violations.append("sequence \(lastSequence) -> \(sequence): not increasing")
        } else if sequence - lastSequence - 1 != unmatched {
            violations.append("sequence \(lastSequence) -> \(sequence) after DROPPED totalling \(unmatched)")
        }
        unmatched = 0
        lastSequence = max(lastSequence, sequence)
        received += 1
    }

    mutating func dropped(count: UInt64) {
        if ended != nil { violations.append("DROPPED \(count) after STREAM_ENDED") }
        unmatched += count
        dropped += count
    }

    mutating func ended(_ reason: StreamEndReason) {
        if ended != nil { violations.append("a second STREAM_ENDED") }
        ended = reason
    }

    /// At the end: announced drops that no later message matched are the messages lost at the
    /// tail, so `published` (the last sequence the stream gave out) must be `lastSequence +
    /// unmatched`.
    func checkTail(lastPublished: UInt64) -> String? {
        lastSequence + unmatched == lastPublished
            ? nil : "last sequence \(lastSequence) + \(unmatched) unmatched drops != last published \(lastPublished)"
    }

    mutating func read(_ client: RawDataClient, timeout: Double = 15) throws {
        while ended == nil, let frame = try client.next(timeout: timeout) {
            switch frame {
            case .message(let message): self.message(sequence: message.sequence)
            case .dropped(let notice): dropped(count: notice.count)
            case .streamEnded(_, let reason): ended(reason)
            default: break
            }
        }
    }
}
