import CLoadShims
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
public final class BenchRelay {
    private enum Role { case unknown, subscriber, publisher }

    private final class Peer {
        let fd: Int32
        var role = Role.unknown
        /// Subscribers: bytes a send did not take, sent first when the socket has room again.
        let pending = ByteQueue()
        var overLimit = false
        /// Subscribers: the socket took everything last time (edge-triggered EPOLLOUT sets it again).
        var writable = true
        /// Publishers: bytes may be waiting (edge-triggered EPOLLIN sets it; EAGAIN clears it).
        var mayHaveData = false

        init(fd: Int32) { self.fd = fd }
    }

    let batchBytes: Int
    let maxPendingBytes: Int
    private let listenFD: Int32
    private let epoll: Epoll
    private var peers: [Int32: Peer] = [:]
    private var subscribers: [Peer] = []
    private var publishers: [Peer] = []
    private var subscribersOverLimit = 0
    private var publishersPaused = false
    private let batch: UnsafeMutableRawPointer
    /// The address actually bound (port 0 resolved).
    public let boundAddress: String

    public init(listen address: String, batchBytes: Int, maxPendingBytes: Int) throws {
        self.batchBytes = batchBytes
        self.maxPendingBytes = maxPendingBytes
        let (host, port) = try LoadSocket.split(address)
        let listenFD = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard listenFD >= 0 else { throw BenchError(call: "socket") }
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
            throw BenchError(call: "bind/listen \(address)")
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        withUnsafeMutablePointer(to: &socketAddress) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { _ = getsockname(listenFD, $0, &length) }
        }
        boundAddress = "\(host):\(UInt16(bigEndian: socketAddress.sin_port))"
        self.listenFD = listenFD
        LoadSocket.setNonBlocking(listenFD)
        epoll = try Epoll()
        batch = .allocate(byteCount: batchBytes, alignment: 64)
        try epoll.add(listenFD, events: EPOLLIN.rawValue, token: Self.token(listenFD))
    }

    deinit {
        batch.deallocate()
        Glibc.close(listenFD)
    }

    /// Serves until `seconds` have passed (the relay always ends on its own).
    public func run(forSeconds seconds: Double) {
        let end = MonotonicClock.nanoseconds() + UInt64(seconds * 1e9)
        while MonotonicClock.nanoseconds() < end {
            let busy = !publishersPaused && publishers.contains { $0.mayHaveData }
            let ready = epoll.wait(timeoutMilliseconds: busy ? 0 : 100)
            for slot in 0..<ready {
                let (token, flags) = epoll.event(slot)
                let fd = Int32(truncatingIfNeeded: token)
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
            LoadSocket.configureAccepted(fd)
            do {
                try epoll.add(fd, events: EPOLLIN.rawValue, token: Self.token(fd))
                peers[fd] = Peer(fd: fd)
            } catch {
                Glibc.close(fd)
            }
        }
    }

    private func readable(_ peer: Peer) {
        switch peer.role {
        case .unknown:
            var hello: UInt8 = 0
            switch LoadSocket.receive(peer.fd, into: &hello, 1) {
            case .bytes: break
            case .wouldBlock: return
            case .closed, .failed: return drop(peer)
            }
            let edge = EPOLLET.rawValue | EPOLLRDHUP.rawValue
            if hello == RelayWire.subscriberHello {
                peer.role = .subscriber
                subscribers.append(peer)
                // Registered once for both directions, edge-triggered: no epoll_ctl per batch.
                epoll.modify(peer.fd, events: EPOLLIN.rawValue | EPOLLOUT.rawValue | edge, token: Self.token(peer.fd))
                var accepted = RelayWire.subscriberAccepted
                _ = LoadSocket.send(peer.fd, &accepted, 1)
            } else if hello == RelayWire.publisherHello {
                peer.role = .publisher
                publishers.append(peer)
                peer.mayHaveData = true
                epoll.modify(peer.fd, events: EPOLLIN.rawValue | edge, token: Self.token(peer.fd))
            } else {
                drop(peer)
            }
        case .publisher:
            peer.mayHaveData = true
            if !publishersPaused { readPublisher(peer) }
        case .subscriber:
            // Subscribers send nothing after their hello; read and discard, notice the close.
            for _ in 0..<16 {
                switch LoadSocket.receive(peer.fd, into: batch, batchBytes) {
                case .bytes: continue
                case .wouldBlock: return
                case .closed, .failed: return drop(peer)
                }
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
                switch LoadSocket.receive(peer.fd, into: batch + filled, batchBytes - filled) {
                case .bytes(let count):
                    filled += count
                case .wouldBlock:
                    drained = true
                case .closed, .failed:
                    drained = true
                    closed = true
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
            if subscriber.pending.isEmpty && subscriber.writable {
                var sent = 0
                switch LoadSocket.send(subscriber.fd, batch, count) {
                case .bytes(let written) where written == count: continue
                case .bytes(let written): sent = written
                case .wouldBlock: break
                case .closed, .failed:
                    failed.append(subscriber)
                    continue
                }
                subscriber.writable = false
                subscriber.pending.append(batch + sent, count - sent)
            } else {
                subscriber.pending.append(batch, count)
            }
            if !subscriber.overLimit && subscriber.pending.count > maxPendingBytes {
                subscriber.overLimit = true
                subscribersOverLimit += 1
            }
        }
        failed.forEach(drop)
        if subscribersOverLimit > 0 { publishersPaused = true }
    }

    private func flush(_ peer: Peer) {
        flushing: while let bytes = peer.pending.readable, !peer.pending.isEmpty {
            switch LoadSocket.send(peer.fd, bytes, peer.pending.count) {
            case .bytes(let written):
                peer.pending.consume(written)
            case .wouldBlock:
                peer.writable = false
                break flushing
            case .closed, .failed:
                return drop(peer)
            }
        }
        if peer.overLimit && peer.pending.count <= maxPendingBytes / 2 {
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
        epoll.remove(peer.fd)
        Glibc.close(peer.fd)
        if peer.overLimit {
            peer.overLimit = false
            subscribersOverLimit -= 1
        }
        subscribers.removeAll { $0 === peer }
        publishers.removeAll { $0 === peer }
        resumeIfClear()
    }

    /// A descriptor as an epoll token.
    private static func token(_ fd: Int32) -> UInt64 { UInt64(UInt32(bitPattern: fd)) }
}
