import Prometheus
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

    /// Uses the process's metrics registry, bootstrapping swift-metrics on first use.
    init(
        broker: Broker,
        reactor: Reactor,
        store: ObservedStore? = nil,
        registry: PrometheusCollectorRegistry = MetricsBootstrap.registry
    ) {
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
        return body
    }

    func connections() async -> ConnectionsView {
        let reports = await reactor.connectionReports()
        return ConnectionsView(open: reports.open, recentlyClosed: reports.closed)
    }
}
