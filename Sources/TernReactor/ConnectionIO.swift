import Glibc

/// Where a connection's output goes. The data plane writes only through this, so its protocol
/// logic runs the same over a socket (`SocketIO`, in the reactor) and over memory (the embedded
/// harness in the tests).
protocol ConnectionIO: AnyObject {
    /// Writes as much of `bytes` as the peer takes now.
    func write(_ bytes: UnsafeRawBufferPointer) -> WriteOutcome
    /// Closes the underlying channel; called once.
    func close()
}

enum WriteOutcome: Equatable {
    /// This many bytes were taken (possibly fewer than offered).
    case wrote(Int)
    /// Nothing taken now; a writable event follows when there is room.
    case wouldBlock
    /// The peer is gone (EPIPE, ECONNRESET, …).
    case failed(String)
}

/// A connected, non-blocking socket.
final class SocketIO: ConnectionIO {
    let fd: Int32

    init(fd: Int32) {
        self.fd = fd
    }

    func write(_ bytes: UnsafeRawBufferPointer) -> WriteOutcome {
        while true {
            let written = Glibc.write(fd, bytes.baseAddress, bytes.count)
            if written >= 0 { return .wrote(written) }
            switch errno {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: return .wouldBlock
            default: return .failed("write failed: \(String(cString: strerror(errno)))")
            }
        }
    }

    func close() { _ = Glibc.close(fd) }
}
