import CTernShims
import Glibc

/// Where a connection's output goes. The data plane writes only through this, so its protocol
/// logic runs the same over a socket (`SocketIO`, in the reactor) and over memory (the embedded
/// harness in the tests).
protocol ConnectionIO: AnyObject {
    /// Writes as much of `bytes` as the peer takes now.
    func write(_ bytes: UnsafeRawBufferPointer) -> WriteOutcome
    /// Closes the underlying channel; called once.
    func close()
    /// Whether `write(_:passing:)` can work: a Unix socket (shared-memory subscriptions).
    var canPassDescriptors: Bool { get }
    /// Writes as much of `bytes` as the peer takes now, with `descriptor` attached (SCM_RIGHTS)
    /// to the first byte. The descriptor is passed only if some bytes were taken.
    func write(_ bytes: UnsafeRawBufferPointer, passing descriptor: Int32) -> WriteOutcome
}

extension ConnectionIO {
    var canPassDescriptors: Bool { false }

    func write(_ bytes: UnsafeRawBufferPointer, passing descriptor: Int32) -> WriteOutcome {
        .failed("this connection cannot pass descriptors")
    }
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
    let canPassDescriptors: Bool

    init(fd: Int32, isUnix: Bool = false) {
        self.fd = fd
        canPassDescriptors = isUnix
    }

    func write(_ bytes: UnsafeRawBufferPointer, passing descriptor: Int32) -> WriteOutcome {
        while true {
            let written = ctern_send_with_descriptor(fd, bytes.baseAddress, bytes.count, descriptor)
            if written >= 0 { return .wrote(written) }
            switch errno {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: return .wouldBlock
            default: return .failed("sendmsg failed: \(String(cString: strerror(errno)))")
            }
        }
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
