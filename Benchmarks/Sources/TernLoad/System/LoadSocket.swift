import Glibc

/// The load generator's socket calls, in one place: connecting to NATS, Redis and the relay,
/// nonblocking sends and receives that say what happened instead of leaving `errno` to each
/// caller, blocking-with-deadline writes and reads during setup, and an abortive close that
/// leaves no TIME_WAIT behind (10,000 subscribers a run would otherwise exhaust loopback ports).
enum LoadSocket {
    /// What one nonblocking `send` or `recv` did. EINTR is retried inside.
    enum Transfer: Equatable {
        /// This many bytes (always > 0).
        case bytes(Int)
        /// The socket has no room (send) or nothing to read (recv) now.
        case wouldBlock
        /// The peer closed the connection (recv returned 0).
        case closed
        /// Any other error, with its errno.
        case failed(Int32)
    }

    /// One nonblocking `send` (MSG_NOSIGNAL).
    @inline(__always)
    static func send(_ fd: Int32, _ bytes: UnsafeRawPointer, _ count: Int) -> Transfer {
        while true {
            let sent = Glibc.send(fd, bytes, count, Int32(MSG_NOSIGNAL))
            if sent > 0 { return .bytes(sent) }
            if sent == 0 { return .wouldBlock }
            switch errno {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: return .wouldBlock
            case let error: return .failed(error)
            }
        }
    }

    /// One nonblocking `recv`.
    @inline(__always)
    static func receive(_ fd: Int32, into buffer: UnsafeMutableRawPointer, _ count: Int) -> Transfer {
        while true {
            let received = recv(fd, buffer, count, 0)
            if received > 0 { return .bytes(received) }
            if received == 0 { return .closed }
            switch errno {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: return .wouldBlock
            case let error: return .failed(error)
            }
        }
    }

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
        guard fd >= 0 else { throw BenchError(call: "socket") }
        guard Glibc.connect(fd, first.pointee.ai_addr, first.pointee.ai_addrlen) == 0 else {
            let error = BenchError(call: "connect \(address)")
            Glibc.close(fd)
            throw error
        }
        configureAccepted(fd)
        return fd
    }

    /// Nonblocking with TCP_NODELAY: how every connected socket of the generator and relay runs.
    static func configureAccepted(_ fd: Int32) {
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        setNonBlocking(fd)
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
            switch send(fd, bytes.baseAddress! + sent, bytes.count - sent) {
            case .bytes(let count): sent += count
            case .wouldBlock: try wait(fd, for: Int16(POLLOUT), deadline: deadline)
            case .closed: throw BenchError("the server closed the connection")
            case .failed(let error): throw BenchError(call: "send", errno: error)
            }
        }
    }

    /// One read of whatever is there, waiting until `deadline`. Throws at end of stream.
    static func read(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, deadline: UInt64) throws -> Int {
        while true {
            switch receive(fd, into: buffer.baseAddress!, buffer.count) {
            case .bytes(let count): return count
            case .wouldBlock: try wait(fd, for: Int16(POLLIN), deadline: deadline)
            case .closed: throw BenchError("the server closed the connection")
            case .failed(let error): throw BenchError(call: "recv", errno: error)
            }
        }
    }

    /// Waits until `fd` is ready for `events`, or at most until `deadline`; throws if it passed.
    static func wait(_ fd: Int32, for events: Int16, deadline: UInt64) throws {
        let now = MonotonicClock.nanoseconds()
        guard now < deadline else { throw BenchError("timed out waiting for the server") }
        poll(fd, for: events, milliseconds: Int32(min((deadline - now) / 1_000_000 + 1, 1000)))
    }

    /// One `poll` of one descriptor; returns the events that occurred (0 on timeout).
    @discardableResult
    static func poll(_ fd: Int32, for events: Int16, milliseconds: Int32) -> Int16 {
        var entry = pollfd(fd: fd, events: events, revents: 0)
        return Glibc.poll(&entry, 1, milliseconds) > 0 ? entry.revents : 0
    }

    /// Deadline `seconds` from now, in monotonic ns.
    static func deadline(after seconds: Double) -> UInt64 {
        MonotonicClock.nanoseconds() + UInt64(seconds * 1e9)
    }
}
