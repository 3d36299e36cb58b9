import TernWire

/// libFuzzer entry point for the wire codec. One input is one run.
///
/// Byte 0 chooses the run's settings; the rest is the material:
/// - bit 7 clear: the rest is a byte stream from a peer, split and decoded (`StreamCheck`);
/// - bit 7 set: the rest describes one frame's fields, encoded then decoded back (`EncoderCheck`);
/// - bits 0–1: `max_frame_body`: 8192 (the default), 0, 64, or 2³²−1 (no frame is too large);
/// - bits 2–6: the stream arrives in reads of 1 to 32 bytes (the second, chunked pass).
///
/// Any broken invariant traps (`fatalError`), which libFuzzer records as a crash.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzFrames(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data = data, size > 0 else { return 0 }
    let settings = data[0]
    // A view that ends where libFuzzer's allocation ends, so ASan sees any read past the input.
    let material = UnsafeRawBufferPointer(start: data + 1, count: size - 1)
    if settings & 0x80 == 0 {
        let maxBodies = [8192, 0, 64, Int(UInt32.max)]
        StreamCheck(maxBody: maxBodies[Int(settings & 0x03)], readSize: Int(settings >> 2 & 0x1F) + 1).run(material)
    } else {
        EncoderCheck.run(material)
    }
    return 0
}

func check(_ condition: Bool, _ message: @autoclosure () -> String, file: StaticString = #file, line: UInt = #line) {
    if !condition { fatalError("invariant broken: \(message())", file: file, line: line) }
}

/// How a pass over a stream ended.
enum StreamEnd: Equatable {
    /// Waiting for more bytes; the unconsumed bytes start here.
    case needsMore(consumed: Int)
    /// The header at this offset was refused with this code.
    case refused(offset: Int, code: ErrorCode)
}

/// A frame found by the splitter, as offsets into the whole stream.
struct FoundFrame: Equatable {
    var header: FrameHeader
    var start: Int
    var end: Int
}

/// Splits a stream twice, once whole and once as it would arrive in reads of `readSize` bytes,
/// and checks that both passes find the same frames and stop the same way, that every slice lies
/// inside the buffer and matches its header bytes, that refusals carry the code protocol.md
/// gives, and that every frame the decoder accepts encodes back to exactly its bytes.
struct StreamCheck {
    let splitter: FrameSplitter
    let maxBody: Int
    let readSize: Int

    init(maxBody: Int, readSize: Int) {
        self.splitter = FrameSplitter(maxBody: maxBody)
        self.maxBody = maxBody
        self.readSize = readSize
    }

    func run(_ stream: UnsafeRawBufferPointer) {
        let (whole, end) = splitWhole(stream)
        let (chunked, chunkedEnd) = splitChunked(stream)
        check(whole == chunked, "reads of \(readSize) bytes found other frames than the whole stream")
        check(end == chunkedEnd, "reads of \(readSize) bytes ended as \(chunkedEnd), the whole stream as \(end)")
    }

    /// The whole stream in one buffer; every frame found is also decoded and checked.
    func splitWhole(_ stream: UnsafeRawBufferPointer) -> ([FoundFrame], StreamEnd) {
        var found: [FoundFrame] = []
        var offset = 0
        while true {
            let next: FrameSplitter.Slice?
            do {
                next = try splitter.next(in: stream, at: offset)
            } catch {
                checkRefusal(error, header: UnsafeRawBufferPointer(rebasing: stream[offset..<offset + 8]))
                return (found, .refused(offset: offset, code: error.code))
            }
            guard let slice = next else {
                checkIncomplete(stream, at: offset)
                return (found, .needsMore(consumed: offset))
            }
            checkSlice(slice, in: stream, at: offset)
            checkDecoding(
                header: slice.header,
                body: UnsafeRawBufferPointer(rebasing: stream[slice.bodyStart..<slice.end]),
                frame: UnsafeRawBufferPointer(rebasing: stream[offset..<slice.end])
            )
            found.append(FoundFrame(header: slice.header, start: offset, end: slice.end))
            offset = slice.end
        }
    }

