import TernCore

/// `GET /metrics` and `GET /connz`: what an operator watches. Both need credentials when
/// authentication is on (they name peers and stream sids); `/healthz` stays open so a liveness
/// probe needs none. Without a `ControlIntrospection` both are 404/20404.
extension ControlAPI {
    /// Prometheus text exposition format 0.0.4, as Prometheus' own client libraries label it.
    static let prometheusContentType = "text/plain; version=0.0.4; charset=utf-8"

    func metrics(_ request: ControlRequest) async throws(ControlError) -> ControlReply {
        guard let introspection = configuration.introspection else { throw .notFound(request.resourcePath) }
        let body = await introspection.metricsExposition()
        return ControlReply(status: .ok, body: body, contentType: Self.prometheusContentType)
    }

    /// `{"now", "num_connections", "total", "connections": [...], "recently_closed": [...]}`.
    ///
    /// `?sort=pending_bytes` (or `messages_dropped`, `messages_delivered`, `bytes_written`) lists
    /// the largest first, so the slow subscriber tops the list; the default is by id, oldest
    /// first. `?limit=N` keeps the first N open connections (`num_connections` counts those
    /// listed, `total` all open ones). Recently closed connections come most recent first.
    func connections(_ request: ControlRequest) async throws(ControlError) -> ControlReply {
        guard let introspection = configuration.introspection else { throw .notFound(request.resourcePath) }
        let query = try ConnectionsQuery(request.query)
        let view = await introspection.connections()
        let listed = query.apply(to: view.open)
        let closed = view.recentlyClosed.sorted { $0.closedAgoMilliseconds < $1.closedAgoMilliseconds }
        return .json(.ok) { json in
            json.field("now", UnixTime.now().iso8601)
            json.field("num_connections", listed.count)
            json.field("total", view.open.count)
            json.objects("connections", listed) { $0.connection($1) }
            json.objects("recently_closed", closed) { $0.closedConnection($1) }
        }
    }
}

/// `/connz`'s `sort` and `limit`.
struct ConnectionsQuery {
    enum Order: String, CaseIterable {
        case id
        case pendingBytes = "pending_bytes"
        case messagesDropped = "messages_dropped"
        case messagesDelivered = "messages_delivered"
        case bytesWritten = "bytes_written"
    }

    var order = Order.id
    var limit: Int?

    init(_ query: FormFields) throws(ControlError) {
        if let text = query.text("sort") {
            guard let text, let order = Order(rawValue: text) else {
                let allowed = Order.allCases.map(\.rawValue).joined(separator: ", ")
                throw .invalidParameter("sort", "must be one of \(allowed)")
            }
            self.order = order
        }
        if let text = query.text("limit") {
            guard let text, let limit = Int(text), limit >= 1 else {
                throw .invalidParameter("limit", "must be an integer of at least 1")
            }
            self.limit = limit
        }
    }

    /// Sorted (largest first for every order but `id`; ties by id) and cut to `limit`.
    func apply(to connections: [ConnectionsView.Connection]) -> [ConnectionsView.Connection] {
        let sorted = connections.sorted { lhs, rhs in
            let (left, right) = (key(lhs), key(rhs))
            return left != right ? left > right : lhs.id < rhs.id
        }
        return limit.map { Array(sorted.prefix($0)) } ?? sorted
    }

    /// The sort key, negated for `id` so one "largest first" comparison serves every order.
    private func key(_ connection: ConnectionsView.Connection) -> Int64 {
        switch order {
        case .id: return -Int64(truncatingIfNeeded: connection.id)
        case .pendingBytes: return Int64(connection.pendingBytes)
        case .messagesDropped: return Int64(truncatingIfNeeded: connection.messagesDropped)
        case .messagesDelivered: return Int64(truncatingIfNeeded: connection.messagesDelivered)
        case .bytesWritten: return Int64(truncatingIfNeeded: connection.bytesWritten)
        }
    }
}

extension JSONObject {
    mutating func connection(_ connection: ConnectionsView.Connection) {
        field("id", connection.id)
        field("peer", connection.peer)
        field("client_name", connection.clientName)
        field("identity", connection.identity)
        field("key_sid", connection.keySid)
        field("state", connection.state)
        field("reactor_thread", connection.reactorThread)
        field("uptime_ms", connection.uptimeMilliseconds)
        field("subscribed", strings: connection.subscribed)
        field("attached", strings: connection.attached)
        field("messages_delivered", connection.messagesDelivered)
        field("messages_dropped", connection.messagesDropped)
        field("bytes_written", connection.bytesWritten)
        field("frames_received", connection.framesReceived)
        field("pending_bytes", connection.pendingBytes)
        field("out_buffer_allocated", connection.outBufferAllocated)
    }

    mutating func closedConnection(_ connection: ConnectionsView.ClosedConnection) {
        field("id", connection.id)
        field("peer", connection.peer)
        field("client_name", connection.clientName)
        field("identity", connection.identity)
        field("reason", connection.reason)
        field("closed_ago_ms", connection.closedAgoMilliseconds)
        field("messages_delivered", connection.messagesDelivered)
        field("messages_dropped", connection.messagesDropped)
    }
}
