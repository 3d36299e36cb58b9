import TernWire

/// Tern's server-to-client frames (protocol.md): MESSAGE frames are counted by walking their
/// headers; anything else is decoded the ordinary way (it is rare).
struct TernStreamParser: BenchParser {
    let sampling: Bool
    /// Bytes of the current MESSAGE still to skip.
    private var skip = 0
    /// The start of a frame cut by the end of the previous input.
    private var pending: [UInt8] = []
    private var failed = false

    /// Bytes of a MESSAGE up to the end of the sampled payload head.
    private static let sampledPrefix = MessageFrame.prefixSize + BenchPayload.headSize

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
            // Complete the cut frame's needed prefix from the new bytes, then handle it.
            while true {
                guard let need = required(pending) else {
                    return fail("frame larger than \(BenchParserLimits.maxControlBytes) bytes", &sink)
                }
                if pending.count >= need { break }
                let take = min(need - pending.count, count - offset)
                pending.append(contentsOf: UnsafeRawBufferPointer(start: base + offset, count: take))
                offset += take
                if pending.count < need { return }
            }
            let frameSize = WireLimits.headerSize + Int(loadLength(pending))
            // Swap the bytes out (no copy) so handling may touch `self`; keep the capacity after.
            var held: [UInt8] = []
            swap(&held, &pending)
            held.withUnsafeBytes { handleFrame(prefix: $0, frameSize: frameSize, &sink) }
            if failed { return }
            let rest = frameSize - held.count
            held.removeAll(keepingCapacity: true)
            pending = held
            let take = min(rest, count - offset)
            offset += take
            skip = rest - take
            if skip > 0 { return }
        }
        while count - offset >= WireLimits.headerSize {
            let frame = base + offset
            let length = Int(UInt32(bigEndian: frame.loadUnaligned(as: UInt32.self)))
            let frameSize = WireLimits.headerSize + length
            let available = count - offset
            if frame.load(fromByteOffset: 4, as: UInt8.self) == FrameType.message.rawValue
                && length >= WireLimits.messageBodyOverhead
            {
                if sampling && available < min(frameSize, Self.sampledPrefix) { break }
                sink.message(payloadCount: length - WireLimits.messageBodyOverhead)
                if sampling {
                    let head = min(length - WireLimits.messageBodyOverhead, BenchPayload.headSize)
                    sink.payloadHead(UnsafeRawBufferPointer(start: frame + MessageFrame.prefixSize, count: head))
                }
                if available < frameSize {
                    skip = frameSize - available
                    return
                }
                offset += frameSize
            } else {
                guard frameSize <= BenchParserLimits.maxControlBytes else {
                    return fail("frame of \(length) bytes", &sink)
                }
                if available < frameSize { break }
                handleControl(UnsafeRawBufferPointer(start: frame, count: frameSize), &sink)
                if failed { return }
                offset += frameSize
            }
        }
        if offset < count {
            pending.append(contentsOf: UnsafeRawBufferPointer(start: base + offset, count: count - offset))
        }
    }

    /// Bytes of a cut frame needed before it can be handled; nil if it is too large to hold.
    private func required(_ prefix: [UInt8]) -> Int? {
        guard prefix.count >= WireLimits.headerSize else { return WireLimits.headerSize }
        let length = Int(loadLength(prefix))
        let frameSize = WireLimits.headerSize + length
        if prefix[4] == FrameType.message.rawValue && length >= WireLimits.messageBodyOverhead {
            return sampling ? min(frameSize, Self.sampledPrefix) : WireLimits.headerSize
        }
        return frameSize <= BenchParserLimits.maxControlBytes ? frameSize : nil
    }

    private func loadLength(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBytes { UInt32(bigEndian: $0.loadUnaligned(as: UInt32.self)) }
    }

    /// Handles a frame of which `prefix` holds at least the needed bytes (all of it unless a MESSAGE).
    private mutating func handleFrame<Sink: BenchSink>(
        prefix: UnsafeRawBufferPointer, frameSize: Int, _ sink: inout Sink
    ) {
        let length = frameSize - WireLimits.headerSize
        if prefix[4] == FrameType.message.rawValue && length >= WireLimits.messageBodyOverhead {
            sink.message(payloadCount: length - WireLimits.messageBodyOverhead)
            if sampling {
                let head = min(length - WireLimits.messageBodyOverhead, BenchPayload.headSize)
                let start = MessageFrame.prefixSize
                sink.payloadHead(UnsafeRawBufferPointer(rebasing: prefix[start..<start + head]))
            }
        } else {
            handleControl(prefix, &sink)
        }
    }

    private mutating func handleControl<Sink: BenchSink>(_ bytes: UnsafeRawBufferPointer, _ sink: inout Sink) {
        let frame: Frame
        do {
            let header = try FrameHeader.parse(bytes, maxBody: BenchParserLimits.maxControlBytes)
            let body = UnsafeRawBufferPointer(rebasing: bytes[WireLimits.headerSize...])
            frame = try Frame.decode(header: header, body: body)
        } catch {
            return fail("\(error)", &sink)
        }
        switch frame {
        case .dropped(let dropped): sink.event(.dropped(dropped.count))
        case .streamEnded: sink.event(.ended)
        case .ping(let opaque): sink.event(.reply(Frame.pong(opaque).encoded()))
        case .error(let error):
            if error.fatal {
                fail("\(error.code.name): \(error.message)", &sink)
            } else {
                sink.event(.error("\(error.code.name): \(error.message)"))
            }
        case .subscribed, .pong: sink.event(.ready)
        default: break
        }
    }

    private mutating func fail<Sink: BenchSink>(_ reason: String, _ sink: inout Sink) {
        failed = true
        pending = []
        sink.event(.fatal(reason))
    }
}
