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
        text.counter(
            "tern_connections_accepted_total", help: "Data-port connections accepted.", statistics.connectionsAccepted)
        text.counter(
            "tern_connections_refused_total", help: "Data-port connections refused (over --max-connections).",
            statistics.connectionsRefused)
        text.counter(
            "tern_accept_errors_total",
            help: "Data-port accepts that failed: fd_limit (the process is out of file descriptors; the "
                + "connection is closed at once), other (ENOBUFS, ENOMEM, …). Accepting pauses briefly after each.",
            label: "reason",
            [("fd_limit", statistics.connectionsRefusedAtFileLimit), ("other", statistics.acceptErrors)])
        text.gauge(
            "tern_subscriptions", help: "Subscriptions receiving messages now, over all connections.",
            statistics.subscriptions)
        text.gauge(
            "tern_attachments", help: "Publish-only attachments to streams now, over all connections.",
            statistics.attachments)
        text.gauge("tern_streams", help: "Streams that exist now, in all services.", broker.streamCount)
        text.counter(
            "tern_messages_published_total", help: "Messages accepted for publishing, over REST and the data port.",
            broker.messagesPublished.load(ordering: .relaxed))
        text.counter(
            "tern_messages_delivered_total", help: "MESSAGE frames queued to subscribers (one per subscriber).",
            statistics.messagesDelivered)
        text.counter(
            "tern_messages_dropped_total",
            help: "Messages lost: slow_consumer (out-buffer full), lapped (ring overran the reader), "
                + "not_retained (a resume asked for more than the ring held), "
                + "rate_limited (publish refused by --publish-rate).",
            label: "reason",
            [
                ("slow_consumer", statistics.messagesDroppedSlowConsumer),
                ("lapped", statistics.messagesDroppedLapped),
                ("not_retained", statistics.messagesDroppedNotRetained),
                ("rate_limited", broker.messagesRateLimited.load(ordering: .relaxed)),
            ])
        text.counter(
            "tern_resumes_total", help: "RESUME requests answered with SUBSCRIBED (protocol version 2).",
            statistics.resumes)
        text.counter(
            "tern_messages_replayed_total",
            help: "MESSAGE frames replayed from rings to resuming subscribers (the ring size is the resume window).",
            statistics.messagesReplayed)
        text.gauge(
            "tern_resume_rings_retained",
            help: "Rings kept with no subscriber so a subscriber can resume (--resume-retention).",
            broker.idleRingCount)
        text.counter(
            "tern_frames_rejected_total", help: "Data-port requests and frames answered with ERROR, by error code.",
            label: "code", ErrorCode.allCases.map { ($0.name, statistics.rejectedByCode[$0] ?? 0) })
        text.counter("tern_bytes_in_total", help: "Bytes read from data-port connections.", statistics.bytesIn)
        text.counter("tern_bytes_out_total", help: "Bytes written to data-port connections.", statistics.bytesOut)
        text.histogram(
            "tern_reactor_loop_duration_seconds", help: "Work per reactor loop turn (time outside epoll_wait).",
            upperBounds: Reactor.loopDurationBucketBounds, cumulativeCounts: statistics.loopDurationCumulativeCounts,
            sum: statistics.busySeconds)
        text.counter(
            "tern_reactor_busy_seconds_total", help: "Time reactor threads spent working, summed over threads.",
            statistics.busySeconds)
        text.counter(
            "tern_streams_expired_total", help: "Streams deleted because their TTL ran out.",
            broker.streamsExpired.load(ordering: .relaxed))
        text.counter(
            "tern_store_failures_total",
            help: "Writes the SQLite store refused (each logged with its cause; REST answered 500/20500).",
            storeFailures)
        return text.bytes
    }
}
