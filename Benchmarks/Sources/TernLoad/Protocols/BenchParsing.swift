/// What a bench parser reports besides message counts.
enum BenchEvent: Equatable {
    /// The broker confirmed a setup step (NATS PONG, Redis subscribe confirmation or +PONG).
    case ready
    /// Bytes the client must send back (a PONG for the broker's PING).
    case reply([UInt8])
    /// The broker reported lost messages (Tern DROPPED).
    case dropped(UInt64)
    /// The stream ended (Tern STREAM_ENDED).
    case ended
    /// The broker refused something; the connection stays open.
    case error(String)
    /// The bytes broke the protocol or the broker closed the session: the parser ignores the rest.
    case fatal(String)
}

/// Receives what a parser finds. Parsers are generic over it so that the per-message calls
/// inline into the receiver's loop.
protocol BenchSink {
    /// One message of `payloadCount` bytes arrived.
    mutating func message(payloadCount: Int)
    /// The first `BenchPayload.headSize` bytes of that message's payload (fewer if it is shorter).
    /// Only parsers built with `sampling: true` call this, right after `message`.
    mutating func payloadHead(_ head: UnsafeRawBufferPointer)
    mutating func event(_ event: BenchEvent)
}

/// A push parser for one broker's server-to-client byte stream: `parse` takes the bytes of each
/// read as they come, cut anywhere. Every broker's is an `IncrementalScanner` over its grammar.
protocol BenchParser: Sendable {
    init(sampling: Bool)
    mutating func parse<Sink: BenchSink>(_ bytes: UnsafeRawBufferPointer, into sink: inout Sink)
}

/// Longest control line or non-message frame a bench parser accepts before giving up.
enum BenchParserLimits {
    static let maxControlBytes = 64 << 10
}

/// A sink that keeps everything, for tests and setup handshakes.
struct RecordingSink: BenchSink {
    var messages = 0
    var payloadBytes = 0
    var heads: [[UInt8]] = []
    var events: [BenchEvent] = []

    mutating func message(payloadCount: Int) {
        messages += 1
        payloadBytes += payloadCount
    }

    mutating func payloadHead(_ head: UnsafeRawBufferPointer) { heads.append(Array(head)) }
    mutating func event(_ event: BenchEvent) { events.append(event) }
}
