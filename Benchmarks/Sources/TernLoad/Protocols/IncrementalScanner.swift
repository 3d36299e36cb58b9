/// What a protocol's grammar finds at the start of the bytes it is shown.
enum ScanStep {
    /// The unit is cut off by the end of the bytes: the scanner shows it again with more.
    case needMore
    /// A message: its payload of `payloadCount` bytes starts `payloadStart` bytes in and is
    /// followed by `trailerCount` framing bytes (CRLF for NATS and Redis). Only the bytes before
    /// the payload need be there; the scanner skips the rest unread (but for the sampled head).
    case message(payloadStart: Int, payloadCount: Int, trailerCount: Int)
    /// A complete unit of `size` bytes that is not a message, and what it tells the client.
    /// A `.fatal` event stops the scanner.
    case other(size: Int, event: BenchEvent?)
    /// The bytes are not this protocol: the scanner reports `.fatal` and ignores the rest.
    case invalid(String)
}

/// One broker's server-to-client framing, as a pure function of the bytes at hand.
///
/// ### Implementers Notes
/// `scan` must not read past `available` bytes and must return `.needMore` rather than guess
/// when a unit is cut. A message is reported as soon as the bytes before its payload are in;
/// any other unit only when complete, and never longer than `BenchParserLimits.maxControlBytes`.
protocol ScanGrammar: Sendable {
    init()
    func scan(_ start: UnsafeRawPointer, _ available: Int) -> ScanStep
}

/// The push parser every broker's adapter is: a `ScanGrammar` walked over each read as it comes,
/// cut anywhere.
///
/// Units wholly inside one read are scanned in place. State carried between reads is a count of
/// payload bytes still to skip and, at most, the start of one unit (a header or control line plus
/// the sampled payload head), never a whole payload: a cut unit is held and grown a little at a
/// time from the next read until the grammar can read it.
struct IncrementalScanner<Grammar: ScanGrammar>: BenchParser {
    let sampling: Bool
    private let grammar = Grammar()
    /// Payload and trailer bytes of the current message still to skip.
    private var skip = 0
    /// The start of a unit cut by the end of the previous input.
    private var pending: [UInt8] = []
    private var failed = false

    /// Bytes taken from the next read at a time while a cut unit is held.
    private static var growth: Int { 64 }

    init(sampling: Bool) {
        self.sampling = sampling
    }

    mutating func parse<Sink: BenchSink>(_ bytes: UnsafeRawBufferPointer, into sink: inout Sink) {
        guard !failed, let base = bytes.baseAddress, bytes.count > 0 else { return }
        let count = bytes.count
        var offset = 0
        if skip > 0 {
            offset = min(skip, count)
            skip -= offset
            if offset == count { return }
        }
        if !pending.isEmpty {
            // Grow the held unit from the new bytes until it can be handled. Swap it out (no copy)
            // so handling may touch `self`; its capacity is kept for the next cut.
            var held: [UInt8] = []
            swap(&held, &pending)
            var size = 0
            while true {
                let step = held.withUnsafeBytes { scan($0.baseAddress!, $0.count) }
                if case .needMore = step {
                    guard held.count < BenchParserLimits.maxControlBytes else {
                        return fail("a unit longer than \(BenchParserLimits.maxControlBytes) bytes", &sink)
                    }
                    if offset == count {
                        pending = held
                        return
                    }
                    let take = min(Self.growth, count - offset)
                    held.append(contentsOf: UnsafeRawBufferPointer(start: base + offset, count: take))
                    offset += take
                    continue
                }
                size = held.withUnsafeBytes { handle(step, at: $0.baseAddress!, &sink) }
                break
            }
            if failed { return }
            // `size` may exceed what was held (the payload continues in the new bytes), or fall
            // short of it (the held bytes ran past the unit): skip or rewind.
            offset -= held.count - size
            if offset > count {
                skip = offset - count
                offset = count
            }
            held.removeAll(keepingCapacity: true)
            pending = held
            if skip > 0 || offset == count { return }
        }
        while offset < count {
            let step = scan(base + offset, count - offset)
            if case .needMore = step { break }
            let size = handle(step, at: base + offset, &sink)
            if failed { return }
            if size > count - offset {
                skip = size - (count - offset)
                return
            }
            offset += size
        }
        if offset < count {
            pending.append(contentsOf: UnsafeRawBufferPointer(start: base + offset, count: count - offset))
        }
    }

    /// The grammar's step, held back while a sampled message's payload head is not all there.
    @inline(__always)
    private func scan(_ start: UnsafeRawPointer, _ available: Int) -> ScanStep {
        let step = grammar.scan(start, available)
        if sampling, case .message(let payloadStart, let payloadCount, _) = step,
            available < payloadStart + min(payloadCount, BenchPayload.headSize)
        {
            return .needMore
        }
        return step
    }

    /// Reports what `step` found; returns the bytes the unit occupies, payload and trailer included.
    @inline(__always)
    private mutating func handle<Sink: BenchSink>(
        _ step: ScanStep,
        at start: UnsafeRawPointer,
        _ sink: inout Sink
    )
        -> Int
    {
        switch step {
        case .needMore:
            return 0
        case .message(let payloadStart, let payloadCount, let trailerCount):
            sink.message(payloadCount: payloadCount)
            if sampling {
                let head = min(payloadCount, BenchPayload.headSize)
                sink.payloadHead(UnsafeRawBufferPointer(start: start + payloadStart, count: head))
            }
            return payloadStart + payloadCount + trailerCount
        case .other(let size, let event):
            if case .fatal(let reason) = event {
                fail(reason, &sink)
            } else if let event {
                sink.event(event)
            }
            return size
        case .invalid(let reason):
            fail(reason, &sink)
            return 0
        }
    }

    private mutating func fail<Sink: BenchSink>(_ reason: String, _ sink: inout Sink) {
        failed = true
        pending = []
        sink.event(.fatal(reason))
    }
}
