import CTernShims
import Glibc

/// The few socket calls the bench makes outside TernClient: connecting to NATS, Redis and the
/// relay, blocking-with-deadline writes and reads during setup, and an abortive close that leaves
/// no TIME_WAIT behind (10,000 subscribers a run would otherwise exhaust loopback ports).
enum BenchSocket {
    /// Connects to `host:port` (blocking), then makes the socket nonblocking with TCP_NODELAY.
    static func connect(_ address: String) throws -> Int32 {
        let (host, port) = try split(address)
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_family = AF_UNSPEC
        var info: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &info)
        guard status == 0, let first = info else { throw BenchError("cannot resolve '\(host)'") }
        defer { freeaddrinfo(first) }
        let fd = socket(first.pointee.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw BenchError("socket: \(String(cString: strerror(errno)))") }
        guard Glibc.connect(fd, first.pointee.ai_addr, first.pointee.ai_addrlen) == 0 else {
            let error = errno
            Glibc.close(fd)
            throw BenchError("connect \(address): \(String(cString: strerror(error)))")
        }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        setNonBlocking(fd)
        return fd
    }

    static func split(_ address: String) throws -> (host: String, port: UInt16) {
        guard let colon = address.lastIndex(of: ":"), let port = UInt16(address[address.index(after: colon)...]) else {
            throw BenchError("expected HOST:PORT, got '\(address)'")
        }
        var host = String(address[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return (host.isEmpty ? "127.0.0.1" : host, port)
    }

    static func setNonBlocking(_ fd: Int32) {
        let flags = fcntl(fd, F_GETFL)
        _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
    }

    /// Closes with an immediate RST (SO_LINGER 0): no TIME_WAIT on either side.
    static func abort(_ fd: Int32) {
        var option = linger(l_onoff: 1, l_linger: 0)
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &option, socklen_t(MemoryLayout<linger>.size))
        Glibc.close(fd)
    }

    /// Writes all of `bytes`, waiting for the socket at most until `deadline` (monotonic ns).
    static func writeAll(_ fd: Int32, _ bytes: [UInt8], deadline: UInt64) throws {
        try bytes.withUnsafeBytes { try writeAll(fd, $0, deadline: deadline) }
    }

    static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, deadline: UInt64) throws {
        var sent = 0
        while sent < bytes.count {
            let count = send(fd, bytes.baseAddress! + sent, bytes.count - sent, Int32(MSG_NOSIGNAL))
            if count > 0 {
                sent += count
            } else if count < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
                try wait(fd, for: Int16(POLLOUT), deadline: deadline)
            } else {
                throw BenchError("send: \(String(cString: strerror(errno)))")
            }
        }
    }

    /// One read of whatever is there, waiting until `deadline`. Throws at end of stream.
    static func read(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, deadline: UInt64) throws -> Int {
        while true {
            let count = recv(fd, buffer.baseAddress, buffer.count, 0)
            if count > 0 { return count }
            if count == 0 { throw BenchError("the server closed the connection") }
            guard errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR else {
                throw BenchError("recv: \(String(cString: strerror(errno)))")
            }
            try wait(fd, for: Int16(POLLIN), deadline: deadline)
        }
    }

    static func wait(_ fd: Int32, for events: Int16, deadline: UInt64) throws {
        let now = MonotonicClock.nanoseconds()
        guard now < deadline else { throw BenchError("timed out waiting for the server") }
        var entry = pollfd(fd: fd, events: events, revents: 0)
        _ = poll(&entry, 1, Int32(min((deadline - now) / 1_000_000 + 1, 1000)))
    }

    /// Deadline `seconds` from now, in monotonic ns.
    static func deadline(after seconds: Double) -> UInt64 {
        MonotonicClock.nanoseconds() + UInt64(seconds * 1e9)
    }
}

/// A bench failure, printed as the error message.
struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