    /// The stream as a connection sees it: reads of `readSize` bytes, the consumed frames dropped
    /// from the front of the buffer after each read, as the reactor does.
    func splitChunked(_ stream: UnsafeRawBufferPointer) -> ([FoundFrame], StreamEnd) {
        var found: [FoundFrame] = []
        var consumed = 0
        var received = 0
        while true {
            received = min(received + readSize, stream.count)
            let buffer = UnsafeRawBufferPointer(rebasing: stream[consumed..<received])
            var offset = 0
            while true {
                let next: FrameSplitter.Slice?
                do {
                    next = try splitter.next(in: buffer, at: offset)
                } catch {
                    return (found, .refused(offset: consumed + offset, code: error.code))
                }
                guard let slice = next else { break }
                check(slice.end <= buffer.count, "slice ends at \(slice.end), past the \(buffer.count) bytes read")
                found.append(FoundFrame(header: slice.header, start: consumed + offset, end: consumed + slice.end))
                offset = slice.end
            }
            consumed += offset
            if received == stream.count { return (found, .needsMore(consumed: consumed)) }
        }
    }

    func checkSlice(_ slice: FrameSplitter.Slice, in stream: UnsafeRawBufferPointer, at offset: Int) {
        let header = slice.header
        check(
            slice.bodyStart == offset + WireLimits.headerSize,
            "body starts at \(slice.bodyStart), not after the header"
        )
        check(slice.end == slice.bodyStart + Int(header.length), "slice end \(slice.end) disagrees with length")
        check(slice.end <= stream.count, "slice ends at \(slice.end), past the \(stream.count)-byte buffer")
        check(
            Int(header.length) <= max(maxBody, header.type.fixedBodyAllowance),
            "accepted a \(header.length)-byte body over max \(maxBody)"
        )
        check(header.flags & ~header.type.definedFlags == 0, "accepted undefined flags on \(header.type)")
        let bytes = Array(stream[offset..<offset + 8])
        let length = UInt32(bytes[0]) << 24 | UInt32(bytes[1]) << 16 | UInt32(bytes[2]) << 8 | UInt32(bytes[3])
        check(length == header.length, "header length \(header.length), bytes say \(length)")
        check(bytes[4] == header.type.rawValue && bytes[5] == header.flags, "header type/flags differ from bytes")
        check(bytes[6] == 0 && bytes[7] == 0, "accepted nonzero reserved bytes")
    }

    /// protocol.md section 2's order: length, then type, then reserved bytes and flags.
    func checkRefusal(_ error: WireError, header bytes: UnsafeRawBufferPointer) {
        let length = Int(bytes[0]) << 24 | Int(bytes[1]) << 16 | Int(bytes[2]) << 8 | Int(bytes[3])
        let expected: ErrorCode
        if length > max(maxBody, FrameType(rawValue: bytes[4])?.fixedBodyAllowance ?? 0) {
            expected = .frameTooLarge
        } else if let type = FrameType(rawValue: bytes[4]) {
            check(bytes[6] != 0 || bytes[7] != 0 || bytes[5] & ~type.definedFlags != 0, "refused a valid header")
            expected = .malformedFrame
        } else {
            expected = .unknownFrameType
        }
        check(error.code == expected, "header refused with \(error.code), expected \(expected)")
    }

    /// `nil` only when the header or the body is not all there, and a header that is there is valid.
    func checkIncomplete(_ stream: UnsafeRawBufferPointer, at offset: Int) {
        let available = stream.count - offset
        guard available >= WireLimits.headerSize else { return }
        let header: FrameHeader
        do {
            header = try FrameHeader.parse(UnsafeRawBufferPointer(rebasing: stream[offset...]), maxBody: maxBody)
        } catch {
            fatalError("splitter waited for more bytes behind a header that parse refuses: \(error)")
        }
        check(
            available < WireLimits.headerSize + Int(header.length),
            "splitter waited for more bytes with the whole \(header.length)-byte body present"
        )
    }

    /// Decoding either fails with MALFORMED_FRAME or gives a frame that encodes to exactly the
    /// bytes it came from (the encoding is canonical) and decodes again to the same frame.
    func checkDecoding(header: FrameHeader, body: UnsafeRawBufferPointer, frame bytes: UnsafeRawBufferPointer) {
        let frame: Frame
        do {
            frame = try Frame.decode(header: header, body: body)
        } catch {
            check(error.code == .malformedFrame, "body decoding failed with \(error.code)")
            return
        }
        check(frame.type == header.type, "decoded \(frame.type) from a \(header.type) header")
        let encoded = frame.encoded()
        // An unknown STREAM_ENDED reason or RESUMED outcome decodes to the nearest known one
        // (protocol.md §5.1), so only those frames may re-encode differently.
        let reason = body.last.map(UInt32.init) ?? 0
        let nearest =
            (header.type == .streamEnded && StreamEndReason(rawValue: UInt8(reason)) == nil)
            || (header.type == .resumed && ResumeOutcome(rawValue: UInt8(reason)) == nil)
        check(nearest || encoded.elementsEqual(bytes), "decode→encode changed the bytes of a \(header.type) frame")
        check(decodeOne(encoded) == frame, "decode→encode→decode changed a \(header.type) frame")
        checkTypeSpecific(frame, header: header, body: body, bytes: bytes)
    }

