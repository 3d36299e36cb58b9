import Foundation
import Prometheus
import TernCluster
import TernControl
import TernCore
import TernReactor

/// What the control port's `/metrics` and `/connz` show about this daemon: the swift-metrics
/// families (REST requests, from the Prometheus registry) followed by the data plane's and the
/// broker's (read at scrape time), and the reactor's connection reports.
struct DaemonIntrospection: ControlIntrospection {
    let broker: Broker
    let reactor: Reactor
    let store: ObservedStore?
    let registry: PrometheusCollectorRegistry
    let cluster: ClusterNode?

    /// Uses the process's metrics registry, bootstrapping swift-metrics on first use.
    init(
        broker: Broker,
        reactor: Reactor,
        store: ObservedStore? = nil,
        cluster: ClusterNode? = nil,
        registry: PrometheusCollectorRegistry = MetricsBootstrap.registry
    ) {
        self.cluster = cluster
        self.broker = broker
        self.reactor = reactor
        self.store = store
        self.registry = registry
    }

    func metricsExposition() async -> [UInt8] {
        var body = registry.emitToBuffer()
        body += MetricsDataPlane.render(
            statistics: reactor.statistics,
            broker: broker,
            storeFailures: store?.failures.load(ordering: .relaxed) ?? 0
        )
        if let cluster { body += MetricsCluster.render(cluster, broker: broker) }
        return body
    }

    func backboneState() -> String? {
        guard let cluster else { return nil }
        return cluster.isConnected ? "connected" : "disconnected"
    }

    func clusterView() async -> [UInt8]? {
        guard let cluster else { return nil }
        let now = UnixTime.now().milliseconds
        let nodes: [[String: Any]] = cluster.nodes.map { node in
            [
                "node": node.node, "control": node.control, "data": node.data, "streams": node.streams,
                "connections": node.connections, "started_at": node.startedAt, "heartbeat_at": node.heartbeatAt,
                "alive": now - node.heartbeatAt < 5_000,
            ]
        }
        let view: [String: Any] = [
            "node": cluster.options.nodeName, "backbone": cluster.isConnected ? "connected" : "disconnected",
            "nats_server": cluster.currentServer ?? "", "bucket": cluster.options.bucket, "nodes": nodes,
        ]
        return (try? JSONSerialization.data(withJSONObject: view, options: [.sortedKeys])).map { Array($0) }
    }

    func connections() async -> ConnectionsView {
        let reports = await reactor.connectionReports()
        return ConnectionsView(open: reports.open, recentlyClosed: reports.closed)
    }
}
