#if canImport(Glibc)
import Glibc
#endif

/// What kind of socket a passed file descriptor is, read from the kernel (`SO_DOMAIN`, `SO_TYPE`,
/// `SO_ACCEPTCONN`), so the daemon can refuse a `.socket` unit that hands it the wrong thing
/// (a UDP socket, a Unix socket where TCP was meant, or a connected socket from `Accept=yes`)
/// instead of failing later in `accept`.
public struct ListenerSocketKind: Equatable, Sendable, CustomStringConvertible {
    /// `AF_INET`, `AF_INET6`, `AF_UNIX`, …
    public var family: Int32
    /// `SOCK_STREAM`, `SOCK_DGRAM`, `SOCK_SEQPACKET`, …
    public var type: Int32
    /// The socket is in the listening state (`ListenStream=` with `Accept=no`).
    public var isListening: Bool

    public init(family: Int32, type: Int32, isListening: Bool) {
        self.family = family
        self.type = type
        self.isListening = isListening
    }

    /// Reads the kind of `fd` from the kernel.
    public init(of fd: Int32) throws(SystemdListenerError) {
        family = try Self.socketOption(fd, SO_DOMAIN)
        type = try Self.socketOption(fd, SO_TYPE)
        isListening = try Self.socketOption(fd, SO_ACCEPTCONN) != 0
    }

    /// A TCP socket over IPv4 or IPv6.
    public var isTCP: Bool { (family == AF_INET || family == AF_INET6) && type == Int32(SOCK_STREAM.rawValue) }

    /// A Unix-domain stream socket.
    public var isUnixStream: Bool { family == AF_UNIX && type == Int32(SOCK_STREAM.rawValue) }

    public var description: String {
        let familyName: String
        switch family {
        case AF_INET: familyName = "AF_INET"
        case AF_INET6: familyName = "AF_INET6"
        case AF_UNIX: familyName = "AF_UNIX"
        case AF_NETLINK: familyName = "AF_NETLINK"
        default: familyName = "family \(family)"
        }
        let typeName: String
        switch type {
        case Int32(SOCK_STREAM.rawValue): typeName = "SOCK_STREAM"
        case Int32(SOCK_DGRAM.rawValue): typeName = "SOCK_DGRAM"
        case Int32(SOCK_SEQPACKET.rawValue): typeName = "SOCK_SEQPACKET"
        default: typeName = "type \(type)"
        }
        return "\(familyName) \(typeName)\(isListening ? " listening" : " not listening")"
    }

    private static func socketOption(_ fd: Int32, _ option: Int32) throws(SystemdListenerError) -> Int32 {
        var value: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(fd, SOL_SOCKET, option, &value, &length) == 0 else {
            throw SystemdListenerError(
                "fd \(fd) passed by systemd is not a socket: \(String(cString: strerror(errno)))"
            )
        }
        return value
    }
}