    func checkTypeSpecific(
        _ frame: Frame,
        header: FrameHeader,
        body: UnsafeRawBufferPointer,
        bytes: UnsafeRawBufferPointer
    ) {
        switch frame {
        case .publish(let publish):
            // The server's zero-copy path must agree with the owned decoding.
            guard let view = try? PublishView(header: header, body: body) else {
                fatalError("PublishView refused a body Frame.decode accepted")
            }
            check(view.requestID == publish.requestID && view.streamID == publish.streamID, "PublishView ids differ")
            check(view.ack == publish.ack, "PublishView ack differs")
            check(view.payload.elementsEqual(publish.payload), "PublishView payload differs")
            check(
                view.payload.baseAddress == nil || view.payload.baseAddress == body.baseAddress! + 8,
                "PublishView payload does not point into the body"
            )
        case .message(let message):
            // The prefix the server writes into its ring must be the frame's first 20 bytes.
            var prefix = [UInt8](repeating: 0xAA, count: MessageFrame.prefixSize)
            prefix.withUnsafeMutableBytes {
                MessageFrame.writePrefix(
                    streamID: message.streamID,
                    sequence: message.sequence,
                    payloadCount: message.payload.count,
                    to: $0.baseAddress!
                )
            }
            check(prefix.elementsEqual(bytes.prefix(MessageFrame.prefixSize)), "MessageFrame prefix differs")
            check(MessageFrame.size(payloadCount: message.payload.count) == bytes.count, "MessageFrame.size differs")
        case .published(let published):
            let sid = Array(published.messageSid.utf8)
            check(sid.count == 34 && sid[0] == UInt8(ascii: "T") && sid[1] == UInt8(ascii: "Z"), "bad message sid")
            let text = published.messageSid
            let prefix = Hex.decode(text.dropFirst(2).prefix(16))
            let sequence = Hex.decode(text.dropFirst(18))
            check(prefix == published.sidPrefix.value && sequence == published.sequence, "message sid round trip")
        case .error(let error):
            if let known = ErrorCode(rawValue: error.rawCode) {
                check(error.code == known, "known code \(error.rawCode) decoded as \(error.code)")
            } else {
                check(error.code == (error.fatal ? .malformedFrame : .invalidPayload), "unknown code not generic")
            }
            check(error.fatal == (header.flags & FrameFlags.fatal != 0), "fatal flag not kept")
        default:
            break
        }
    }
}

/// Splits and decodes a buffer that must hold exactly one valid frame.
func decodeOne(_ bytes: [UInt8]) -> Frame {
    bytes.withUnsafeBytes { raw in
        let splitter = FrameSplitter(maxBody: Int(UInt32.max))
        do {
            guard let slice = try splitter.next(in: raw, at: 0) else { fatalError("encoded frame incomplete") }
            check(slice.end == raw.count, "encoded frame has \(raw.count - slice.end) bytes after it")
            return try Frame.decode(
                header: slice.header,
                body: UnsafeRawBufferPointer(rebasing: raw[slice.bodyStart...])
            )
        } catch {
            fatalError("an encoded frame does not decode: \(error)")
        }
    }
}

/// Splits a buffer that holds exactly one frame and checks that decoding refuses it with `code`.
func checkRefused(_ bytes: [UInt8], _ code: ErrorCode) {
    bytes.withUnsafeBytes { raw in
        do throws(WireError) {
            guard let slice = try FrameSplitter(maxBody: Int(UInt32.max)).next(in: raw, at: 0) else {
                fatalError("encoded frame incomplete")
            }
            _ = try Frame.decode(header: slice.header, body: UnsafeRawBufferPointer(rebasing: raw[slice.bodyStart...]))
            fatalError("invariant broken: a frame that must be refused with \(code.name) decoded")
        } catch {
            check(error.code == code, "refused with \(error.code.name), expected \(code.name)")
        }
    }
}

