import Hummingbird
import NIOCore
import NIOHTTP1
import NIOHTTPTypes

/// Enforces the control port's time limits on one connection and answers what the HTTP
/// decoder refuses, both with Twilio-shaped bodies:
/// - a head not complete within the header timeout, or a body not complete within the request
///   timeout: 408/20408, then close (slowloris);
/// - a keep-alive connection idle past the idle timeout: closed;
/// - headers over the limit: 431/20431; any other malformed request, such as a body cut short by
///   the client's half-close: 400/20400. Then close.
///
/// Sits after the HTTP codec, so it sees request heads, bodies and ends and response heads and
/// ends; the deadlines themselves are `ControlConnectionClock`.
final class ControlConnectionGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private var clock: ControlConnectionClock
    private var timer: Scheduled<Void>?
    private var closing = false
    /// The response ended before the request's body was read (413 on `Content-Length`, 401):
    /// the rest of the body is read and dropped here, so the client, which sends its whole body
    /// before reading, gets to read the answer instead of a reset.
    private var discardingBody = false
    /// The server half-closed its side (a `Connection: close` exchange is over).
    private var outputClosed = false

    init(limits: ControlConnectionLimits) {
        clock = ControlConnectionClock(limits: limits)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { rearm(context) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        rearm(context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head:
            clock.headReceived()
            rearm(context)
        case .body:
            if discardingBody { return }
        case .end:
            clock.requestEnded()
            rearm(context)
            if discardingBody {
                discardingBody = false
                if outputClosed {
                    context.close(promise: nil)
                    return
                }
            }
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head:
            clock.responseBegan()
        case .body:
            break
        case .end:
            clock.responseEnded()
            rearm(context)
            if clock.phase == .readingRequest {
                discardingBody = true
                context.write(data, promise: promise)
                // Downstream may have stopped asking for input (nobody reads the body it was
                // given); the discarding asks for it itself.
                context.read()
                return
            }
        }
        context.write(data, promise: promise)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if discardingBody { context.read() }
        context.fireChannelReadComplete()
    }

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        if mode == .output { outputClosed = true }
        context.close(mode: mode, promise: promise)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let parseError = error as? HTTPParserError, clock.mayAnswer, !closing {
            let refusal: ControlError =
                parseError == .headerOverflow
                ? .headersTooLarge(limit: clock.limits.maxHeaderBytes) : .malformedRequest("\(parseError)")
            answerAndClose(context, refusal)
        }
        // The responder still learns of it (a body it was reading ends in an error, not early).
        context.fireErrorCaught(error)
    }

    private func rearm(_ context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        guard let deadline = clock.deadline else { return }
        timer = context.eventLoop.assumeIsolatedUnsafeUnchecked().scheduleTask(in: TimeAmount(deadline)) {
            self.timer = nil
            self.expire(context)
        }
    }

    private func expire(_ context: ChannelHandlerContext) {
        switch clock.expired() {
        case .answerTimeoutAndClose:
            let waited = clock.phase == .readingRequest ? clock.limits.requestTimeout : clock.limits.headerTimeout
            answerAndClose(context, .requestTimeout(waited: waited, wholeRequest: clock.phase == .readingRequest))
        case .close:
            closing = true
            context.close(promise: nil)
        case .nothing:
            break
        }
    }

    private func answerAndClose(_ context: ChannelHandlerContext, _ error: ControlError) {
        guard !closing else { return }
        closing = true
        clock.responseBegan()
        var fields = HTTPFields()
        fields[.contentType] = ControlReply.jsonContentType
        fields[.contentLength] = String(error.body.count)
        fields[.connection] = "close"
        context.write(wrapOutboundOut(.head(HTTPResponse(status: error.status, headerFields: fields))), promise: nil)
        context.write(wrapOutboundOut(.body(context.channel.allocator.buffer(bytes: error.body))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolatedUnsafeUnchecked().whenComplete { _ in
            context.close(promise: nil)
        }
    }
}
