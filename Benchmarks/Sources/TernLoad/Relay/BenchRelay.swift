import CTernShims
import Glibc

/// The ideal relay: what a broker would be if fan-out were nothing but copying bytes.
///
/// It reads the publisher's bytes (ready-made Tern MESSAGE frames) and writes them, as they are,
/// to every subscriber: up to `batchBytes` read (as much as the socket holds), then one `send`
/// per subscriber, the batching Tern's reactor uses, with no parsing, no sequence, no ring. A subscriber that cannot
/// take a batch gets the rest queued; while any queue is over `maxPendingBytes` the relay stops
/// reading publishers (it never drops: raw bytes cannot be dropped without knowing frames).
///
/// One thread, one epoll; after its one-byte hello a connection is edge-triggered, registered
/// once for reading and writing. Its first byte says what it is: "S" (answered "K" once
/// registered) or "P".
final class BenchRelay {
    private enum Role { case unknown, subscriber, publisher }

    private final class Peer {
        let fd: Int32
        var role = Role.unknown
        var pending: UnsafeMutableRawPointer?
        var pendingCapacity = 0
        var pendingStart = 0
        var pendingEnd = 0
        var overLimit = false
        /// Subscribers: the socket took everything last time (edge-triggered EPOLLOUT sets it again).
        var writable = true
        /// Publishers: bytes may be waiting (edge-triggered EPOLLIN sets it; EAGAIN clears it).
        var mayHaveData = false

        init(fd: Int32) { self.fd = fd }
        deinit { pending?.deallocate() }

        var pendingCount: Int { pendingEnd - pendingStart }

