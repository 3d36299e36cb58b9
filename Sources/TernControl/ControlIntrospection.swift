import TernCore

/// What the control port shows about the parts of the process it does not own: the data plane
/// and the broker's counters, for `GET /metrics` and `GET /connz`.
///
/// A protocol because the control API must not reach into reactor state (it does not even import
/// the reactor): the daemon, which wires both, implements it; the control API authenticates,
/// routes, sorts, limits and formats.
public protocol ControlIntrospection: Sendable {
    /// The whole `/metrics` body: Prometheus text exposition format 0.0.4, UTF-8.
    func metricsExposition() async -> [UInt8]

    /// Every open data-port connection and the recently closed ones, in any order.
    func connections() async -> ConnectionsView

    /// Cluster mode: the NATS backbone's state for `/healthz` (`connected`, `disconnected`); nil
    /// on a single node.
    func backboneState() -> String?

    /// Cluster mode: the `/clusterz` body (JSON: this node, the backbone, every node's last
    /// heartbeat); nil on a single node (then 404/20404).
    func clusterView() async -> [UInt8]?
}

extension ControlIntrospection {
    public func backboneState() -> String? { nil }
    public func clusterView() async -> [UInt8]? { nil }
}

/// The data port's connections as an operator sees them (`GET /connz`, like nats-server's).
public struct ConnectionsView: Sendable {
    public typealias Connection = ConnectionReport
    public typealias ClosedConnection = ClosedConnectionReport

    public var open: [ConnectionReport]
    public var recentlyClosed: [ClosedConnectionReport]

    public init(open: [ConnectionReport], recentlyClosed: [ClosedConnectionReport]) {
        self.open = open
        self.recentlyClosed = recentlyClosed
    }
}
