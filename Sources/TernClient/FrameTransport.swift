import CTernShims
import Glibc
import TernWire

/// The byte-moving half of a data connection: a nonblocking socket, a read queue split into
/// frames, and a write queue sent in as few syscalls as possible.
///
/// Reads take up to `readChunk` bytes per `recv`, so a burst of small MESSAGE frames costs one
/// syscall per chunk, not per frame. Writes are only appended here; they leave in `flush` or
/// while waiting to read (a request must be on the wire before its answer can come back).
final class FrameTransport {
    /// Largest body accepted from the server. WELCOME's `max_frame_body` limits what the *server*
    /// accepts; server frames are bounded by the payload limit, so this is only a sanity cap.
    static let maxIncomingBody = 16 << 20
    /// Bytes asked of each `recv`.
    static let readChunk = 256 << 10
    /// While flushing, incoming bytes are read (so the server is never stuck writing to us while
    /// we are stuck writing to it) until this many are buffered.
    static let maxBufferedInput = 64 << 20

    private(set) var fd: Int32
    let input = ByteQueue(capacity: FrameTransport.readChunk)
    let output = ByteQueue(capacity: FrameTransport.readChunk)
    private let splitter = FrameSplitter(maxBody: FrameTransport.maxIncomingBody)
    /// Set when `recv` saw end of stream; frames already buffered are still handed out.
    private var peerClosed = false
    /// Descriptors the server passed (SCM_RIGHTS), oldest first: one per RING_MAPPED frame, in
    /// the order of those frames (protocol.md §4.17).
    private var receivedDescriptors: [Int32] = []

    init(fd: Int32) {
        self.fd = fd
    }

    deinit { close() }

    var isOpen: Bool { fd >= 0 }

    func close() {
        if fd >= 0 {
            Glibc.close(fd)
            fd = -1
        }
        for descriptor in receivedDescriptors { Glibc.close(descriptor) }
        receivedDescriptors.removeAll()
    }

    /// The oldest descriptor the server passed and nobody took yet.
    func takeDescriptor() -> Int32? {
        receivedDescriptors.isEmpty ? nil : receivedDescriptors.removeFirst()
    }

    /// Gives up the socket without closing it, with the bytes read but not yet consumed.
    func detach() -> (fileDescriptor: Int32, unreadBytes: [UInt8]) {
        let result = (fd, Array(input.readable))
        input.consume(input.readableCount)
        fd = -1
        return result
    }

    func append(_ frame: Frame) {
        var bytes = [UInt8]()
        frame.encode(into: &bytes)
        output.append(bytes)
    }

    /// Appends a PUBLISH frame without building a `Frame` (the publisher's hot path).
    func appendPublish(requestID: UInt32, streamID: UInt32, payload: UnsafeRawBufferPointer, ack: Bool) {
        let bodyCount = WireLimits.publishBodyOverhead + payload.count
        output.reserveWritable(WireLimits.headerSize + bodyCount)
        let destination = output.writablePointer
        FrameHeader.write(length: UInt32(bodyCount), type: .publish, flags: ack ? FrameFlags.ack : 0, to: destination)
        destination.storeBytes(of: requestID.bigEndian, toByteOffset: 8, as: UInt32.self)
        destination.storeBytes(of: streamID.bigEndian, toByteOffset: 12, as: UInt32.self)
        if let base = payload.baseAddress, payload.count > 0 {
            (destination + 16).copyMemory(from: base, byteCount: payload.count)
        }
        output.didWrite(WireLimits.headerSize + bodyCount)
    }

