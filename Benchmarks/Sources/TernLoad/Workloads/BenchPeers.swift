import Foundation
import TernClient
import TernWire

/// Tern: streams over the REST control port, connections through TernClient, then detached.
struct TernBenchPeer: BenchPeer {
    typealias Parser = TernStreamParser

    var dataAddress: String
    var endpoint: TernEndpoint
    /// Use (or create) this stream when the run has one stream.
    var fixedStream: String?
    /// Stream names for multi-stream runs are `<prefix>-<index>`; they are kept for later runs.
    var streamPrefix: String
    /// Where subscribers connect, in turn (other nodes of a cluster); empty: `dataAddress`.
    var subscriberAddresses: [String] = []
    private let nextSubscriber = SubscriberCounter()
    private(set) var createdStream: String?

    /// How long a subscriber on another node retries a stream the registry has not brought there yet.
    static let propagationWait = Duration.seconds(5)

    init(dataAddress: String, endpoint: TernEndpoint, fixedStream: String?, streamPrefix: String) {
        self.dataAddress = dataAddress
        self.endpoint = endpoint
        self.fixedStream = fixedStream
        self.streamPrefix = streamPrefix
    }

    private final class SubscriberCounter: @unchecked Sendable {
        var next = 0
    }

    /// The next subscriber's address, round-robin over `subscriberAddresses`.
    private func subscriberAddress() -> String {
        guard !subscriberAddresses.isEmpty else { return dataAddress }
        defer { nextSubscriber.next += 1 }
        return subscriberAddresses[nextSubscriber.next % subscriberAddresses.count]
    }

    /// SUBSCRIBE, retried while another node has not learned of the stream yet.
    private func subscribe(_ data: DataConnection, _ stream: String, at address: String) throws {
        let giveUp = ContinuousClock.now + Self.propagationWait
        while true {
            do {
                _ = try data.subscribe(stream)
                return
            } catch TernClientError.server(let error)
                where error.code == .streamNotFound && address != dataAddress && ContinuousClock.now < giveUp
            {
                Thread.sleep(forTimeInterval: 0.01)
            }
        }
    }

    mutating func prepareStreams(count: Int) throws -> [String] {
        let control = try endpoint.makeControlClient()
        if count == 1 {
            if let fixedStream {
                do {
                    return [try control.fetchStream(fixedStream).sid]
                } catch TernClientError.http(status: 404, _, _) {
                    return [try control.createStream(uniqueName: fixedStream).sid]
                }
            }
            var generator = SystemRandomNumberGenerator()
            let name = "bench-" + String(generator.next() as UInt64, radix: 16)
            // Outlives the run; a crashed bench's stream expires on its own.
            let sid = try control.createStream(uniqueName: name, ttl: 3600).sid
            createdStream = sid
            return [sid]
        }
        // Many streams: attach each by name, creating the missing ones. Kept for the next run.
        let names = (0..<count).map { "\(streamPrefix)-\($0)" }
        let probe = try DataConnection(
            dataAddress,
            clientName: "tern-bench setup",
            token: endpoint.helloToken,
            sharedMemory: false
        )
        defer { probe.close() }
        for name in names {
            do {
                _ = try probe.subscribe(name, attachOnly: true)
            } catch TernClientError.server(let error) where error.code == .streamNotFound {
                _ = try control.createStream(uniqueName: name)
            }
        }
        return names
    }

    func openPublisher(streams: [String], payloadCount: Int) throws -> BenchPublisherHandle<Parser> {
        let data = try DataConnection(
            dataAddress,
            clientName: "tern-bench publisher",
            token: endpoint.helloToken,
            sharedMemory: false
        )
        if payloadCount > Int(data.welcome.maxPayload) {
            throw BenchError("--payload \(payloadCount) exceeds the server's max_payload \(data.welcome.maxPayload)")
        }
        let templates = try streams.map {
            TernBenchWire.publish(
                streamID: try data.subscribe($0, attachOnly: true).streamID,
                payloadCount: payloadCount
            )
        }
        let socket = try data.detach()
        var parser = Parser(sampling: false)
        var sink = RecordingSink()
        socket.unreadBytes.withUnsafeBytes { parser.parse($0, into: &sink) }
        return BenchPublisherHandle(socket: .init(fd: socket.fileDescriptor, parser: parser), templates: templates)
    }

    func openSubscriber(stream: String, sampling: Bool) throws -> BenchSocketHandle<Parser> {
        let address = subscriberAddress()
        let data = try DataConnection(
            address,
            clientName: "tern-bench subscriber",
            token: endpoint.helloToken,
            sharedMemory: false
        )
        try subscribe(data, stream, at: address)
        let socket = try data.detach()
        var parser = Parser(sampling: sampling)
        var sink = RecordingSink()
        socket.unreadBytes.withUnsafeBytes { parser.parse($0, into: &sink) }
        // Messages that arrived during setup are not counted: no run has started yet.
        return BenchSocketHandle(fd: socket.fileDescriptor, parser: parser)
    }

