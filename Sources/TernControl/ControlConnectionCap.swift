import NIOCore
import Synchronization

/// Counts the control port's open connections and turns away those over
/// `ControlConnectionLimits.maxConnections` with 503/20503 before any HTTP is read.
///
/// First in each connection's pipeline, on raw bytes: a refused connection is answered and
/// closed at once, so it holds its file descriptor for microseconds, not for a timeout.
final class ControlConnectionCap: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    /// Shared by every connection of one server.
    final class Count: Sendable {
        let limit: Int
        let open = Atomic<Int>(0)
        let refused = Atomic<UInt64>(0)
        init(limit: Int) { self.limit = limit }
    }

    private let count: Count
    private var counted = false
    private var refused = false

    init(count: Count) {
        self.count = count
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { admit(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        admit(context)
        if !refused { context.fireChannelActive() }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !refused else { return }  // a refused client's request is never parsed
        context.fireChannelRead(data)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if counted {
            counted = false
            count.open.subtract(1, ordering: .relaxed)
        }
        context.fireChannelInactive()
    }

    private func admit(_ context: ChannelHandlerContext) {
        guard !counted && !refused else { return }
        let open = count.open.add(1, ordering: .relaxed).newValue
        counted = true
        guard open > count.limit else { return }
        refused = true
        count.refused.add(1, ordering: .relaxed)
        let error = ControlError.tooManyConnections(limit: count.limit)
        var buffer = context.channel.allocator.buffer(capacity: 256)
        buffer.writeString(
            "HTTP/1.1 503 Service Unavailable\r\nContent-Type: \(ControlReply.jsonContentType)\r\n"
                + "Content-Length: \(error.body.count)\r\nConnection: close\r\nRetry-After: 1\r\n\r\n"
        )
        buffer.writeBytes(error.body)
        context.writeAndFlush(NIOAny(buffer), promise: nil)
        context.close(promise: nil)
    }
}
