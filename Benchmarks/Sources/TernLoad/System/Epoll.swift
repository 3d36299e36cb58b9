import CLoadShims
import Glibc

/// One epoll instance and its event buffer: what the receiver and the relay each wait on.
/// Each registration carries a 64-bit token (an index or a descriptor) that `wait` hands back.
final class Epoll {
    private let fd: Int32
    private let events: UnsafeMutablePointer<epoll_event>
    private let capacity: Int32

    init(capacity: Int32 = 1024) throws {
        fd = epoll_create1(Int32(EPOLL_CLOEXEC))
        guard fd >= 0 else { throw BenchError(call: "epoll_create1") }
        self.capacity = capacity
        events = .allocate(capacity: Int(capacity))
    }

    deinit {
        Glibc.close(fd)
        events.deallocate()
    }

    func add(_ descriptor: Int32, events mask: UInt32, token: UInt64) throws {
        guard control(EPOLL_CTL_ADD, descriptor, mask, token) else { throw BenchError(call: "epoll_ctl") }
    }

    /// Changes what `descriptor` is watched for (best effort: it is already registered).
    func modify(_ descriptor: Int32, events mask: UInt32, token: UInt64) {
        _ = control(EPOLL_CTL_MOD, descriptor, mask, token)
    }

    func remove(_ descriptor: Int32) {
        epoll_ctl(fd, EPOLL_CTL_DEL, descriptor, nil)
    }

    /// Waits up to `timeoutMilliseconds`; returns how many events `event(_:)` can read.
    func wait(timeoutMilliseconds: Int32) -> Int {
        max(0, Int(epoll_wait(fd, events, capacity, timeoutMilliseconds)))
    }

    /// The token and event mask of the `index`-th event of the last `wait`.
    @inline(__always)
    func event(_ index: Int) -> (token: UInt64, events: UInt32) {
        (events[index].data.u64, events[index].events)
    }

    private func control(_ operation: Int32, _ descriptor: Int32, _ mask: UInt32, _ token: UInt64) -> Bool {
        var event = epoll_event()
        event.events = mask
        event.data.u64 = token
        return epoll_ctl(fd, operation, descriptor, &event) == 0
    }
}
