import CTernShims
import Foundation
import Glibc
import TernAuth
import TernClient
import TernWire
import Testing

/// Shared-memory subscriptions (protocol version 3) against a real ternd over its Unix socket:
/// every message through the mapped ring, lapping with exact loss counts, a reader that never
/// reads or is killed mid-read, a stream deleted while mapped, and auth before any mapping.
@Suite(.serialized)
struct SharedMemoryTests {
    /// A TCP publisher attached to `stream`.
    private func publisher(_ daemon: TernDaemon, _ stream: String) throws -> (DataConnection, UInt32) {
        let connection = try DataConnection("127.0.0.1:\(daemon.dataPort)", clientName: "publisher")
        return (connection, try connection.subscribe(stream, attachOnly: true).streamID)
    }

    /// Publishes `count` messages `{"n":i}` (i from `first`), the last acknowledged.
    private func publish(_ connection: DataConnection, _ streamID: UInt32, count: Int, first: Int = 1) throws {
        for index in first..<(first + count) {
            try connection.publish(streamID: streamID, payload: #"{"n":\#(index)}"#, ack: index == first + count - 1)
        }
    }

    /// A /proc file read to its end: such files report size 0, so nothing sized by stat will do.
    private static func readWholeFile(_ path: String) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return [] }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count <= 0 { break }
            bytes += chunk[..<count]
        }
        return bytes
    }

    /// The inodes of the ring memfds `daemon` holds now: of `streamID`, or of every stream.
    private func ringInodes(_ daemon: TernDaemon, _ streamID: UInt32? = nil) -> Set<UInt64> {
        let directory = "/proc/\(daemon.pid)/fd"
        let prefix = streamID.map { "/memfd:tern-ring-\($0) " } ?? "/memfd:tern-ring-"
        var inodes: Set<UInt64> = []
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] {
            let path = "\(directory)/\(entry)"
            guard (try? FileManager.default.destinationOfSymbolicLink(atPath: path))?.hasPrefix(prefix) == true else {
                continue
            }
            var status = stat()
            if stat(path, &status) == 0 { inodes.insert(UInt64(status.st_ino)) }
        }
        return inodes
    }

    /// Mappings in this process of the memfds `inodes` (by inode, not by name: other suites'
    /// daemons map rings of the same stream ids into this process meanwhile).
    private func mappings(of inodes: Set<UInt64>) -> Int {
        let maps = String(decoding: Self.readWholeFile("/proc/self/maps"), as: UTF8.self)
        return maps.split(separator: "\n").filter { line in
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            return fields.count > 5 && fields[5].hasPrefix("/memfd:tern-ring-")
                && UInt64(fields[4]).map(inodes.contains) == true
        }.count
    }

    /// Mappings in this process of `daemon`'s ring of `streamID`, which must be in a memfd.
    private func ringMappings(_ daemon: TernDaemon, _ streamID: UInt32) -> Int {
        let inodes = ringInodes(daemon, streamID)
        return inodes.isEmpty ? -1 : mappings(of: inodes)
    }

    @Test func everyMessageArrivesThroughTheMappedRing() throws {
        let daemon = try TernDaemon.start()
        defer { daemon.stop() }
        let stream = try daemon.createStream(uniqueName: "mapped")
        let reader = try DataConnection(daemon.unixSocketPath, clientName: "mapped-reader")
        defer { reader.close() }
        #expect(reader.welcome.version == 3)
        let subscribed = try reader.subscribe("mapped")
        #expect(reader.isMapped(streamID: subscribed.streamID))
        #expect(ringMappings(daemon, subscribed.streamID) == 1)
        // A socket subscriber of the same stream gets the same messages.
        let socketReader = try DataConnection(daemon.unixSocketPath, sharedMemory: false)
        defer { socketReader.close() }
        _ = try socketReader.subscribe("mapped")
        #expect(!socketReader.isMapped(streamID: subscribed.streamID))

        let (publishing, streamID) = try publisher(daemon, stream)
        defer { publishing.close() }
        let total = 20_000
        try publish(publishing, streamID, count: total)
        for connection in [reader, socketReader] {
            var expected = subscribed.nextSequence
            while expected < subscribed.nextSequence + UInt64(total) {
                guard let frame = try connection.nextFrame(timeout: .seconds(10)) else {
                    Issue.record("no frame after sequence \(expected - 1)")
                    return
                }
                guard case .message(let message) = frame else {
                    Issue.record("unexpected \(frame)")
                    return
                }
                #expect(message.sequence == expected)
                let index = Int(message.sequence - subscribed.nextSequence) + 1
                #expect(message.payload == Array(#"{"n":\#(index)}"#.utf8))
                expected += 1
            }
        }
        #expect(try daemon.metrics().value("tern_mapped_subscriptions") == 1)
        // The server wrote no MESSAGE to the mapped reader's socket: only the socket reader's bytes.
        try reader.unsubscribe(streamID: subscribed.streamID)
        #expect(!reader.isMapped(streamID: subscribed.streamID))
        #expect(try daemon.waitForMetric("tern_mapped_subscriptions", toBe: 0) == 0)
    }

    /// The daemon's descriptors that are ring memfds (readlink of /proc/PID/fd/*).
    private func ringDescriptors(_ daemon: TernDaemon) -> Int {
        let directory = "/proc/\(daemon.pid)/fd"
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return -1 }
        return entries.filter { entry in
            let target = (try? FileManager.default.destinationOfSymbolicLink(atPath: "\(directory)/\(entry)")) ?? ""
            return target.hasPrefix("/memfd:tern-ring-")
        }.count
    }

    /// Streams read only over sockets keep their rings in private memory (a memfd each would spend
    /// the descriptors connections need: 10,000 streams once left no room for 10,000
    /// subscribers); the first mapped reader moves the live ring into a memfd, in place, and
    /// nobody misses a message across the move.
    @Test func socketReadersKeepPrivateRingsUntilAMappedReaderComes() throws {
        let daemon = try TernDaemon.start()
        defer { daemon.stop() }
        let names = (0..<40).map { "socket-only-\($0)" }
        for name in names { _ = try daemon.createStream(uniqueName: name) }
        let socketReader = try DataConnection(daemon.unixSocketPath, sharedMemory: false)
        defer { socketReader.close() }
        var first: Frame.Subscribed?
        for name in names {
            let subscribed = try socketReader.subscribe(name)
            if first == nil { first = subscribed }
        }
        guard let first else { return }
        #expect(ringDescriptors(daemon) == 0)

        let (publishing, streamID) = try publisher(daemon, names[0])
        defer { publishing.close() }
        try publish(publishing, streamID, count: 500)
        let mapped = try DataConnection(daemon.unixSocketPath, clientName: "late-mapper")
        defer { mapped.close() }
        let subscribed = try mapped.subscribe(names[0])
        #expect(mapped.isMapped(streamID: subscribed.streamID))
        #expect(ringDescriptors(daemon) == 1)
        try publish(publishing, streamID, count: 500, first: 501)

        // The socket reader gets all 1,000 (500 before the move, 500 after); the mapped reader
        // the 500 published after it subscribed.
        for (connection, from, count) in [
            (socketReader, first.nextSequence, 1000), (mapped, subscribed.nextSequence, 500),
        ] {
            var expected = from
            while expected < from + UInt64(count) {
                guard case .message(let message)? = try connection.nextFrame(timeout: .seconds(10)) else {
                    Issue.record("no MESSAGE after sequence \(expected - 1)")
                    return
                }
                #expect(message.sequence == expected)
                let index = Int(message.sequence - first.nextSequence) + 1
                #expect(message.payload == Array(#"{"n":\#(index)}"#.utf8))
                expected += 1
            }
        }
    }

    @Test func aLappedReaderCountsItsLossExactly() throws {
        // 4 KiB ring, ~30-byte frames: about 140 fit; 3,000 overrun it many times.
        let daemon = try TernDaemon.start(extraArguments: ["--ring-bytes", "4K", "--max-payload", "1024"])
        defer { daemon.stop() }
        let stream = try daemon.createStream(uniqueName: "lapped")
        let reader = try DataConnection(daemon.unixSocketPath)
        defer { reader.close() }
        let subscribed = try reader.subscribe("lapped")
        #expect(reader.isMapped(streamID: subscribed.streamID))
        let (publishing, streamID) = try publisher(daemon, stream)
        defer { publishing.close() }
        let total: UInt64 = 3_000
        try publish(publishing, streamID, count: Int(total))
        var expected = subscribed.nextSequence
        var received: UInt64 = 0
        var lost: UInt64 = 0
        let last = subscribed.nextSequence + total - 1
        while expected <= last {
            guard let frame = try reader.nextFrame(timeout: .seconds(10)) else { break }
            switch frame {
            case .dropped(let dropped):
                #expect(dropped.reason == .ringLapped && dropped.rawReason == 5)
                lost += dropped.count
                expected += dropped.count
            case .message(let message):
                #expect(message.sequence == expected, "lost counts must add up to the gap")
                expected = message.sequence + 1
                received += 1
            default:
                Issue.record("unexpected \(frame)")
            }
        }
        #expect(received + lost == total)
        #expect(lost > 0 && received > 0 && received < 300)
        // The reader told the server (RING_LOSS): its counts include the loss.
        try reader.flush(timeout: .seconds(5))
        #expect(
            try daemon.waitForMetric("tern_messages_dropped_total", ["reason": "ring_lapped"], toBe: Double(lost))
                == Double(lost)
        )
    }

    /// Zero-copy reading (`nextRunInPlace` / `validate`) against a publisher that laps a 4 KiB ring
    /// while the reader looks: a run found intact holds exactly the payloads of its sequences, and
    /// messages read plus losses counted cover every sequence.
    @Test func inPlaceRunsAreIntactOrDiscardedAndLossesAddUp() throws {
        let daemon = try TernDaemon.start(extraArguments: ["--ring-bytes", "4K", "--max-payload", "1024"])
        defer { daemon.stop() }
        let stream = try daemon.createStream(uniqueName: "in-place")
        let reader = try DataConnection(daemon.unixSocketPath)
        defer { reader.close() }
        let subscribed = try reader.subscribe("in-place")
        let ring = try #require(reader.mappedRing(streamID: subscribed.streamID))
        let total = 20_000
        let port = daemon.dataPort
        let publishing = JoinableThread(name: "in-place publisher") {
            guard let connection = try? DataConnection("127.0.0.1:\(port)", clientName: "in-place publisher"),
                let streamID = try? connection.subscribe(stream, attachOnly: true).streamID
            else { return }
            defer { connection.close() }
            for index in 1...total {
                _ = try? connection.publish(streamID: streamID, payload: #"{"n":\#(index)}"#, ack: index == total)
            }
        }
        let last = subscribed.nextSequence + UInt64(total) - 1
        var received: UInt64 = 0
        var lost: UInt64 = 0
        var overwritten = 0
        var mismatched = 0
        let deadline = ContinuousClock.now + .seconds(30)
        var looks = 0
        var oversized = 0
        while ring.expectedSequence <= last && ContinuousClock.now < deadline {
            // Every other look is bounded to 64 bytes: a run then holds one or two of these frames.
            let bound = looks % 2 == 0 ? Int.max : 64
            guard let run = ring.nextRunInPlace(maxBytes: bound) else { continue }
            looks += 1
            // Look before the check, as a zero-copy reader does; keep the verdict only if intact.
            // Every read bounded: the bytes may change under the walk, lengths included.
            var wrong = 0
            var count = 0
            var start = 0
            while run.frames.count - start >= MessageFrame.prefixSize {
                let frame = UnsafeRawBufferPointer(rebasing: run.frames[start...])
                let size = FrameWalker.firstFrameSize(frame)
                guard size >= MessageFrame.prefixSize, size <= frame.count else {
                    wrong += 1
                    break
                }
                let sequence = MessageFrame.sequence(in: frame, frameStart: 0)
                let payload = Array(frame[MessageFrame.prefixSize..<size])
                let index = Int(truncatingIfNeeded: sequence &- subscribed.nextSequence &+ 1)
                if sequence != run.firstSequence &+ UInt64(count) || payload != Array(#"{"n":\#(index)}"#.utf8) {
                    wrong += 1
                }
                count += 1
                start += size
            }
            if start != run.frames.count { wrong += 1 }
            switch ring.validate(run) {
            case .intact(let lostBefore):
                received += UInt64(count)
                lost += lostBefore
                mismatched += wrong
                // Only an intact run's frames are the writer's: a torn one's lengths may be anything.
                if run.frames.count > bound && count > 1 { oversized += 1 }
            case .overwritten:
                overwritten += 1
            }
        }
        publishing.join()
        #expect(mismatched == 0, "an intact run held other bytes than its sequences' payloads")
        #expect(oversized == 0, "a bounded run held more than its bound and more than one frame")
        #expect(received + lost == UInt64(total))
        #expect(ring.totalLost == lost)
        #expect(lost > 0, "the 4 KiB ring was never lapped: the test proved nothing about losses")
        #expect(received > 0)
        _ = overwritten  // How often a look was discarded depends on timing; counted only for debugging.
    }

    @Test func aReaderThatMapsAndNeverReadsCostsThePublisherNothing() throws {
        let daemon = try TernDaemon.start(extraArguments: ["--ring-bytes", "64K"])
        defer { daemon.stop() }
        let stream = try daemon.createStream(uniqueName: "idle")
        var idle: [DataConnection] = []
        for _ in 0..<8 {
            let connection = try DataConnection(daemon.unixSocketPath)
            #expect(connection.isMapped(streamID: try connection.subscribe("idle").streamID))
            idle.append(connection)
        }
        defer { for connection in idle { connection.close() } }
        let live = try DataConnection(daemon.unixSocketPath)
        defer { live.close() }
        let subscribed = try live.subscribe("idle")
        let (publishing, streamID) = try publisher(daemon, stream)
        defer { publishing.close() }
        // Far more than the ring holds: the idle readers are lapped many times over, silently.
        let total = 50_000
        let started = ContinuousClock.now
        var next = 1
        var expected = subscribed.nextSequence
        while next <= total {
            try publish(publishing, streamID, count: 1_000, first: next)
            next += 1_000
            // The live reader keeps up, so it loses nothing.
            while expected < subscribed.nextSequence + UInt64(next - 1) {
                guard case .message(let message)? = try live.nextFrame(timeout: .seconds(10)) else {
                    Issue.record("live reader stalled at \(expected)")
                    return
                }
                #expect(message.sequence == expected)
                expected += 1
            }
        }
        #expect(ContinuousClock.now - started < .seconds(60))
        // The idle readers' connections are still served: a request still gets its answer.
        for connection in idle { try connection.unsubscribe(streamID: subscribed.streamID) }
        #expect(try daemon.metrics().value("tern_messages_dropped_total", ["reason": "ring_lapped"]) == 0)
    }

    /// A Python process that maps the ring of `stream` and copies from it forever (stdlib only:
    /// socket.recv_fds and mmap); it says "mapped" on stderr once it reads.
    static let copyingReader = """
        import mmap, socket, struct, sys
        path, stream = sys.argv[1], sys.argv[2].encode()
        sock = socket.socket(socket.AF_UNIX)
        sock.connect(path)
        def frame(kind, body):
            return struct.pack(">IBBH", len(body), kind, 0, 0) + body
        sock.sendall(frame(1, struct.pack(">HHH", 1, 3, 6) + b"killed" + struct.pack(">H", 0)))
        sock.sendall(frame(0x0A, struct.pack(">IH", 1, len(stream)) + stream))
        buffered, fds, mapped = b"", [], None
        while mapped is None:
            data, got, _, _ = socket.recv_fds(sock, 65536, 4)
            buffered, fds = buffered + data, fds + got
            while len(buffered) >= 8:
                length, kind = struct.unpack_from(">IB", buffered)
                if len(buffered) < 8 + length:
                    break
                body, buffered = buffered[8 : 8 + length], buffered[8 + length :]
                if kind == 0x8E:
                    mapped = struct.unpack(">IIIQQ", body)[2:]
        header, size, cursor = mapped
        ring = mmap.mmap(fds[0], header + size, mmap.MAP_SHARED, mmap.PROT_READ)
        sys.stderr.write("mapped\\n")
        sys.stderr.flush()
        while True:
            tail = struct.unpack_from("<Q", ring, 72)[0]
            if tail - cursor > size:
                cursor = tail
            if tail != cursor:
                offset = cursor % size
                count = min(tail - cursor, size - offset)
                copied = ring[header + offset : header + offset + count]
                cursor += count
        """

    @Test func aReaderKilledMidReadLeavesTheDaemonAndOtherReadersAlone() throws {
        let daemon = try TernDaemon.start(extraArguments: ["--ring-bytes", "64K"])
        defer { daemon.stop() }
        let stream = try daemon.createStream(uniqueName: "killed")
        let doomed = try ProgramRun.start(
            "/usr/bin/env",
            ["python3", "-c", Self.copyingReader, daemon.unixSocketPath, "killed"]
        )
        #expect(doomed.waitForStderr(containing: "mapped", timeout: 20))
        let survivor = try DataConnection(daemon.unixSocketPath)
        defer { survivor.close() }
        let subscribed = try survivor.subscribe("killed")
        #expect(try daemon.waitForMetric("tern_mapped_subscriptions", toBe: 2) == 2)
        let (publishing, streamID) = try publisher(daemon, stream)
        defer { publishing.close() }
        var expected = subscribed.nextSequence
        for round in 0..<10 {
            // Halfway, while the other process is copying out of the ring, it dies.
            if round == 5 { kill(doomed.pid, SIGKILL) }
            try publish(publishing, streamID, count: 1_000, first: round * 1_000 + 1)
            while expected < subscribed.nextSequence + UInt64((round + 1) * 1_000) {
                guard case .message(let message)? = try survivor.nextFrame(timeout: .seconds(10)) else {
                    Issue.record("survivor stalled at \(expected)")
                    return
                }
                #expect(message.sequence == expected)
                expected += 1
            }
        }
        _ = doomed.wait(timeout: 10)
        // The daemon noticed the closed socket, freed that reader, and serves on.
        #expect(try daemon.waitForMetric("tern_mapped_subscriptions", toBe: 1) == 1)
        #expect(daemon.process.isRunning)
        let late = try DataConnection(daemon.unixSocketPath)
        defer { late.close() }
        #expect(late.isMapped(streamID: try late.subscribe("killed").streamID))
    }

    @Test func deletingAMappedStreamEndsItAndTheMappingStaysReadable() throws {
        let daemon = try TernDaemon.start()
        defer { daemon.stop() }
        let stream = try daemon.createStream(uniqueName: "doomed")
        let reader = try DataConnection(daemon.unixSocketPath)
        defer { reader.close() }
        let subscribed = try reader.subscribe("doomed")
        let ring = try #require(reader.mappedRing(streamID: subscribed.streamID))
        let inodes = ringInodes(daemon, subscribed.streamID)
        #expect(inodes.count == 1)
        let (publishing, streamID) = try publisher(daemon, stream)
        try publish(publishing, streamID, count: 10)
        publishing.close()
        #expect(try daemon.deleteStream(stream).status == 204)
        var sequences: [UInt64] = []
        var ended: StreamEndReason?
        while ended == nil, let frame = try reader.nextFrame(timeout: .seconds(10)) {
            switch frame {
            case .message(let message): sequences.append(message.sequence)
            case .streamEnded(_, let reason): ended = reason
            default: Issue.record("unexpected \(frame)")
            }
        }
        // Every message published before the delete comes before STREAM_ENDED.
        #expect(sequences == Array(subscribed.nextSequence..<(subscribed.nextSequence + 10)))
        #expect(ended == .deleted)
        #expect(!reader.isMapped(streamID: subscribed.streamID))
        // The server freed its side; this process's mapping still reads (no SIGBUS), ended.
        #expect(try daemon.waitForMetric("tern_mapped_subscriptions", toBe: 0) == 0)
        #expect(ring.endReason == StreamEndReason.deleted.rawValue)
        #expect(ring.next() == nil)
        // The gauge falls just before the ring's memfd is closed.
        var freed = ringInodes(daemon).isEmpty
        for _ in 0..<100 where !freed {
            usleep(10_000)
            freed = ringInodes(daemon).isEmpty
        }
        #expect(freed && mappings(of: inodes) == 1)
    }

    @Test func grantsAreCheckedBeforeAMappingIsHandedOut() throws {
        let setup = try AccessTokenTests.Setup()
        defer { setup.daemon.stop() }
        let token = setup.token(grants: StreamGrants(subscribe: ["prices.*"], publish: []))
        let client = try DataConnection(setup.daemon.unixSocketPath, token: token)
        defer { client.close() }
        #expect(throws: TernClientError.self) { try client.subscribe("orders") }
        do {
            _ = try client.subscribe("orders")
        } catch TernClientError.server(let error) {
            #expect(error.code == .subscribeNotGranted)
        }
        // Refused: the daemon did not even move a ring into shared memory.
        #expect(ringInodes(setup.daemon).isEmpty)
        let granted = try client.subscribe("prices.eur")
        #expect(client.isMapped(streamID: granted.streamID))
        #expect(ringMappings(setup.daemon, granted.streamID) == 1)
        // Without credentials the HELLO itself is refused, before any subscription.
        #expect(throws: TernClientError.self) { try DataConnection(setup.daemon.unixSocketPath) }
    }

    @Test func tcpAndTheOffSwitchFallBackToSocketDelivery() throws {
        let daemon = try TernDaemon.start(extraArguments: ["--shared-memory", "off"])
        defer { daemon.stop() }
        let stream = try daemon.createStream(uniqueName: "plain")
        let reader = try DataConnection(daemon.unixSocketPath)
        defer { reader.close() }
        let subscribed = try reader.subscribe("plain")
        #expect(!reader.isMapped(streamID: subscribed.streamID) && !reader.usesSharedMemory)
        let (publishing, streamID) = try publisher(daemon, stream)
        defer { publishing.close() }
        try publish(publishing, streamID, count: 3)
        for offset in 0..<3 {
            guard case .message(let message)? = try reader.nextFrame(timeout: .seconds(10)) else {
                Issue.record("no message")
                return
            }
            #expect(message.sequence == subscribed.nextSequence + UInt64(offset))
        }
        // Over TCP the request is refused with its own code, whatever the server's setting.
        let raw = try RawDataClient(port: daemon.dataPort)
        _ = try raw.handshake(maxVersion: 3)
        try raw.send(.subscribeShared(requestID: 9, stream: "plain"))
        guard case .error(let error)? = try raw.next() else {
            Issue.record("no ERROR")
            return
        }
        #expect(error.code == .sharedMemoryUnavailable && !error.fatal && error.requestID == 9)
    }

    @Test func theRingDescriptorCannotBeWrittenOrResized() throws {
        let daemon = try TernDaemon.start()
        defer { daemon.stop() }
        _ = try daemon.createStream(uniqueName: "sealed")
        let raw = try RawDataClient(unixPath: daemon.unixSocketPath)
        _ = try raw.handshake(maxVersion: 3)
        try raw.send(.subscribeShared(requestID: 1, stream: "sealed"))
        var passed: (Int32, Int32, Int32, Int32) = (-1, -1, -1, -1)
        var count: Int32 = 0
        var buffer = [UInt8](repeating: 0, count: 4096)
        var received = 0
        let deadline = Date().addingTimeInterval(10)
        while count == 0 && Date() < deadline {
            var entry = pollfd(fd: raw.fd, events: Int16(POLLIN), revents: 0)
            _ = poll(&entry, 1, 1000)
            let read = buffer.withUnsafeMutableBytes { bytes in
                withUnsafeMutableBytes(of: &passed) { slots in
                    ctern_recv_with_descriptors(
                        raw.fd,
                        bytes.baseAddress! + received,
                        bytes.count - received,
                        slots.baseAddress!.assumingMemoryBound(to: Int32.self),
                        4,
                        &count
                    )
                }
            }
            if read > 0 { received += read }
        }
        let descriptor = passed.0
        #expect(count == 1 && descriptor >= 0)
        defer { close(descriptor) }
        var status = stat()
        #expect(fstat(descriptor, &status) == 0 && status.st_size == 4096 + (1 << 20))
        let size = Int(status.st_size)
        // No writable shared mapping, no write, no resize: F_SEAL_FUTURE_WRITE, GROW, SHRINK.
        let writable = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED, descriptor, 0)
        #expect(writable == MAP_FAILED)
        #expect(pwrite(descriptor, "x", 1, 0) == -1)
        #expect(ftruncate(descriptor, off_t(size * 2)) == -1 && ftruncate(descriptor, 4096) == -1)
        // A read-only mapping cannot be made writable afterwards either.
        let readable = try #require(mmap(nil, size, PROT_READ, MAP_SHARED, descriptor, 0))
        #expect(readable != MAP_FAILED)
        #expect(mprotect(readable, 4096, PROT_READ | PROT_WRITE) == -1)
        #expect(readable.load(fromByteOffset: SharedRingLayout.layoutVersionOffset, as: UInt32.self) == 1)
        munmap(readable, size)
    }
}
