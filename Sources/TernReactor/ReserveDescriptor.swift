import Glibc

/// A spare file descriptor (`/dev/null`), held so that at the process's descriptor limit one
/// can be freed to accept and close a connection (libuv and nginx do the same). Thread-confined.
final class ReserveDescriptor {
    private var fd: Int32

    init() {
        fd = open("/dev/null", O_RDONLY | O_CLOEXEC)
    }

    deinit { if fd >= 0 { close(fd) } }

    /// Closes the spare; false if there was none to give up.
    func release() -> Bool {
        reacquire()
        guard fd >= 0 else { return false }
        close(fd)
        fd = -1
        return true
    }

    /// Opens the spare again; another thread may have taken the freed slot, then it stays empty
    /// until the next refusal tries again.
    func reacquire() {
        if fd < 0 { fd = open("/dev/null", O_RDONLY | O_CLOEXEC) }
    }
}
