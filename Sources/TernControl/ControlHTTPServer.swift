import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOExtras
import NIOPosix
import ServiceLifecycle

/// Serves the control responder over HTTP/1.1 on a socket it binds or adopts.
///
/// Hummingbird 2.28's `Server` only binds addresses (`BindAddress` has no "this open fd" case),
/// so a socket systemd passed cannot go through it. This is that server cut down to what the
/// control port uses: Hummingbird's own `HTTP1Channel` pipeline (HTTP decoder limits, keep-alive,
/// connection state, quiescing) and its request handling, on NIO's `ServerBootstrap`, which can
/// adopt a listening fd. Bound and adopted sockets take the same path, so the API behaves the
/// same whichever way its socket came.
///
/// Graceful shutdown (swift-service-lifecycle) stops accepting, lets requests in flight finish,
/// closes idle keep-alive connections, and returns once every connection has closed.
struct ControlHTTPServer: Service {
    enum Listener: Sendable {
        case address(host: String, port: Int)
        /// A listening TCP socket; NIO takes ownership and closes it when the server stops.
        case adopted(fd: Int32)
    }

    /// Hummingbird's defaults (`ServerConfiguration`).
    private static let backlog: Int32 = 256
    /// Control traffic is light (REST calls, scrapes): one event loop serves it.
    static let eventLoopThreads = 1
    /// Twilio's helper libraries send about ten header fields.
    private static let maxHeaderFieldCount = 100

    let listener: Listener
    let limits: ControlConnectionLimits
    let responder: ControlResponder
    let logger: Logger
    /// Called once listening, with the socket's own address (getsockname).
    let onListening: @Sendable (ControlListenAddress) -> Void

    func run() async throws {
        let logger = logger
        let limits = limits
        let http = HTTP1Channel(
            responder: Self.channelResponder(responder, logger: logger),
            configuration: .init(
                additionalChannelHandlers: [ControlConnectionGuard(limits: limits)],
                httpDecoderConfiguration: .init(
                    maxHeaderFieldSize: limits.maxHeaderBytes,
                    maxHeaderListSize: limits.maxHeaderBytes,
                    maxHeaderFieldCount: Self.maxHeaderFieldCount
                )
            )
        )
        let connectionCount = ControlConnectionCap.Count(limit: limits.maxConnections)
        // The cap goes first, on raw bytes, so a refused client is answered before any parsing.
        let setUp: @Sendable (any Channel) -> EventLoopFuture<HTTP1Channel.Value> = { channel in
            do {
                try channel.pipeline.syncOperations.addHandler(
                    ControlConnectionCap(count: connectionCount),
                    position: .first
                )
            } catch {
                return channel.eventLoop.makeFailedFuture(error)
            }
            return http.setup(channel: channel, logger: logger)
        }
        // Its own small group: the control port never competes with anything else on NIO's
        // shared singleton, and stops with the server.
        let group = MultiThreadedEventLoopGroup(numberOfThreads: Self.eventLoopThreads)
        defer { group.shutdownGracefully { _ in } }
        let quiescing = ServerQuiescingHelper(group: group)
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.backlog, value: Self.backlog)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(ChannelOptions.allowRemoteHalfClosure, value: true)
            .serverChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(quiescing.makeServerChannelHandler(channel: channel))
                }
            }
        let serverChannel: NIOAsyncChannel<HTTP1Channel.Value, Never>
        switch listener {
        case .address(let host, let port):
            serverChannel = try await bootstrap.bind(
                host: host,
                port: port,
                serverBackPressureStrategy: nil,
                childChannelInitializer: setUp
            )
        case .adopted(let fd):
            serverChannel = try await bootstrap.bind(
                fd,
                serverBackPressureStrategy: nil,
                childChannelInitializer: setUp
            )
        }
        let address = ControlListenAddress(serverChannel.channel.localAddress)
        logger.debug("control port listening", metadata: ["address": "\(address)"])

        await withGracefulShutdownHandler {
            onListening(address)
            await withDiscardingTaskGroup { connections in
                do {
                    try await serverChannel.executeThenClose { inbound in
                        for try await connection in inbound {
                            connections.addTask { await http.handle(value: connection, logger: logger) }
                        }
                    }
                } catch {
                    logger.error("control port stopped accepting", metadata: ["error": "\(error)"])
                }
            }
        } onGracefulShutdown: {
            // Closes the listener (ending `inbound` above) and asks every connection to close
            // once its request in flight is answered; the task group then waits for them.
            quiescing.initiateShutdown(promise: nil)
        }
    }

    /// What Hummingbird's `Application` does around a responder: a request context, a 500 for
    /// anything thrown, the `Date` header, and one write of head, body and end.
    private static func channelResponder(
        _ responder: ControlResponder,
        logger: Logger
    )
        -> HTTPChannelHandler.Responder
    {
        { request, responseWriter, channel in
            let context = ControlResponder.Context(source: .init(channel: channel, logger: logger))
            var response: Response
            do {
                response = try await responder.respond(to: request, context: context)
            } catch {
                logger.debug("unrecognised error", metadata: ["error": "\(error)"])
                response = Response(status: .internalServerError)
            }
            response.headers[.date] = HTTPDate.now()
            try await responseWriter.write(response: response.head, body: response.body)
        }
    }
}

/// The address the control port listens on, as the socket reports it.
public struct ControlListenAddress: Sendable, CustomStringConvertible {
    /// Numeric host, e.g. `127.0.0.1` or `::1`.
    public var host: String
    public var port: Int

    init(_ address: SocketAddress?) {
        host = address?.ipAddress ?? "unknown"
        port = address?.port ?? 0
    }

    /// `host:port`, with an IPv6 host in brackets.
    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}