    /// A subscriber that maps the stream's ring (the data address must be ternd's Unix socket):
    /// its connection, kept open for the run, and the mapped ring.
    func openMappedSubscriber(stream: String) throws -> (DataConnection, SharedRingReader) {
        let data = try DataConnection(
            dataAddress,
            clientName: "tern-bench mapped subscriber",
            token: endpoint.helloToken,
            sharedMemory: true
        )
        let subscribed = try data.subscribe(stream)
        guard let reader = data.mappedRing(streamID: subscribed.streamID) else {
            data.close()
            throw BenchError(
                "ternd did not map \(stream)'s ring: shared memory needs its Unix socket and --shared-memory on"
            )
        }
        return (data, reader)
    }

    func cleanup() {
        guard let createdStream, let control = try? endpoint.makeControlClient() else { return }
        try? control.deleteStream(createdStream)
    }
}

/// NATS core: subjects need no setup; a PING after SUB confirms the subscription is in place.
struct NATSBenchPeer: BenchPeer {
    typealias Parser = NATSStreamParser

    var address: String
    var subjectPrefix: String

    mutating func prepareStreams(count: Int) throws -> [String] {
        (0..<count).map { "\(subjectPrefix).\($0)" }
    }

    func openPublisher(streams: [String], payloadCount: Int) throws -> BenchPublisherHandle<Parser> {
        let fd = try LoadSocket.connect(address)
        var parser = Parser(sampling: false)
        do {
            try BenchHandshake.run(fd: fd, sending: NATSWire.connect + NATSWire.ping, parser: &parser)
        } catch {
            LoadSocket.abort(fd)
            throw error
        }
        let templates = streams.map { NATSWire.publish(subject: $0, payloadCount: payloadCount) }
        return BenchPublisherHandle(socket: .init(fd: fd, parser: parser), templates: templates)
    }

    func openSubscriber(stream: String, sampling: Bool) throws -> BenchSocketHandle<Parser> {
        let fd = try LoadSocket.connect(address)
        var parser = Parser(sampling: sampling)
        do {
            try BenchHandshake.run(
                fd: fd,
                sending: NATSWire.connect + NATSWire.subscribe(subject: stream, sid: 1) + NATSWire.ping,
                parser: &parser
            )
        } catch {
            LoadSocket.abort(fd)
            throw error
        }
        return BenchSocketHandle(fd: fd, parser: parser)
    }

    func cleanup() {}
}

/// Redis pub/sub: channels need no setup; the subscribe confirmation push means it is in place.
struct RedisBenchPeer: BenchPeer {
    typealias Parser = RedisStreamParser

    var address: String
    var channelPrefix: String

    mutating func prepareStreams(count: Int) throws -> [String] {
        (0..<count).map { "\(channelPrefix):\($0)" }
    }

    func openPublisher(streams: [String], payloadCount: Int) throws -> BenchPublisherHandle<Parser> {
        let fd = try LoadSocket.connect(address)
        var parser = Parser(sampling: false)
        do {
            try BenchHandshake.run(fd: fd, sending: RedisWire.ping, parser: &parser)
        } catch {
            LoadSocket.abort(fd)
            throw error
        }
        let templates = streams.map { RedisWire.publish(channel: $0, payloadCount: payloadCount) }
        return BenchPublisherHandle(socket: .init(fd: fd, parser: parser), templates: templates)
    }

    func openSubscriber(stream: String, sampling: Bool) throws -> BenchSocketHandle<Parser> {
        let fd = try LoadSocket.connect(address)
        var parser = Parser(sampling: sampling)
        do {
            try BenchHandshake.run(fd: fd, sending: RedisWire.subscribe(channel: stream), parser: &parser)
        } catch {
            LoadSocket.abort(fd)
            throw error
        }
        return BenchSocketHandle(fd: fd, parser: parser)
    }

    func cleanup() {}
}

/// The ideal relay: one stream; subscribers say "S" and wait for "K", the publisher says "P" and
/// sends ready-made Tern MESSAGE frames, which reach subscribers byte for byte.
struct RelayBenchPeer: BenchPeer {
    typealias Parser = TernStreamParser

    var address: String

    mutating func prepareStreams(count: Int) throws -> [String] {
        guard count == 1 else { throw BenchError("the relay carries one stream; use fanout or latency with it") }
        return ["relay"]
    }

    func openPublisher(streams: [String], payloadCount: Int) throws -> BenchPublisherHandle<Parser> {
        let fd = try LoadSocket.connect(address)
        do {
            try LoadSocket.writeAll(fd, [RelayWire.publisherHello], deadline: LoadSocket.deadline(after: 10))
        } catch {
            LoadSocket.abort(fd)
            throw error
        }
        return BenchPublisherHandle(
            socket: .init(fd: fd, parser: Parser(sampling: false)),
            templates: [TernBenchWire.relayMessage(streamID: 1, payloadCount: payloadCount)]
        )
    }

    func openSubscriber(stream: String, sampling: Bool) throws -> BenchSocketHandle<Parser> {
        let fd = try LoadSocket.connect(address)
        do {
            let deadline = LoadSocket.deadline(after: 10)
            try LoadSocket.writeAll(fd, [RelayWire.subscriberHello], deadline: deadline)
            var answer: UInt8 = 0
            _ = try withUnsafeMutableBytes(of: &answer) { try LoadSocket.read(fd, into: $0, deadline: deadline) }
            guard answer == RelayWire.subscriberAccepted else { throw BenchError("the relay answered \(answer)") }
        } catch {
            LoadSocket.abort(fd)
            throw error
        }
        return BenchSocketHandle(fd: fd, parser: Parser(sampling: sampling))
    }

    func cleanup() {}
}
