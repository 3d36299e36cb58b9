import TernWire

/// Reads what the server wrote to one connection, frame by frame as it arrives, and checks it
/// against protocol.md's promises.
final class ServerTranscript {
    /// False once raw bytes were sent: request ids are then the fuzzer's, not ours.
    var wellFormedInputOnly = true
    private(set) var fatalSeen = false
    private var offset = 0
    private var lastRequestID: UInt32 = 0
    private var lastAnswered: UInt32 = 0
    private var sentRequests: Set<UInt32> = []
    /// Per subscribed stream: the next sequence expected and the drops announced since.
    private var expected: [UInt32: (next: UInt64, dropped: UInt64)] = [:]

    func nextRequestID() -> UInt32 {
        lastRequestID += 1
        return lastRequestID
    }

    func sent(request: UInt32) { sentRequests.insert(request) }

    func read(_ written: [UInt8]) {
        while written.count - offset >= WireLimits.headerSize {
            let length = written[offset..<offset + 4].reduce(0) { $0 << 8 | Int($1) }
            guard written.count - offset >= WireLimits.headerSize + length else { return }
            check(!fatalSeen, "a frame after a fatal ERROR")
            let frame: Frame
            do {
                frame = try written[offset..<offset + WireLimits.headerSize + length].withUnsafeBytes { raw in
                    let header = try FrameHeader.parse(raw, maxBody: Int(UInt32.max))
                    return try Frame.decode(
                        header: header,
                        body: UnsafeRawBufferPointer(rebasing: raw[WireLimits.headerSize...])
                    )
                }
            } catch {
                fatalError("invariant broken: the server wrote a frame that does not decode: \(error)")
            }
            offset += WireLimits.headerSize + length
            observe(frame)
        }
    }

    private func observe(_ frame: Frame) {
        switch frame {
        case .subscribed(let subscribed):
            answered(subscribed.requestID)
            expected[subscribed.streamID] = subscribed.attachOnly ? nil : (subscribed.nextSequence, 0)
        case .unsubscribed(let requestID, let streamID):
            answered(requestID)
            expected[streamID] = nil
        case .published(let published):
            answered(published.requestID)
        case .error(let error):
            if error.fatal {
                fatalSeen = true
            } else {
                answered(error.requestID)
            }
        case .dropped(let dropped):
            check(dropped.count > 0, "DROPPED with a zero count")
            if var stream = expected[dropped.streamID] {
                stream.dropped += dropped.count
                expected[dropped.streamID] = stream
            }
        case .message(let message):
            guard let stream = expected[message.streamID] else {
                fatalError("invariant broken: MESSAGE for stream \(message.streamID), not subscribed")
            }
            check(
                message.sequence == stream.next + stream.dropped,
                "MESSAGE \(message.sequence) on stream \(message.streamID): expected \(stream.next) + \(stream.dropped) dropped"
            )
            expected[message.streamID] = (message.sequence + 1, 0)
        case .streamEnded(let streamID, _):
            expected[streamID] = nil
        case .tokenRefreshed(let requestID, _):
            answered(requestID)
        case .resumed(let resumed):
            // Follows the SUBSCRIBED that answered the same RESUME (already counted as its answer).
            if wellFormedInputOnly {
                check(
                    resumed.requestID == lastAnswered,
                    "RESUMED for request \(resumed.requestID) not right after its SUBSCRIBED"
                )
            }
        case .welcome, .ping, .pong, .tokenExpiring, .lane:
            break
        case .ringMapped:
            // The embedded session cannot pass descriptors: SUBSCRIBE_SHARED is always refused there.
            fatalError("invariant broken: RING_MAPPED on a connection that cannot pass descriptors")
        case .hello, .subscribe, .unsubscribe, .publish, .refreshToken, .resume, .subscribeShared, .ringLoss:
            fatalError("invariant broken: the server wrote a client-to-server frame: \(frame)")
        }
    }

    /// Answers come in request order, one per request.
    private func answered(_ requestID: UInt32) {
        guard wellFormedInputOnly else { return }
        check(sentRequests.contains(requestID), "answer to request \(requestID), never sent")
        check(requestID > lastAnswered, "answer to request \(requestID) after the answer to \(lastAnswered)")
        lastAnswered = requestID
    }
}
