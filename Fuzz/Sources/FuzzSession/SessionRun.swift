import TernWire

@testable import TernCore
@testable import TernReactor

/// One input's world: a data plane with small limits, two streams, three connections, and a
/// transcript checker per connection.
final class SessionRun {
    static let names = ["alpha", "beta"]
    let harness: EmbeddedDataPlane
    var streams: [BrokerStream?]
    var clients: [EmbeddedClient] = []
    var transcripts: [ServerTranscript] = []

    init() throws {
        var limits = BrokerLimits()
        limits.maxPayload = 256
        limits.ringBytes = 16 * 1024
        let harness = try EmbeddedDataPlane(limits: limits) { configuration in
            configuration.maxFrameBody = 1024
            configuration.maxSubscriptionsPerConnection = 2
            configuration.outBufferBytes = 4 * 1024
        }
        self.harness = harness
        streams = try Self.names.map { try harness.createStream($0) }
        for _ in 0..<3 {
            clients.append(harness.connect())
            transcripts.append(ServerTranscript())
        }
    }

    /// Plays steps until the input ends (at most 256, so a run stays short).
    func play(_ script: ScriptReader) {
        var steps = 0
        while !script.atEnd && steps < 256 {
            step(script)
            steps += 1
            checkAll()
        }
    }

    private func step(_ script: ScriptReader) {
        let op = script.byte()
        let index = Int(script.byte() % 3)
        let client = clients[index]
        switch op % 8 {
        case 0, 1:
            let (bytes, request) = frame(script, index: index)
            if op % 8 == 1, bytes.count > 1 {
                // The same frame in two reads.
                let cut = 1 + Int(script.byte()) % (bytes.count - 1)
                send(Array(bytes[..<cut]), to: index, request: nil)
                send(Array(bytes[cut...]), to: index, request: request)
            } else {
                send(bytes, to: index, request: request)
            }
        case 2:
            transcripts[index].wellFormedInputOnly = false
            send(script.bytes(Int(script.byte() % 48)), to: index, request: nil)
        case 3:
            harness.advance(milliseconds: Int64(script.byte()) * 250, connections: clients)
        case 4:
            client.stall()
        case 5:
            let room = script.byte()
            client.drainSocket(room == 0 ? nil : Int(room) * 16)
        case 6:
            publishOverREST(stream: Int(script.byte() % 2), count: Int(script.byte() % 40))
        default:
            deleteOrRecreate(Int(script.byte() % 2))
        }
    }

    private func send(_ bytes: [UInt8], to index: Int, request: UInt32?) {
        if let request { transcripts[index].sent(request: request) }
        clients[index].send(bytes)
    }

    /// A well-formed client frame chosen by the script, and its request id if it asks for an
    /// answer (or may get an error answer).
    private func frame(_ script: ScriptReader, index: Int) -> ([UInt8], UInt32?) {
        let transcript = transcripts[index]
        let frame: Frame
        var request: UInt32?
        switch script.byte() % 8 {
        case 0:
            frame = .hello(
                .init(minVersion: UInt16(script.byte() % 3), maxVersion: UInt16(script.byte() % 3), clientName: "fuzz")
            )
        case 1:
            request = transcript.nextRequestID()
            frame = .subscribe(
                .init(requestID: request!, stream: streamName(script.byte()), attachOnly: script.byte() & 1 == 1)
            )
        case 2:
            request = transcript.nextRequestID()
            frame = .unsubscribe(requestID: request!, streamID: streamID(script.byte()))
        case 3:
            request = transcript.nextRequestID()
            let flags = script.byte()
            frame = .publish(
                .init(
                    requestID: request!,
                    streamID: streamID(script.byte()),
                    payload: payload(flags >> 1),
                    ack: flags & 1 == 1
                )
            )
        case 4:
            frame = .ping(UInt64(script.u32()))
        case 5:
            frame = .pong(UInt64(script.u32()))
        case 6:
            // Version 2: continue after a sequence, under the stream's prefix or another run's.
            request = transcript.nextRequestID()
            let choice = script.byte()
            let prefix =
                choice & 1 == 1
                ? (streams[Int(choice >> 1) % 2]?.sidPrefix ?? SidPrefix(value: 7)) : SidPrefix(value: 7)
            frame = .resume(
                .init(
                    requestID: request!,
                    sidPrefix: prefix,
                    afterSequence: UInt64(script.byte()),
                    stream: streamName(script.byte())
                )
            )
        default:
            // A server-to-client frame sent by the client: UNEXPECTED_FRAME.
            frame = .pong(0)
            var bytes: [UInt8] = []
            Frame.unsubscribed(requestID: 0, streamID: 1).encode(into: &bytes)
            return (bytes, nil)
        }
        var bytes: [UInt8] = []
        frame.encode(into: &bytes)
        return (bytes, request)
    }

    private func streamName(_ choice: UInt8) -> String {
        switch choice % 6 {
        case 0, 1: return Self.names[Int(choice % 2)]
        case 2: return streams[0]?.sid ?? "TO00000000000000000000000000000000"
        case 3: return "missing"
        case 4: return ""
        default: return String(repeating: "n", count: 321)
        }
    }

    private func streamID(_ choice: UInt8) -> UInt32 {
        switch choice % 4 {
        case 0: return streams[0]?.id ?? 1
        case 1: return streams[1]?.id ?? 2
        default: return UInt32(choice % 8)
        }
    }

    private func payload(_ choice: UInt8) -> [UInt8] {
        switch choice % 5 {
        case 0, 1: return Array(#"{"n":\#(choice)}"#.utf8)
        case 2: return Array(("{\"pad\":\"" + String(repeating: "x", count: 240) + "\"}").utf8)
        case 3: return Array("{\"open\":".utf8)
        default: return Array(("{\"big\":\"" + String(repeating: "x", count: 300) + "\"}").utf8)
        }
    }

    private func publishOverREST(stream index: Int, count: Int) {
        guard let stream = streams[index] else { return }
        for number in 0..<count {
            let payload = Array(#"{"rest":\#(number)}"#.utf8)
            do {
                _ = try harness.broker.publish(to: stream, payload: payload.span.bytes)
            } catch {
                check(stream.ended != nil, "REST publish to a live stream refused: \(error)")
            }
        }
        harness.finishTurn()
    }

    private func deleteOrRecreate(_ index: Int) {
        if let stream = streams[index] {
            _ = try? harness.broker.deleteStream(stream)
            streams[index] = nil
        } else {
            streams[index] = try? harness.createStream(Self.names[index])
        }
        harness.finishTurn()
    }

    private func checkAll() {
        for (client, transcript) in zip(clients, transcripts) {
            transcript.read(client.io.written)
            if transcript.fatalSeen {
                check(
                    client.connection.state != .open && client.connection.state != .awaitingHello,
                    "open after a fatal ERROR"
                )
            }
            check(
                client.connection.outbound.count <= client.connection.outbound.hardLimit,
                "out-buffer past its hard limit"
            )
        }
    }

    /// Closes every connection and checks that nothing is left counted or joined.
    func finish() {
        for client in clients { harness.plane.close(client.connection, reason: "fuzz input ended") }
        harness.finishTurn()
        check(harness.shared.openConnections.load(ordering: .relaxed) == 0, "open connections left counted")
        for stream in streams.compactMap({ $0 }) {
            check(stream.memberGroups == 0, "stream \(stream.id) keeps a member after every connection closed")
        }
    }
}
