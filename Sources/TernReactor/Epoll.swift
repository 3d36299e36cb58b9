import CTernShims
import Glibc

/// One epoll instance and its event array. Tokens (`data.u64`) identify what became ready.
struct Epoll: ~Copyable {
    let fd: Int32
    private let events: UnsafeMutablePointer<epoll_event>
    private let capacity: Int

    init(capacity: Int = 1024) throws(SocketError) {
        fd = epoll_create1(Int32(EPOLL_CLOEXEC))
        guard fd >= 0 else { throw SocketError("epoll_create1", errno: errno) }
        self.capacity = capacity
        events = .allocate(capacity: capacity)
    }

    deinit {
        events.deallocate()
        close(fd)
    }

    func add(_ watched: Int32, events mask: UInt32, token: UInt64) throws(SocketError) {
        var event = epoll_event()
        event.events = mask
        event.data.u64 = token
        guard epoll_ctl(fd, EPOLL_CTL_ADD, watched, &event) == 0 else {
            throw SocketError("epoll_ctl ADD", errno: errno)
        }
    }

    func remove(_ watched: Int32) {
        _ = epoll_ctl(fd, EPOLL_CTL_DEL, watched, nil)
    }

    /// Waits up to `timeout` ms (-1: forever) and calls `body(token, events)` for each ready fd.
    func wait(timeout: Int32, _ body: (UInt64, UInt32) -> Void) {
        let ready = epoll_wait(fd, events, Int32(capacity), timeout)
        guard ready > 0 else { return }
        for index in 0..<Int(ready) {
            body(events[index].data.u64, events[index].events)
        }
    }
}

/// An eventfd that other threads write to wake a sleeping reactor thread.
struct WakeSignal: ~Copyable, Sendable {
    let fd: Int32

    init() throws(SocketError) {
        fd = eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC))
        guard fd >= 0 else { throw SocketError("eventfd", errno: errno) }
    }

    deinit { close(fd) }

    func signal() {
        var one: UInt64 = 1
        _ = write(fd, &one, 8)
    }

    func clear() {
        var value: UInt64 = 0
        _ = read(fd, &value, 8)
    }
}
