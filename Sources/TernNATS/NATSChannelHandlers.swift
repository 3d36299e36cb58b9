import NIOCore

/// Splits the server's bytes into operations with `NATSParser`.
struct NATSDecoder: ByteToMessageDecoder {
    typealias InboundOut = NATSServerOperation
    let parser = NATSParser()

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let operation = try parser.parseStep(&buffer) else { return .needMoreData }
        context.fireChannelRead(Self.wrapInboundOut(operation))
        return .continue
    }

    mutating func decodeLast(
        context: ChannelHandlerContext,
        buffer: inout ByteBuffer,
        seenEOF: Bool
    ) throws
        -> DecodingState
    {
        try decode(context: context, buffer: &buffer)
    }
}

/// Hands parsed operations to the connection; a parse error closes the channel.
final class NATSInboundHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = NATSServerOperation
    let connection: NATSConnection

    init(connection: NATSConnection) { self.connection = connection }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        connection.received(Self.unwrapInboundIn(data), on: context.channel)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        connection.failed(context.channel, error)
    }
}