/// Builds a frame from arbitrary field values, encodes it and decodes it back. Strings longer
/// than their field's limit come back cut at the limit on a scalar boundary; everything else
/// comes back unchanged.
enum EncoderCheck {
    static func run(_ material: UnsafeRawBufferPointer) {
        var fields = FieldSource(material)
        let type = FrameType.allCases[Int(fields.u8()) % FrameType.allCases.count]
        let frame: Frame
        let expected: Frame
        switch type {
        case .hello:
            let (name, token) = (fields.string(), fields.string())
            let (minVersion, maxVersion) = (fields.u16(), fields.u16())
            frame = .hello(.init(minVersion: minVersion, maxVersion: maxVersion, clientName: name, token: token))
            expected = .hello(
                .init(
                    minVersion: minVersion,
                    maxVersion: maxVersion,
                    clientName: cut(name, WireLimits.maxClientNameBytes),
                    token: cut(token, WireLimits.maxTokenBytes)
                )
            )
        case .welcome:
            let welcome = Frame.Welcome(
                version: fields.u16(),
                maxPayload: fields.u32(),
                maxFrameBody: fields.u32(),
                maxSubscriptions: fields.u32(),
                pingIntervalMilliseconds: fields.u32(),
                serverName: fields.string()
            )
            (frame, expected) = (.welcome(welcome), .welcome(welcome))
        case .subscribe:
            let subscribe = Frame.Subscribe(requestID: fields.u32(), stream: fields.string(), attachOnly: fields.bool())
            if subscribe.stream.utf8.count > WireLimits.maxStreamFieldBytes {
                // The encoder does not cut a stream name (that would name another stream): the
                // server refuses the frame as malformed (protocol.md 2.1).
                checkRefused(Frame.subscribe(subscribe).encoded(), .malformedFrame)
                return
            }
            (frame, expected) = (.subscribe(subscribe), .subscribe(subscribe))
        case .subscribed:
            let subscribed = Frame.Subscribed(
                requestID: fields.u32(),
                streamID: fields.u32(),
                sidPrefix: SidPrefix(value: fields.u64()),
                nextSequence: fields.u64(),
                streamSid: fields.string(),
                uniqueName: fields.string(),
                attachOnly: fields.bool()
            )
            (frame, expected) = (.subscribed(subscribed), .subscribed(subscribed))
        case .unsubscribe:
            frame = .unsubscribe(requestID: fields.u32(), streamID: fields.u32())
            expected = frame
        case .unsubscribed:
            frame = .unsubscribed(requestID: fields.u32(), streamID: fields.u32())
            expected = frame
        case .publish:
            let (requestID, streamID, ack) = (fields.u32(), fields.u32(), fields.bool())
            let publish = Frame.Publish(requestID: requestID, streamID: streamID, payload: fields.rest(), ack: ack)
            (frame, expected) = (.publish(publish), .publish(publish))
        case .published:
            frame = .published(
                .init(
                    requestID: fields.u32(),
                    streamID: fields.u32(),
                    sidPrefix: SidPrefix(value: fields.u64()),
                    sequence: fields.u64()
                )
            )
            expected = frame
        case .message:
            frame = .message(.init(streamID: fields.u32(), sequence: fields.u64(), payload: fields.rest()))
            expected = frame
        case .dropped:
            let reason = DropReason(rawValue: 1 + fields.u8() % 3)!
            frame = .dropped(.init(streamID: fields.u32(), count: fields.u64(), reason: reason))
            expected = frame
        case .streamEnded:
            let reason = StreamEndReason(rawValue: 1 + fields.u8() % 3)!
            frame = .streamEnded(streamID: fields.u32(), reason: reason)
            expected = frame
        case .error:
            let (requestID, rawCode, message, fatal) = (fields.u32(), fields.u16(), fields.string(), fields.bool())
            let code = ErrorCode(rawValue: rawCode) ?? (fatal ? .malformedFrame : .invalidPayload)
            frame = .error(.init(requestID: requestID, code: code, message: message, fatal: fatal))
            expected = .error(
                .init(
                    requestID: requestID,
                    code: code,
                    message: cut(message, WireLimits.maxErrorMessageBytes),
                    fatal: fatal
                )
            )
        case .ping:
            frame = .ping(fields.u64())
            expected = frame
        case .pong:
            frame = .pong(fields.u64())
            expected = frame
        case .refreshToken:
            let (requestID, token) = (fields.u32(), fields.string())
            frame = .refreshToken(requestID: requestID, token: token)
            expected = .refreshToken(requestID: requestID, token: cut(token, WireLimits.maxTokenBytes))
        case .tokenExpiring:
            frame = .tokenExpiring(.init(expiresAt: fields.u64(), remainingMilliseconds: fields.u32()))
            expected = frame
        case .tokenRefreshed:
            frame = .tokenRefreshed(requestID: fields.u32(), expiresAt: fields.u64())
            expected = frame
        case .resume:
            let resume = Frame.Resume(
                requestID: fields.u32(),
                sidPrefix: SidPrefix(value: fields.u64()),
                afterSequence: fields.u64(),
                stream: fields.string()
            )
            if resume.stream.utf8.count > WireLimits.maxStreamFieldBytes {
                // Not cut by the encoder, refused by the decoder, as for SUBSCRIBE.
                checkRefused(Frame.resume(resume).encoded(), .malformedFrame)
                return
            }
            (frame, expected) = (.resume(resume), .resume(resume))
        case .resumed:
            let outcome = ResumeOutcome(rawValue: 1 + fields.u8() % 2)!
            frame = .resumed(.init(requestID: fields.u32(), streamID: fields.u32(), outcome: outcome))
            expected = frame
        case .subscribeShared:
            let (requestID, stream) = (fields.u32(), fields.string())
            frame = .subscribeShared(requestID: requestID, stream: stream)
            if stream.utf8.count > WireLimits.maxStreamFieldBytes {
                checkRefused(frame.encoded(), .malformedFrame)
                return
            }
            expected = frame
        case .ringMapped:
            frame = .ringMapped(
                .init(
                    requestID: fields.u32(),
                    streamID: fields.u32(),
                    headerBytes: fields.u32(),
                    ringBytes: fields.u64(),
                    startPosition: fields.u64()
                )
            )
            expected = frame
        case .ringLoss:
            frame = .ringLoss(requestID: fields.u32(), streamID: fields.u32(), count: fields.u64())
            expected = frame
        case .lane:
            frame = .lane(
                .init(
                    streamID: fields.u32(),
                    laneID: fields.u32(),
                    sidPrefix: SidPrefix(value: fields.u64()),
                    nextSequence: fields.u64()
                )
            )
            expected = frame
        }
        let encoded = frame.encoded()
        check(encoded.count >= WireLimits.headerSize && encoded[4] == type.rawValue, "encoded header wrong for \(type)")
        let decoded = decodeOne(encoded)
        check(decoded == expected, "encode→decode of \(type) gave \(decoded), expected \(expected)")
        check(sameBytes(decoded, expected), "encode→decode of \(type) changed string bytes")
    }

