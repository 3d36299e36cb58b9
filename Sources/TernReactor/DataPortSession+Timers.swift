import TernWire

extension DataPortSession {
    /// Handshake timeout, PING and idle timeout, and the closing grace of one connection at `now`.
    /// While the server stops (`stopping`), the shutdown grace bounds the final flush instead.
    func checkTimers(_ connection: Connection, now: Int64, stopping: Bool) {
        switch connection.state {
        case .awaitingHello:
            if now - connection.acceptedAt >= Int64(configuration.handshakeTimeoutMilliseconds) {
                plane.counters.recordRejected(.handshakeTimeout)
                fail(
                    connection,
                    requestID: 0,
                    .handshakeTimeout,
                    "no HELLO within \(configuration.handshakeTimeoutMilliseconds) ms"
                )
            }
        case .open:
            if let token = connection.token, checkToken(connection, deadline: token.deadline, now: now) { return }
            let interval = Int64(configuration.pingIntervalMilliseconds)
            guard interval > 0 else { return }
            if let sentAt = connection.pingSentAt {
                if now - sentAt >= interval {
                    plane.counters.recordRejected(.idleTimeout)
                    fail(connection, requestID: 0, .idleTimeout, "no answer to PING within \(interval) ms")
                }
            } else if now - connection.lastHeard >= interval {
                connection.pingSentAt = now
                plane.sendControl(connection, .ping(UInt64(now)))
            }
        case .closing:
            if !stopping && now - connection.closingSince >= Self.fatalCloseGraceMilliseconds {
                plane.close(connection, reason: connection.closeReason)
            }
        case .closed:
            break
        }
    }

    /// How long a connection closed for a fatal error may take to read its ERROR before it is
    /// closed regardless.
    static let fatalCloseGraceMilliseconds: Int64 = 2_000
}
