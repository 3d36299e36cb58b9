import TernCore
import TernReactor
import TernWire

/// The data plane's and the broker's metric families, read at scrape time from the counters the
/// reactor threads and the broker keep anyway (relaxed atomic loads: nothing on the hot path
/// changes for metrics).
///
/// Every family is written on every scrape, zero or not, and every drop reason and error code
/// has its series from the start, so `rate()` and alerts see a series before its first event.
enum MetricsDataPlane {
    static func render(statistics: ReactorStatistics, broker: Broker, storeFailures: UInt64) -> [UInt8] {
        var text = MetricsText()
        text.gauge("tern_connections_open", help: "Data-port connections open now.", statistics.openConnections)
        text.gauge("tern_streams", help: "Streams that exist now, in all services.", broker.streamCount)
        text.counter(
            "tern_messages_published_total",
            help: "Messages accepted for publishing, over REST and the data port.",
            broker.messagesPublished.load(ordering: .relaxed)
        )
        renderCounters(
            statistics,
            into: &text,
            extra: [
                DataPlaneCounter.Series.droppedFamily: [
                    ([("reason", "rate_limited")], String(broker.messagesRateLimited.load(ordering: .relaxed)))
                ]
            ]
        )
        text.gauge(
            "tern_resume_rings_retained",
            help: "Rings kept with no subscriber so a subscriber can resume (--resume-retention).",
            broker.idleRingCount
        )
        text.counter(
            "tern_frames_rejected_total",
            help: "Data-port requests and frames answered with ERROR, by error code.",
            label: "code",
            ErrorCode.allCases.map { ($0.name, statistics.rejectedByCode[$0] ?? 0) }
        )
        text.histogram(
            "tern_reactor_loop_duration_seconds",
            help: "Work per reactor loop turn (time outside epoll_wait).",
            upperBounds: Reactor.loopDurationBucketBounds,
            cumulativeCounts: statistics.loopDurationCumulativeCounts,
            sum: statistics.reported(.busyNanoseconds)
        )
        text.counter(
            "tern_streams_expired_total",
            help: "Streams deleted because their TTL ran out.",
            broker.streamsExpired.load(ordering: .relaxed)
        )
        text.counter(
            "tern_store_failures_total",
            help: "Writes the SQLite store refused (each logged with its cause; REST answered 500/20500).",
            storeFailures
        )
        return text.bytes
    }

    /// Every `DataPlaneCounter`, one family per series name in declaration order, with `extra`
    /// samples from outside the data plane appended to their family.
    private static func renderCounters(
        _ statistics: ReactorStatistics,
        into text: inout MetricsText,
        extra: [String: [([(String, String)], String)]]
    ) {
        var families: [(series: DataPlaneCounter.Series, samples: [([(String, String)], String)])] = []
        for counter in DataPlaneCounter.allCases {
            let series = counter.series
            let value =
                series.divisor == 1 ? String(statistics[counter]) : MetricsText.number(statistics.reported(counter))
            let sample = (series.label.map { [($0.name, $0.value)] } ?? [], value)
            if let index = families.firstIndex(where: { $0.series.family == series.family }) {
                families[index].samples.append(sample)
            } else {
                families.append((series, [sample]))
            }
        }
        for (series, samples) in families {
            let type = series.kind == .counter ? "counter" : "gauge"
            text.family(series.family, help: series.help, type: type, samples + (extra[series.family] ?? []))
        }
    }
}
