import Glibc

/// The few socket calls both clients need. Sockets are nonblocking: every wait goes through
/// `poll`, which is what gives reads and writes their timeouts.
enum SocketCalls {
    /// Connects (blocking, then switches the socket to nonblocking). TCP sockets get `TCP_NODELAY`:
    /// the client batches writes itself, so Nagle would only add latency to requests.
    static func connect(to endpoint: DataEndpoint) throws -> Int32 {
        switch endpoint {
        case .tcp(let host, let port): return try connectTCP(host: host, port: port)
        case .unix(let path): return try connectUnix(path: path)
        }
    }

    static func connectTCP(host: String, port: UInt16) throws -> Int32 {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_family = AF_UNSPEC
        var info: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &info)
        guard status == 0, let first = info else {
            throw TernClientError.invalidArgument("cannot resolve '\(host)': \(String(cString: gai_strerror(status)))")
        }
        defer { freeaddrinfo(first) }
        var lastErrno: Int32 = ECONNREFUSED
        var candidate: UnsafeMutablePointer<addrinfo>? = first
        while let address = candidate {
            candidate = address.pointee.ai_next
            let fd = socket(address.pointee.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            if fd < 0 {
                lastErrno = errno
                continue
            }
            if Glibc.connect(fd, address.pointee.ai_addr, address.pointee.ai_addrlen) == 0 {
                var one: Int32 = 1
                setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
                try setNonBlocking(fd)
                return fd
            }
            lastErrno = errno
            Glibc.close(fd)
        }
        throw TernClientError.system(call: "connect \(host):\(port)", errno: lastErrno)
    }

    static func connectUnix(path: String) throws -> Int32 {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            throw TernClientError.invalidArgument("unix socket path too long: \(path)")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw TernClientError.system(call: "socket", errno: errno) }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard result == 0 else {
            let error = errno
            Glibc.close(fd)
            throw TernClientError.system(call: "connect \(path)", errno: error)
        }
        try setNonBlocking(fd)
        return fd
    }

    static func setNonBlocking(_ fd: Int32) throws {
        let flags = fcntl(fd, F_GETFL)
        guard flags >= 0, fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0 else {
            let error = errno
            Glibc.close(fd)
            throw TernClientError.system(call: "fcntl(O_NONBLOCK)", errno: error)
        }
    }

    /// Waits until `fd` is ready for `events`. Returns the ready events, or 0 on timeout.
    /// `timeoutMilliseconds` < 0 waits forever.
    static func poll(_ fd: Int32, events: Int16, timeoutMilliseconds: Int32) throws -> Int16 {
        var entry = pollfd(fd: fd, events: events, revents: 0)
        while true {
            let ready = Glibc.poll(&entry, 1, timeoutMilliseconds)
            if ready > 0 { return entry.revents }
            if ready == 0 { return 0 }
            if errno != EINTR { throw TernClientError.system(call: "poll", errno: errno) }
        }
    }
}

/// A point in monotonic time after which a wait gives up; `nil` means never.
struct Deadline {
    let instant: ContinuousClock.Instant?

    static let never = Deadline(instant: nil)

    init(instant: ContinuousClock.Instant?) { self.instant = instant }

    init(after timeout: Duration?) {
        instant = timeout.map { ContinuousClock.now.advanced(by: $0) }
    }

    /// Milliseconds left for `poll` (rounded up so a short wait is not a busy spin), -1 for never.
    var pollMilliseconds: Int32 {
        guard let instant else { return -1 }
        let left = ContinuousClock.now.duration(to: instant)
        if left <= .zero { return 0 }
        let (seconds, attoseconds) = left.components
        let milliseconds = seconds * 1000 + (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000
        return Int32(clamping: milliseconds)
    }

    var hasPassed: Bool { instant.map { ContinuousClock.now >= $0 } ?? false }
}
