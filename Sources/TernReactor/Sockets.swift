import CTernShims
import Glibc

/// A failed system call, with its name and errno.
public struct SocketError: Error, CustomStringConvertible, Sendable {
    public var call: String
    public var errno: Int32

    public init(_ call: String, errno: Int32) {
        self.call = call
        self.errno = errno
    }

    public var description: String { "\(call): \(String(cString: strerror(errno)))" }
}

/// A listening socket the reactor accepts from: bound here, or adopted from systemd.
public struct ListeningSocket: Sendable {
    public enum Kind: Sendable { case tcp, unix }

    public let fd: Int32
    public let kind: Kind
    /// `127.0.0.1:7400` or the socket path, for logs and the ready line.
    public let address: String

    /// Binds and listens on `host:port` (IPv4 or IPv6 literal; port 0 picks a free port).
    public static func tcp(host: String, port: Int, backlog: Int32 = 4096) throws(SocketError) -> ListeningSocket {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_NUMERICHOST | AI_PASSIVE
        var info: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &info) == 0, let info else {
            throw SocketError("getaddrinfo(\(host))", errno: EINVAL)
        }
        defer { freeaddrinfo(info) }
        let fd = socket(info.pointee.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SocketError("socket", errno: errno) }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        guard bind(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 else {
            let error = errno
            close(fd)
            throw SocketError("bind \(host):\(port)", errno: error)
        }
        guard listen(fd, backlog) == 0 else {
            let error = errno
            close(fd)
            throw SocketError("listen", errno: error)
        }
        try setNonBlocking(fd)
        return ListeningSocket(
            fd: fd,
            kind: .tcp,
            address: "\(host.contains(":") ? "[\(host)]" : host):\(boundPort(fd))"
        )
    }

    /// Binds and listens on a Unix stream socket at `path`, replacing a stale socket file.
    public static func unix(path: String, backlog: Int32 = 4096) throws(SocketError) -> ListeningSocket {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            throw SocketError("unix socket path too long (\(path))", errno: ENAMETOOLONG)
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SocketError("socket", errno: errno) }
        unlink(path)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard bound == 0 else {
            let error = errno
            close(fd)
            throw SocketError("bind \(path)", errno: error)
        }
        guard listen(fd, backlog) == 0 else {
            let error = errno
            close(fd)
            throw SocketError("listen \(path)", errno: error)
        }
        try setNonBlocking(fd)
        return ListeningSocket(fd: fd, kind: .unix, address: path)
    }

    /// Takes over an already listening socket (systemd socket activation). Activated sockets
    /// arrive blocking; they are made non-blocking here so accept never stalls a reactor thread.
    public static func adopt(fd: Int32, kind: Kind, address: String) throws(SocketError) -> ListeningSocket {
        try setNonBlocking(fd)
        return ListeningSocket(fd: fd, kind: kind, address: address)
    }

    /// Takes over a listening socket and describes it from the socket itself (TCP `host:port`
    /// or the Unix path), for logs and the ready line.
    public static func adopt(fd: Int32) throws(SocketError) -> ListeningSocket {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let result = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard result == 0 else { throw SocketError("getsockname on fd \(fd)", errno: errno) }
        if storage.ss_family == sa_family_t(AF_UNIX) {
            let path = withUnsafeBytes(of: &storage) { raw -> String in
                let pathBytes = raw[MemoryLayout<sa_family_t>.size..<Int(length)].prefix { $0 != 0 }
                return String(decoding: pathBytes, as: UTF8.self)
            }
            return try adopt(fd: fd, kind: .unix, address: path)
        }
        var host = [CChar](repeating: 0, count: Int(NI_MAXHOST))
        _ = withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                getnameinfo($0, length, &host, socklen_t(host.count), nil, 0, NI_NUMERICHOST)
            }
        }
        let hostText = String(decoding: host.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let port = boundPort(fd)
        return try adopt(
            fd: fd,
            kind: .tcp,
            address: hostText.contains(":") ? "[\(hostText)]:\(port)" : "\(hostText):\(port)"
        )
    }

    static func setNonBlocking(_ fd: Int32) throws(SocketError) {
        let flags = fcntl(fd, F_GETFL)
        guard flags >= 0, fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0 else {
            throw SocketError("fcntl O_NONBLOCK", errno: errno)
        }
    }

    /// The port a TCP socket is bound to (after binding port 0).
    static func boundPort(_ fd: Int32) -> Int {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        let family = storage.ss_family
        return withUnsafePointer(to: &storage) { pointer -> Int in
            if family == sa_family_t(AF_INET6) {
                return pointer.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) {
                    Int(UInt16(bigEndian: $0.pointee.sin6_port))
                }
            }
            return pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) {
                Int(UInt16(bigEndian: $0.pointee.sin_port))
            }
        }
    }

    /// The peer of an accepted connection, as text.
    static func peerName(_ fd: Int32, kind: Kind) -> String {
        guard kind == .tcp else { return "unix" }
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let ok = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getpeername(fd, $0, &length) }
        }
        guard ok == 0 else { return "?" }
        var host = [CChar](repeating: 0, count: Int(NI_MAXHOST))
        var service = [CChar](repeating: 0, count: Int(NI_MAXSERV))
        let result = withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                getnameinfo(
                    $0,
                    length,
                    &host,
                    socklen_t(host.count),
                    &service,
                    socklen_t(service.count),
                    NI_NUMERICHOST | NI_NUMERICSERV
                )
            }
        }
        guard result == 0 else { return "?" }
        func text(_ chars: [CChar]) -> String {
            String(decoding: chars.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
        return text(host) + ":" + text(service)
    }
}

/// Integer kernel settings read from /proc (no Foundation in the data plane).
enum KernelSetting {
    static func integer(_ path: String) -> Int? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: 32)
        let count = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard count > 0 else { return nil }
        let text = String(decoding: bytes[..<count], as: UTF8.self)
        return Int(String(text.filter(\.isNumber)))
    }
}