    /// `Frame`'s `==` compares strings by canonical equivalence; the wire must keep the bytes.
    static func sameBytes(_ a: Frame, _ b: Frame) -> Bool {
        switch (a, b) {
        case (.hello(let x), .hello(let y)):
            return x.clientName.utf8.elementsEqual(y.clientName.utf8) && x.token.utf8.elementsEqual(y.token.utf8)
        case (.welcome(let x), .welcome(let y)): return x.serverName.utf8.elementsEqual(y.serverName.utf8)
        case (.subscribe(let x), .subscribe(let y)): return x.stream.utf8.elementsEqual(y.stream.utf8)
        case (.subscribed(let x), .subscribed(let y)):
            return x.streamSid.utf8.elementsEqual(y.streamSid.utf8)
                && x.uniqueName.utf8.elementsEqual(y.uniqueName.utf8)
        case (.error(let x), .error(let y)): return x.message.utf8.elementsEqual(y.message.utf8)
        case (.refreshToken(_, let x), .refreshToken(_, let y)): return x.utf8.elementsEqual(y.utf8)
        default: return true
        }
    }

    /// The longest prefix of whole scalars that fits in `limit` UTF-8 bytes: what the encoder keeps.
    static func cut(_ text: String, _ limit: Int) -> String {
        var kept = String.UnicodeScalarView()
        var bytes = 0
        for scalar in text.unicodeScalars {
            bytes += UTF8.width(scalar)
            if bytes > limit { break }
            kept.append(scalar)
        }
        return String(kept)
    }
}

/// Field values pulled from fuzz bytes; zeros and empty strings once the bytes run out.
struct FieldSource {
    let bytes: UnsafeRawBufferPointer
    var offset = 0

    init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    mutating func u8() -> UInt8 {
        guard offset < bytes.count else { return 0 }
        defer { offset += 1 }
        return bytes[offset]
    }

    mutating func u16() -> UInt16 { UInt16(u8()) << 8 | UInt16(u8()) }
    mutating func u32() -> UInt32 { UInt32(u16()) << 16 | UInt32(u16()) }
    mutating func u64() -> UInt64 { UInt64(u32()) << 32 | UInt64(u32()) }
    mutating func bool() -> Bool { u8() & 1 == 1 }

    /// A string of up to 2¹⁶−1 bytes, invalid UTF-8 repaired (as `String(decoding:)` does).
    mutating func string() -> String {
        let count = min(Int(u16()), bytes.count - offset)
        defer { offset += count }
        return String(decoding: bytes[offset..<offset + count], as: UTF8.self)
    }

    mutating func rest() -> [UInt8] {
        defer { offset = bytes.count }
        return Array(bytes[offset...])
    }
}
