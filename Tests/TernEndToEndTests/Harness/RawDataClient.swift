import Foundation
import Glibc
import TernWire

/// A data-port client that sends exactly the bytes a test gives it and decodes what comes back,
/// for driving the server with malformed input and checking every answer frame by frame.
final class RawDataClient {
    let fd: Int32
    private var input: [UInt8] = []

    init(port: Int) throws {
        fd = try TestSocket.connectTCP(port: port)
    }

    init(unixPath: String) throws {
        fd = try TestSocket.connectUnix(path: unixPath)
    }

    /// Half-closes: the server sees EOF but can still answer.
    func finishWriting() { shutdown(fd, Int32(SHUT_WR)) }

    deinit { close(fd) }

    func send(_ bytes: [UInt8]) throws { try TestSocket.writeAll(fd, bytes) }
    func send(_ frame: Frame) throws { try send(frame.encoded()) }

    /// HELLO + WELCOME.
    @discardableResult
    func handshake(name: String = "test", maxVersion: UInt16 = 1) throws -> Frame.Welcome {
        try send(.hello(.init(maxVersion: maxVersion, clientName: name)))
        guard case .welcome(let welcome)? = try next() else { throw HarnessError("no WELCOME") }
        return welcome
    }

    func subscribe(_ stream: String, requestID: UInt32 = 1, attachOnly: Bool = false) throws -> Frame.Subscribed {
        try send(.subscribe(.init(requestID: requestID, stream: stream, attachOnly: attachOnly)))
        while let frame = try next() {
            if case .subscribed(let subscribed) = frame, subscribed.requestID == requestID { return subscribed }
            if case .error(let error) = frame {
                throw HarnessError("subscribe failed: \(error.code.name) \(error.message)")
            }
        }
        throw HarnessError("connection closed before SUBSCRIBED")
    }

    /// The next frame, or nil when the server closed the connection. Throws after `timeout` seconds.
    func next(timeout: Double = 10) throws -> Frame? {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            if input.count >= WireLimits.headerSize {
                let length = Int(
                    UInt32(input[0]) << 24 | UInt32(input[1]) << 16 | UInt32(input[2]) << 8 | UInt32(input[3])
                )
                if input.count >= WireLimits.headerSize + length {
                    let frameBytes = Array(input[0..<WireLimits.headerSize + length])
                    input.removeFirst(WireLimits.headerSize + length)
                    return try frameBytes.withUnsafeBytes { raw in
                        let header = try FrameHeader.parse(raw, maxBody: Int(UInt32.max))
                        return try Frame.decode(
                            header: header,
                            body: UnsafeRawBufferPointer(rebasing: raw[WireLimits.headerSize...])
                        )
                    }
                }
            }
            let remaining = deadline.timeIntervalSinceNow
            guard remaining > 0 else { throw HarnessError("timed out waiting for a frame") }
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, Int32(min(remaining, 0.2) * 1000)) > 0 else { continue }
            var buffer = [UInt8](repeating: 0, count: 65536)
            let count = read(fd, &buffer, buffer.count)
            if count <= 0 { return nil }
            input += buffer[0..<count]
        }
    }

    /// True if the server closed the connection within `timeout` seconds (frames before are skipped).
    func closedByServer(timeout: Double = 5) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            do {
                if try next(timeout: max(0.01, deadline.timeIntervalSinceNow)) == nil { return true }
            } catch {
                return false
            }
        }
        return false
    }

    /// Caps the kernel's receive buffer so a client that stops reading backs up into the server
    /// sooner (64 KiB: small enough to matter, large enough not to crawl once it reads again).
    func shrinkReceiveBuffer() {
        var size: Int32 = 64 * 1024
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
    }
}
