import NIOCore
import TernWire

/// Splits the server's byte stream into frames for the async client, following protocol.md §5.1:
/// a frame of a server-to-client type this codec does not know is skipped by its length, and
/// flag bits a type does not define are ignored. Anything else that breaks the protocol is a
/// `protocolViolation` naming the frame, which closes the connection.
struct ServerFrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = Frame

    /// The largest body accepted; WELCOME's `max_frame_body` binds the client, not the server, so
    /// this is generous (a MESSAGE is at most `max_payload` + 12).
    var maxBody = 1 << 24

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        let start = buffer.readerIndex
        guard buffer.readableBytes >= WireLimits.headerSize,
            let length = buffer.getInteger(at: start, as: UInt32.self),
            let rawType = buffer.getInteger(at: start + 4, as: UInt8.self),
            let flags = buffer.getInteger(at: start + 5, as: UInt8.self),
            let reserved = buffer.getInteger(at: start + 6, as: UInt16.self)
        else { return .needMoreData }
        let total = WireLimits.headerSize + Int(length)
        guard Int(length) <= maxBody else {
            throw TernClientError.protocolViolation("frame type 0x\(String(rawType, radix: 16)) of \(length) bytes")
        }
        guard buffer.readableBytes >= total else { return .needMoreData }
        guard let type = FrameType(rawValue: rawType) else {
            guard rawType >= 0x80 else {
                throw TernClientError.protocolViolation(
                    "client frame type 0x\(String(rawType, radix: 16)) from the server"
                )
            }
            buffer.moveReaderIndex(forwardBy: total)  // a newer server's frame: skip it
            return .continue
        }
        guard reserved == 0 else { throw TernClientError.protocolViolation("\(type): reserved header bytes set") }
        let header = FrameHeader(length: length, type: type, flags: flags & type.definedFlags)
        let frame = try buffer.withUnsafeReadableBytes { raw in
            do {
                return try Frame.decode(
                    header: header,
                    body: UnsafeRawBufferPointer(rebasing: raw[WireLimits.headerSize..<total])
                )
            } catch {
                throw TernClientError.protocolViolation("\(type): \(error)")
            }
        }
        buffer.moveReaderIndex(forwardBy: total)
        context.fireChannelRead(wrapInboundOut(frame))
        return .continue
    }

    mutating func decodeLast(
        context: ChannelHandlerContext,
        buffer: inout ByteBuffer,
        seenEOF: Bool
    ) throws
        -> DecodingState
    {
        while try decode(context: context, buffer: &buffer) == .continue {}
        if buffer.readableBytes > 0 {
            throw TernClientError.connectionClosed("the server closed the connection inside a frame")
        }
        return .needMoreData
    }
}
