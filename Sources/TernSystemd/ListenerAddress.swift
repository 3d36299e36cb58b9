#if canImport(Glibc)
import Glibc
#endif

/// Where a passed listening socket is bound, read from the kernel (`getsockname`), so the daemon
/// applies the same "loopback unless authenticated" rule to systemd's sockets as to its flags.
public struct ListenerAddress: Sendable, CustomStringConvertible {
    /// `host:port`, `[v6]:port` or the Unix socket's path.
    public var description: String
    /// Reachable from this host only: a Unix socket, 127.0.0.0/8, `::1`, or `::ffff:127.x.y.z`.
    public var isLocalOnly: Bool

    public init(of fd: Int32) throws(SystemdListenerError) {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let result = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard result == 0 else {
            throw SystemdListenerError("getsockname on fd \(fd) failed: \(String(cString: strerror(errno)))")
        }
        switch Int32(storage.ss_family) {
        case AF_INET:
            let address = withUnsafeBytes(of: &storage) { $0.load(as: sockaddr_in.self) }
            let host = UInt32(bigEndian: address.sin_addr.s_addr)
            isLocalOnly = host >> 24 == 127
            description =
                "\(host >> 24).\(host >> 16 & 0xff).\(host >> 8 & 0xff).\(host & 0xff):\(UInt16(bigEndian: address.sin_port))"
        case AF_INET6:
            let address = withUnsafeBytes(of: &storage) { $0.load(as: sockaddr_in6.self) }
            let bytes = withUnsafeBytes(of: address.sin6_addr) { Array($0) }
            let loopback = bytes[0..<15].allSatisfy { $0 == 0 } && bytes[15] == 1
            let mappedLoopback =
                bytes[0..<10].allSatisfy { $0 == 0 } && bytes[10] == 0xff && bytes[11] == 0xff && bytes[12] == 127
            isLocalOnly = loopback || mappedLoopback
            let groups = stride(from: 0, to: 16, by: 2).map {
                String(UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]), radix: 16)
            }
            description = "[\(groups.joined(separator: ":"))]:\(UInt16(bigEndian: address.sin6_port))"
        case AF_UNIX:
            isLocalOnly = true
            description = withUnsafeBytes(of: &storage) { raw in
                String(decoding: raw[MemoryLayout<sa_family_t>.size..<Int(length)].prefix { $0 != 0 }, as: UTF8.self)
            }
        default:
            isLocalOnly = false
            description = "address family \(storage.ss_family)"
        }
    }
}