    /// The next frame, or nil once `deadline` passes. Pending output is sent while waiting.
    func readFrame(until deadline: Deadline) throws -> Frame? {
        while true {
            if let frame = try decodeBuffered() { return frame }
            guard isOpen else { throw TernClientError.connectionClosed("the connection is closed") }
            if peerClosed { throw closedError("the server closed the connection") }
            if !output.isEmpty { try writeAvailable() }
            let wanted = Int16(POLLIN) | (output.isEmpty ? 0 : Int16(POLLOUT))
            let ready = try SocketCalls.poll(fd, events: wanted, timeoutMilliseconds: deadline.pollMilliseconds)
            if ready == 0 {
                if deadline.hasPassed { return nil }
                continue
            }
            if ready & Int16(POLLOUT) != 0 { try writeAvailable() }
            if ready & (Int16(POLLIN) | Int16(POLLHUP) | Int16(POLLERR)) != 0 { try readAvailable() }
        }
    }

    /// Sends everything buffered. Returns false if `deadline` passed first.
    @discardableResult
    func flush(until deadline: Deadline) throws -> Bool {
        while !output.isEmpty {
            guard isOpen else { throw TernClientError.connectionClosed("the connection is closed") }
            try writeAvailable()
            if output.isEmpty { break }
            let readRoom = input.readableCount < Self.maxBufferedInput && !peerClosed
            let wanted = Int16(POLLOUT) | (readRoom ? Int16(POLLIN) : 0)
            let ready = try SocketCalls.poll(fd, events: wanted, timeoutMilliseconds: deadline.pollMilliseconds)
            if ready == 0 && deadline.hasPassed { return false }
            if readRoom && ready & (Int16(POLLIN) | Int16(POLLHUP)) != 0 { try readAvailable() }
        }
        return true
    }

    private func decodeBuffered() throws -> Frame? {
        let bytes = input.readable
        do {
            guard let slice = try splitter.next(in: bytes, at: 0) else { return nil }
            let body = UnsafeRawBufferPointer(rebasing: bytes[slice.bodyStart..<slice.end])
            let frame = try Frame.decode(header: slice.header, body: body)
            input.consume(slice.end)
            return frame
        } catch {
            close()
            throw TernClientError.protocolViolation("undecodable frame from the server: \(error)")
        }
    }

    /// One `recv` of up to `readChunk` bytes. End of stream is remembered, not thrown, so frames
    /// that arrived before it (typically a fatal ERROR saying why) are still delivered.
    private func readAvailable() throws {
        input.reserveWritable(Self.readChunk)
        while true {
            var passed: (Int32, Int32, Int32, Int32) = (-1, -1, -1, -1)
            var passedCount: Int32 = 0
            let count = withUnsafeMutableBytes(of: &passed) { slots in
                ctern_recv_with_descriptors(
                    fd,
                    input.writablePointer,
                    input.writableCount,
                    slots.baseAddress!.assumingMemoryBound(to: Int32.self),
                    4,
                    &passedCount
                )
            }
            if passedCount > 0 {
                withUnsafeBytes(of: &passed) { slots in
                    receivedDescriptors.append(contentsOf: slots.bindMemory(to: Int32.self).prefix(Int(passedCount)))
                }
            }
            if count > 0 {
                input.didWrite(count)
                return
            }
            if count == 0 {
                peerClosed = true
                return
            }
            switch errno {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: return
            case ECONNRESET:
                peerClosed = true
                return
            default: throw TernClientError.system(call: "recv", errno: errno)
            }
        }
    }

    /// Writes as much buffered output as the socket takes without blocking.
    private func writeAvailable() throws {
        while !output.isEmpty {
            let pending = output.readable
            let count = send(fd, pending.baseAddress, pending.count, Int32(MSG_NOSIGNAL))
            if count > 0 {
                output.consume(count)
                continue
            }
            switch errno {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: return
            case EPIPE, ECONNRESET:
                try? readAvailable()
                throw closedError("the server closed the connection while we were writing")
            default: throw TernClientError.system(call: "send", errno: errno)
            }
        }
    }

    /// The best explanation for a closed connection: the fatal ERROR the server sent, if one is
    /// buffered, else a plain `connectionClosed`.
    private func closedError(_ detail: String) -> TernClientError {
        while let frame = try? decodeBuffered() {
            if case .error(let error) = frame, error.fatal { return .server(error) }
        }
        close()
        return .connectionClosed(detail)
    }
}
