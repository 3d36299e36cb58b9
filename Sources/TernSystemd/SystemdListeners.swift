import CSystemd

#if canImport(Glibc)
import Glibc
#endif

/// Listening sockets handed over by systemd socket activation (`sd_listen_fds_with_names`),
/// keyed by each socket unit's `FileDescriptorName=`.
///
/// Any subset of the daemon's listeners may be activated; the daemon binds the rest from its
/// flags. Outside socket activation `take()` returns an empty dictionary, so callers need no
/// separate "are we under systemd" check.
public enum SystemdListeners {
    /// The `FileDescriptorName=` each listener kind uses, and the socket it must be.
    public enum Name {
        /// The binary data port over TCP.
        public static let data = "data"
        /// The binary data port over a Unix stream socket.
        public static let dataUnix = "data-unix"
        /// The HTTP control (REST) port over TCP.
        public static let control = "control"
    }

    /// The names `ternd` accepts, in the order error messages list them.
    public static let acceptedNames = [Name.data, Name.dataUnix, Name.control]

    /// Takes the passed file descriptors, once per process.
    ///
    /// Unsets `LISTEN_FDS`, `LISTEN_PID` and `LISTEN_FDNAMES` so a second call (or a child
    /// process) does not adopt the same descriptors again. The descriptors are numbered from
    /// `SD_LISTEN_FDS_START` (3), keep `FD_CLOEXEC` (libsystemd sets it) and are switched to
    /// `O_NONBLOCK` here: systemd passes them blocking, and a blocking `accept4` on an edge-triggered
    /// epoll reactor would stall the thread and keep SIGTERM from completing.
    ///
    /// A socket unit without `FileDescriptorName=` is passed under its unit name (for example
    /// `ternd.socket`); under a manager that sets no names at all the name is `unknown`.
    ///
    /// - Returns: descriptors by name, in the order systemd passed them; empty when not activated.
    /// - Throws: `SystemdListenerError` if libsystemd reports a malformed activation environment.
    public static func take() throws(SystemdListenerError) -> [String: [Int32]] {
        var names: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
        let count = sd_listen_fds_with_names(1, &names)
        defer {
            if let names {
                for index in 0..<max(0, Int(count)) { free(names[index]) }
                free(names)
            }
        }
        guard count >= 0 else {
            throw SystemdListenerError(
                "socket activation: sd_listen_fds_with_names failed: \(String(cString: strerror(-count)))"
            )
        }
        var result: [String: [Int32]] = [:]
        for index in 0..<Int(count) {
            let fd = Int32(SD_LISTEN_FDS_START) + Int32(index)
            let name = names?[index].map { String(cString: $0) } ?? "unknown"
            let flags = fcntl(fd, F_GETFL)
            if flags >= 0 { _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK) }
            result[name, default: []].append(fd)
        }
        return result
    }

    /// Checks passed descriptors against what the daemon accepts: only the names in
    /// `acceptedNames`, `data` and `control` TCP, `data-unix` a Unix stream socket, every one
    /// listening. Meant to run right after `take()`, before anything binds, so a wrong `.socket`
    /// unit stops the start with one message that lists everything received.
    ///
    /// - Parameters:
    ///   - listeners: the result of `take()`.
    ///   - acceptedNames: names allowed; defaults to all of `ternd`'s listeners.
    /// - Throws: `SystemdListenerError` naming every problem, what was received and what is accepted.
    public static func validate(
        _ listeners: [String: [Int32]],
        acceptedNames: [String] = SystemdListeners.acceptedNames
    ) throws(SystemdListenerError) {
        var problems: [String] = []
        var received: [String] = []
        for (name, fds) in listeners.sorted(by: { $0.key < $1.key }) {
            for fd in fds {
                let kind: ListenerSocketKind
                do {
                    kind = try ListenerSocketKind(of: fd)
                } catch {
                    problems.append(error.description)
                    received.append("'\(name)' (fd \(fd), not a socket)")
                    continue
                }
                received.append("'\(name)' (fd \(fd), \(kind))")
                guard acceptedNames.contains(name) else {
                    problems.append("unknown socket name '\(name)' (fd \(fd))")
                    continue
                }
                if let expected = expectedKind(of: name), !expected.matches(kind) {
                    problems.append("socket '\(name)' (fd \(fd)) is \(kind), but must be \(expected)")
                } else if !kind.isListening {
                    problems.append("socket '\(name)' (fd \(fd)) is not listening (ternd needs Accept=no)")
                }
            }
        }
        guard !problems.isEmpty else { return }
        throw SystemdListenerError(
            "socket activation: " + problems.joined(separator: "; ") + ". Received: " + received.joined(separator: ", ")
                + ". Accepted FileDescriptorName= values: " + acceptedNames.joined(separator: ", ")
                + " (data and control: TCP ListenStream=; data-unix: a Unix socket path in ListenStream=)."
        )
    }

    /// The socket each known name must be; nil for names a caller accepts beyond `ternd`'s own.
    public static func expectedKind(of name: String) -> ExpectedKind? {
        switch name {
        case Name.data, Name.control: .tcp
        case Name.dataUnix: .unixStream
        default: nil
        }
    }

    /// The socket a listener name requires.
    public enum ExpectedKind: Sendable, CustomStringConvertible {
        case tcp
        case unixStream

        public func matches(_ kind: ListenerSocketKind) -> Bool {
            switch self {
            case .tcp: kind.isTCP
            case .unixStream: kind.isUnixStream
            }
        }

        public var description: String {
            switch self {
            case .tcp: "a TCP (AF_INET/AF_INET6 SOCK_STREAM) socket"
            case .unixStream: "a Unix stream (AF_UNIX SOCK_STREAM) socket"
            }
        }
    }
}
