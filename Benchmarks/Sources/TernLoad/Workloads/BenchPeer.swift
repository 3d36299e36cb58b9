/// Which server a bench talks to. Every workload runs unchanged against each.
public enum BenchBrokerKind: String, CaseIterable, Sendable {
    case tern, nats, redis
    /// The ideal relay (`tern-bench relay`): forwards the publisher's bytes to every subscriber.
    case relay

    public var defaultAddress: String {
        switch self {
        case .tern: return "127.0.0.1:7400"
        case .nats: return "127.0.0.1:4222"
        case .redis: return "127.0.0.1:6379"
        case .relay: return "127.0.0.1:7499"
        }
    }
}

/// A connection after its handshake: a nonblocking socket and the parser that has already seen
/// whatever arrived during setup.
struct BenchSocketHandle<Parser: BenchParser>: Sendable {
    var fd: Int32
    var parser: Parser
}

/// A publisher connection: its socket, and how it frames a message for each of its streams.
struct BenchPublisherHandle<Parser: BenchParser>: Sendable {
    var socket: BenchSocketHandle<Parser>
    var templates: [BenchMessageTemplate]
}

/// The broker-specific part of a bench: setting up streams and connections. Everything after
/// setup (publishing, receiving, counting) is shared and only sees bytes.
protocol BenchPeer {
    associatedtype Parser: BenchParser

    /// Names `count` streams for this run (Tern creates them if needed).
    mutating func prepareStreams(count: Int) throws -> [String]
    func openPublisher(streams: [String], payloadCount: Int) throws -> BenchPublisherHandle<Parser>
    func openSubscriber(stream: String, sampling: Bool) throws -> BenchSocketHandle<Parser>
    /// Removes what `prepareStreams` created for this run only.
    func cleanup()
}

/// Setup conversations: send a request, feed replies to the connection's parser until it has
/// reported `.ready` the expected number of times.
enum BenchHandshake {
    static let timeoutSeconds = 10.0

    static func run<Parser: BenchParser>(
        fd: Int32,
        sending request: [UInt8],
        parser: inout Parser,
        readyCount: Int = 1
    ) throws {
        let deadline = LoadSocket.deadline(after: timeoutSeconds)
        try LoadSocket.writeAll(fd, request, deadline: deadline)
        var sink = RecordingSink()
        var readies = 0
        var buffer = [UInt8](repeating: 0, count: 4096)
        while readies < readyCount {
            let count = try buffer.withUnsafeMutableBytes { try LoadSocket.read(fd, into: $0, deadline: deadline) }
            buffer.withUnsafeBytes { parser.parse(UnsafeRawBufferPointer(rebasing: $0[0..<count]), into: &sink) }
            for event in sink.events {
                switch event {
                case .ready: readies += 1
                case .reply(let bytes): try LoadSocket.writeAll(fd, bytes, deadline: deadline)
                case .error(let text), .fatal(let text): throw BenchError("server refused: \(text)")
                case .dropped, .ended: break
                }
            }
            sink.events.removeAll()
        }
    }
}
