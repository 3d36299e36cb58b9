import CTernShims
import Glibc
import TernCore
import TernWire

extension ReactorLoop {
    func acceptAll(from listener: ListeningSocket) {
        while true {
            let fd = ctern_accept_nonblocking(listener.fd, nil, nil)
            if fd < 0 {
                let error = errno
                if error == EINTR || error == ECONNABORTED { continue }
                if error == EAGAIN || error == EWOULDBLOCK { return }
                if error == EMFILE || error == ENFILE {
                    refuseAtDescriptorLimit(listener, error: error)
                } else {
                    // ENOBUFS, ENOMEM, EPERM (firewall): the listener stays readable, so
                    // accepting again at once would spin; the next timer tick retries.
                    counters.add(1, to: .acceptErrorsOther)
                    logger.warning("accept on \(listener.address) failed: \(String(cString: strerror(error)))")
                    pauseAccepting()
                }
                return
            }
            accepted(fd: fd, listener: listener)
        }
    }

    /// Out of file descriptors: the pending connection would keep the (level-triggered) listener
    /// readable and the loop spinning. With the thread's reserve descriptor released, one
    /// connection is accepted and closed at once, so its client sees the refusal instead of a
    /// hang; without one, accepting pauses until the next timer tick.
    private func refuseAtDescriptorLimit(_ listener: ListeningSocket, error: Int32) {
        counters.add(1, to: .acceptErrorsAtFileLimit)
        logger.warning(
            "accept on \(listener.address) failed: \(String(cString: strerror(error))); refusing connections until descriptors are free (raise LimitNOFILE= or lower --max-connections)"
        )
        if reserveDescriptor.release() {
            let fd = ctern_accept_nonblocking(listener.fd, nil, nil)
            if fd >= 0 { Glibc.close(fd) }
            reserveDescriptor.reacquire()
        }
        pauseAccepting()
    }

    /// Takes the listeners out of this thread's epoll until the next timer tick.
    private func pauseAccepting() {
        guard acceptingConnections && !acceptPaused else { return }
        acceptPaused = true
        for listener in listeners { epoll.remove(listener.fd) }
    }

    /// Puts the listeners back after a pause (timer tick).
    func resumeAccepting() {
        guard acceptPaused && acceptingConnections else { return }
        acceptPaused = false
        for (index, listener) in listeners.enumerated() {
            try? epoll.add(
                listener.fd,
                events: EPOLLIN.rawValue | EPOLLEXCLUSIVE.rawValue,
                token: Self.listenerTokenBase + UInt64(index)
            )
        }
    }

    private func accepted(fd: Int32, listener: ListeningSocket) {
        let open = shared.openConnections.add(1, ordering: .relaxed).newValue
        if open > configuration.maxConnections {
            shared.openConnections.subtract(1, ordering: .relaxed)
            let refusal = Frame.error(
                .init(
                    requestID: 0,
                    code: .tooManyConnections,
                    message: "server is at its limit of \(configuration.maxConnections) connections"
                )
            ).encoded()
            _ = refusal.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            counters.add(1, to: .connectionsRefused)
            Glibc.close(fd)
            return
        }
        if listener.kind == .tcp {
            var one: Int32 = 1
            setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            if var receiveBuffer = shared.receiveBufferBytes {
                setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &receiveBuffer, socklen_t(MemoryLayout<Int32>.size))
            }
        }
        let connection = Connection(
            fd: fd,
            io: SocketIO(fd: fd, isUnix: listener.kind == .unix),
            id: shared.nextConnectionID.add(1, ordering: .relaxed).newValue,
            peer: ListeningSocket.peerName(fd, kind: listener.kind),
            now: MonotonicTime.milliseconds(),
            outBufferBytes: configuration.outBufferBytes
        )
        if Int(fd) >= connections.count {
            connections.append(contentsOf: repeatElement(nil, count: Int(fd) + 1 - connections.count))
        }
        connections[Int(fd)] = connection
        do {
            try epoll.add(
                fd,
                events: EPOLLIN.rawValue | EPOLLOUT.rawValue | EPOLLRDHUP.rawValue | EPOLLET.rawValue,
                token: Self.connectionTokenBase + UInt64(fd)
            )
        } catch {
            logger.warning("epoll add failed for \(connection.peer): \(error)")
            plane.close(connection, reason: "epoll add failed")
            return
        }
        counters.add(1, to: .connectionsAccepted)
        logger.debug("connection \(connection.id) from \(connection.peer)")
    }
}
