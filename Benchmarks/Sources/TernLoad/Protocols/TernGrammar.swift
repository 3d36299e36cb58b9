import TernWire

/// Tern's server-to-client frames (protocol.md): a MESSAGE is reported from its 8-byte header
/// alone; any other frame is decoded the ordinary way once whole (they are rare).
struct TernGrammar: ScanGrammar {
    func scan(_ start: UnsafeRawPointer, _ available: Int) -> ScanStep {
        guard available >= WireLimits.headerSize else { return .needMore }
        let length = Int(UInt32(bigEndian: start.loadUnaligned(as: UInt32.self)))
        if start.load(fromByteOffset: 4, as: UInt8.self) == FrameType.message.rawValue
            && length >= WireLimits.messageBodyOverhead
        {
            return .message(
                payloadStart: MessageFrame.prefixSize,
                payloadCount: length - WireLimits.messageBodyOverhead,
                trailerCount: 0
            )
        }
        let frameSize = WireLimits.headerSize + length
        guard frameSize <= BenchParserLimits.maxControlBytes else { return .invalid("frame of \(length) bytes") }
        guard available >= frameSize else { return .needMore }
        return .other(size: frameSize, event: Self.event(UnsafeRawBufferPointer(start: start, count: frameSize)))
    }

    /// What a whole non-MESSAGE frame means to a bench client.
    private static func event(_ bytes: UnsafeRawBufferPointer) -> BenchEvent? {
        let frame: Frame
        do {
            let header = try FrameHeader.parse(bytes, maxBody: BenchParserLimits.maxControlBytes)
            let body = UnsafeRawBufferPointer(rebasing: bytes[WireLimits.headerSize...])
            frame = try Frame.decode(header: header, body: body)
        } catch {
            return .fatal("\(error)")
        }
        switch frame {
        case .dropped(let dropped): return .dropped(dropped.count)
        case .streamEnded: return .ended
        case .ping(let opaque): return .reply(Frame.pong(opaque).encoded())
        case .error(let error):
            let text = "\(error.code.name): \(error.message)"
            return error.fatal ? .fatal(text) : .error(text)
        case .subscribed, .pong: return .ready
        default: return nil
        }
    }
}

/// Tern's parser: MESSAGE frames counted by walking their headers.
typealias TernStreamParser = IncrementalScanner<TernGrammar>