        func enqueue(_ bytes: UnsafeRawPointer, _ count: Int) {
            if pendingCapacity - pendingEnd < count {
                let live = pendingCount
                if pendingCapacity - live >= count, let pending {
                    pending.copyMemory(from: pending + pendingStart, byteCount: live)
                } else {
                    var capacity = max(pendingCapacity * 2, 64 << 10)
                    while capacity - live < count { capacity *= 2 }
                    let grown = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 16)
                    if let pending {
                        grown.copyMemory(from: pending + pendingStart, byteCount: live)
                        pending.deallocate()
                    }
                    pending = grown
                    pendingCapacity = capacity
                }
                pendingStart = 0
                pendingEnd = live
            }
            (pending! + pendingEnd).copyMemory(from: bytes, byteCount: count)
            pendingEnd += count
        }
    }

    let batchBytes: Int
    let maxPendingBytes: Int
    private let listenFD: Int32
    private let epollFD: Int32
    private var peers: [Int32: Peer] = [:]
    private var subscribers: [Peer] = []
    private var publishers: [Peer] = []
    private var subscribersOverLimit = 0
    private var publishersPaused = false
    private let batch: UnsafeMutableRawPointer
    /// The address actually bound (port 0 resolved).
    let boundAddress: String

    init(listen address: String, batchBytes: Int, maxPendingBytes: Int) throws {
        self.batchBytes = batchBytes
        self.maxPendingBytes = maxPendingBytes
        let (host, port) = try BenchSocket.split(address)
        let listenFD = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard listenFD >= 0 else { throw BenchError("socket: \(String(cString: strerror(errno)))") }
        var one: Int32 = 1
        setsockopt(listenFD, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var socketAddress = sockaddr_in()
        socketAddress.sin_family = sa_family_t(AF_INET)
        socketAddress.sin_port = port.bigEndian
        guard inet_pton(AF_INET, host, &socketAddress.sin_addr) == 1 else {
            throw BenchError("the relay listens on IPv4 addresses only, got '\(host)'")
        }
        let bound = withUnsafePointer(to: &socketAddress) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(listenFD, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0, Glibc.listen(listenFD, 4096) == 0 else {
            throw BenchError("bind/listen \(address): \(String(cString: strerror(errno)))")
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        withUnsafeMutablePointer(to: &socketAddress) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { _ = getsockname(listenFD, $0, &length) }
        }
        boundAddress = "\(host):\(UInt16(bigEndian: socketAddress.sin_port))"
        self.listenFD = listenFD
        BenchSocket.setNonBlocking(listenFD)
        epollFD = epoll_create1(Int32(EPOLL_CLOEXEC))
        batch = .allocate(byteCount: batchBytes, alignment: 64)
        watch(listenFD, events: EPOLLIN.rawValue, operation: EPOLL_CTL_ADD)
    }

    deinit {
        batch.deallocate()
        Glibc.close(epollFD)
        Glibc.close(listenFD)
    }

    /// Serves until `seconds` have passed (the relay always ends on its own).
    func run(forSeconds seconds: Double) {
        let end = MonotonicClock.nanoseconds() + UInt64(seconds * 1e9)
        let capacity: Int32 = 1024
        let events = UnsafeMutablePointer<epoll_event>.allocate(capacity: Int(capacity))
        defer { events.deallocate() }
        while MonotonicClock.nanoseconds() < end {
            let busy = !publishersPaused && publishers.contains { $0.mayHaveData }
            let ready = epoll_wait(epollFD, events, capacity, busy ? 0 : 100)
            for slot in 0..<Int(max(ready, 0)) {
                let fd = Int32(truncatingIfNeeded: events[slot].data.u64)
                let flags = events[slot].events
                if fd == listenFD {
                    acceptAll()
                    continue
                }
                guard let peer = peers[fd] else { continue }
                if flags & EPOLLOUT.rawValue != 0 && peer.role == .subscriber {
                    peer.writable = true
                    flush(peer)
                }
                let readableFlags = EPOLLIN.rawValue | EPOLLHUP.rawValue | EPOLLERR.rawValue | EPOLLRDHUP.rawValue
                if flags & readableFlags != 0, peers[fd] != nil { readable(peer) }
            }
            // Publishers with bytes left over (a bounded share per round, so subscribers get turns).
            for publisher in publishers where publisher.mayHaveData && !publishersPaused {
                readPublisher(publisher)
            }
        }
    }

    private func acceptAll() {
        for _ in 0..<256 {
            let fd = accept(listenFD, nil, nil)
            guard fd >= 0 else { return }
            BenchSocket.setNonBlocking(fd)
            var one: Int32 = 1
            setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            peers[fd] = Peer(fd: fd)
            watch(fd, events: EPOLLIN.rawValue, operation: EPOLL_CTL_ADD)
        }
    }

    private func readable(_ peer: Peer) {
        switch peer.role {
        case .unknown:
            var hello: UInt8 = 0
            let count = recv(peer.fd, &hello, 1, 0)
            if count == 0 || (count < 0 && errno != EAGAIN && errno != EINTR) { return drop(peer) }
            guard count == 1 else { return }
            let edge = EPOLLET.rawValue | EPOLLRDHUP.rawValue
            if hello == RelayWire.subscriberHello {
                peer.role = .subscriber
                subscribers.append(peer)
                // Registered once for both directions, edge-triggered: no epoll_ctl per batch.
                watch(peer.fd, events: EPOLLIN.rawValue | EPOLLOUT.rawValue | edge, operation: EPOLL_CTL_MOD)
                var accepted = RelayWire.subscriberAccepted
                _ = send(peer.fd, &accepted, 1, Int32(MSG_NOSIGNAL))
            } else if hello == RelayWire.publisherHello {
                peer.role = .publisher
                publishers.append(peer)
                peer.mayHaveData = true
                watch(peer.fd, events: EPOLLIN.rawValue | edge, operation: EPOLL_CTL_MOD)
            } else {
                drop(peer)
            }
        case .publisher:
            peer.mayHaveData = true
            if !publishersPaused { readPublisher(peer) }
        case .subscriber:
            // Subscribers send nothing after their hello; read and discard, notice the close.
            for _ in 0..<16 {
                let count = recv(peer.fd, batch, batchBytes, 0)
                if count > 0 { continue }
                if count == 0 || (errno != EAGAIN && errno != EINTR) { drop(peer) }
                return
            }
        }
    }

    /// Reads and forwards up to eight batches; leaves `mayHaveData` set if the socket still holds
    /// more, so the main loop comes back to it after serving other events.
    private func readPublisher(_ peer: Peer) {
        for _ in 0..<8 {
            if publishersPaused { return }
            // Fill the batch from what the socket holds (up to `batchBytes`), as Tern's reactor
            // copies up to a batch of frames out of its ring at once.
            var filled = 0
            var drained = false
            var closed = false
            for _ in 0..<64 where filled < batchBytes && !drained {
                let count = recv(peer.fd, batch + filled, batchBytes - filled, 0)
                if count > 0 {
                    filled += count
                } else if count < 0 && errno == EINTR {
                    continue
                } else {
                    drained = true
                    closed = count == 0 || errno != EAGAIN
                }
            }
            if filled > 0 { forward(filled) }
            if closed { return drop(peer) }
            if drained {
                peer.mayHaveData = false
                return
            }
        }
    }

    /// The whole job: the same bytes to every subscriber, one send each.
    private func forward(_ count: Int) {
        var failed: [Peer] = []
        for subscriber in subscribers {
            if subscriber.pendingCount == 0 && subscriber.writable {
                let written = send(subscriber.fd, batch, count, Int32(MSG_NOSIGNAL))
                if written == count { continue }
                if written < 0 && errno != EAGAIN && errno != EINTR {
                    failed.append(subscriber)
                    continue
                }
                subscriber.writable = false
                let sent = max(written, 0)
                subscriber.enqueue(batch + sent, count - sent)
            } else {
                subscriber.enqueue(batch, count)
            }
            if !subscriber.overLimit && subscriber.pendingCount > maxPendingBytes {
                subscriber.overLimit = true
                subscribersOverLimit += 1
            }
        }
        failed.forEach(drop)
        if subscribersOverLimit > 0 { publishersPaused = true }
    }

    private func flush(_ peer: Peer) {
        while peer.pendingCount > 0 {
            let written = send(peer.fd, peer.pending! + peer.pendingStart, peer.pendingCount, Int32(MSG_NOSIGNAL))
            if written > 0 {
                peer.pendingStart += written
                continue
            }
            if written < 0 && errno == EINTR { continue }
            if written < 0 && errno == EAGAIN {
                peer.writable = false
                break
            }
            return drop(peer)
        }
        if peer.pendingCount == 0 {
            peer.pendingStart = 0
            peer.pendingEnd = 0
        }
        if peer.overLimit && peer.pendingCount <= maxPendingBytes / 2 {
            peer.overLimit = false
            subscribersOverLimit -= 1
            resumeIfClear()
        }
    }

    /// Publishers are read again by the main loop once no subscriber is over the limit.
    private func resumeIfClear() {
        if publishersPaused && subscribersOverLimit == 0 { publishersPaused = false }
    }

    private func drop(_ peer: Peer) {
        guard peers.removeValue(forKey: peer.fd) != nil else { return }
        epoll_ctl(epollFD, EPOLL_CTL_DEL, peer.fd, nil)
        Glibc.close(peer.fd)
        if peer.overLimit {
            peer.overLimit = false
            subscribersOverLimit -= 1
        }
        subscribers.removeAll { $0 === peer }
        publishers.removeAll { $0 === peer }
        resumeIfClear()
    }

    private func watch(_ fd: Int32, events: UInt32, operation: Int32) {
        var event = epoll_event()
        event.events = events
        event.data.u64 = UInt64(UInt32(bitPattern: fd))
        epoll_ctl(epollFD, operation, fd, &event)
    }
}
