import Synchronization

/// Every count the data plane keeps, declared once: the case is the slot each reactor thread adds
/// to (`ReactorCounters`), the key scrapes and status lines read the sum by
/// (`ReactorStatistics`), and it names its Prometheus series. A new count is a new case here and
/// the line that adds to it; nothing else changes.
public enum DataPlaneCounter: Int, CaseIterable, Sendable {
    case connectionsAccepted
    case connectionsClosed
    case connectionsRefused
    /// Connections refused because the process ran out of file descriptors (EMFILE/ENFILE).
    case acceptErrorsAtFileLimit
    /// Other failed accepts (ENOBUFS, ENOMEM, …).
    case acceptErrorsOther
    /// Subscriptions (receiving) and attachments (publishing only) open now: gauges.
    case subscriptions
    case attachments
    case messagesDelivered
    case messagesDroppedSlowConsumer
    case messagesDroppedLapped
    /// Messages a RESUME asked for that the ring no longer held (DROPPED `NOT_RETAINED`).
    case messagesDroppedNotRetained
    /// Shared-memory subscriptions (protocol version 3) open now: a gauge.
    case mappedSubscriptions
    /// Messages shared-memory readers reported lost to lapping (RING_LOSS; as the clients say).
    case messagesDroppedRingLapped
    /// RESUMEs answered with SUBSCRIBED, and the MESSAGE frames replayed to them.
    case resumes
    case messagesReplayed
    case bytesIn
    case bytesOut
    case loopIterations
    /// Time spent working (outside epoll_wait).
    case busyNanoseconds

    public enum Kind: Sendable { case counter, gauge }

    /// The Prometheus family the count is reported in, and its label value when the family has
    /// several series (`reason="fd_limit"`). `busyNanoseconds` is reported in seconds.
    public struct Series: Sendable {
        public let family: String
        public let help: String
        public let kind: Kind
        public let label: (name: String, value: String)?
        /// The reported value is the count divided by this (nanoseconds reported as seconds).
        public var divisor: Double = 1
    }

    public var series: Series {
        switch self {
        case .connectionsAccepted: .counter("tern_connections_accepted_total", "Data-port connections accepted.")
        case .connectionsClosed:
            .counter("tern_connections_closed_total", "Data-port connections closed, for any reason.")
        case .connectionsRefused:
            .counter("tern_connections_refused_total", "Data-port connections refused (over --max-connections).")
        case .acceptErrorsAtFileLimit: .acceptErrors("fd_limit")
        case .acceptErrorsOther: .acceptErrors("other")
        case .subscriptions: .gauge("tern_subscriptions", "Subscriptions receiving messages now, over all connections.")
        case .attachments: .gauge("tern_attachments", "Publish-only attachments to streams now, over all connections.")
        case .messagesDelivered:
            .counter("tern_messages_delivered_total", "MESSAGE frames queued to subscribers (one per subscriber).")
        case .messagesDroppedSlowConsumer: .dropped("slow_consumer")
        case .messagesDroppedLapped: .dropped("lapped")
        case .messagesDroppedNotRetained: .dropped("not_retained")
        case .mappedSubscriptions:
            .gauge("tern_mapped_subscriptions", "Shared-memory subscriptions (mapped rings) now, over all connections.")
        case .messagesDroppedRingLapped: .dropped("ring_lapped")
        case .resumes: .counter("tern_resumes_total", "RESUME requests answered with SUBSCRIBED (protocol version 2).")
        case .messagesReplayed:
            .counter(
                "tern_messages_replayed_total",
                "MESSAGE frames replayed from rings to resuming subscribers (the ring size is the resume window)."
            )
        case .bytesIn: .counter("tern_bytes_in_total", "Bytes read from data-port connections.")
        case .bytesOut: .counter("tern_bytes_out_total", "Bytes written to data-port connections.")
        case .loopIterations: .counter("tern_reactor_loop_iterations_total", "Reactor loop turns, summed over threads.")
        case .busyNanoseconds:
            .init(
                family: "tern_reactor_busy_seconds_total",
                help: "Time reactor threads spent working, summed over threads.",
                kind: .counter,
                label: nil,
                divisor: 1e9
            )
        }
    }
}

extension DataPlaneCounter.Series {
    static func counter(_ family: String, _ help: String) -> Self {
        Self(family: family, help: help, kind: .counter, label: nil)
    }

    static func gauge(_ family: String, _ help: String) -> Self {
        Self(family: family, help: help, kind: .gauge, label: nil)
    }

    static func acceptErrors(_ reason: String) -> Self {
        Self(
            family: "tern_accept_errors_total",
            help: "Data-port accepts that failed: fd_limit (the process is out of file descriptors; the "
                + "connection is closed at once), other (ENOBUFS, ENOMEM, …). Accepting pauses briefly after each.",
            kind: .counter,
            label: ("reason", reason)
        )
    }

    /// Shared with the broker's `rate_limited` series, which the metrics endpoint adds.
    public static let droppedFamily = "tern_messages_dropped_total"

    static func dropped(_ reason: String) -> Self {
        Self(
            family: droppedFamily,
            help: "Messages lost: slow_consumer (out-buffer full), lapped (ring overran the reader), "
                + "not_retained (a resume asked for more than the ring held), "
                + "ring_lapped (a shared-memory reader's own report of what lapping cost it), "
                + "rate_limited (publish refused by --publish-rate).",
            kind: .counter,
            label: ("reason", reason)
        )
    }
}

/// One atomic slot per `DataPlaneCounter` case, inline in `ReactorCounters`. The count must be a
/// literal here; `ReactorCounters.init` checks it against the cases.
typealias DataPlaneCounterSlots = InlineArray<19, Atomic<UInt64>>
