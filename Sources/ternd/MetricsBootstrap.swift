import Metrics
import Prometheus

/// The process's swift-metrics backend: a Prometheus registry that `/metrics` prints.
///
/// swift-metrics allows one bootstrap per process, so it happens in the initializer of this
/// static constant (run once, thread-safely, on first use). `Daemon` touches it before the
/// control port serves, so no request is counted into the no-op backend.
enum MetricsBootstrap {
    static let registry: PrometheusCollectorRegistry = {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        // REST requests take tens of microseconds to a few milliseconds; the backend's default
        // buckets start at 5 ms and would put nearly all of them in the first one.
        factory.defaultDurationHistogramBuckets = [
            .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .microseconds(2500),
            .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
            .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5),
        ]
        MetricsSystem.bootstrap(factory)
        return registry
    }()
}
