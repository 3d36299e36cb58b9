import TernCluster
import TernCore

/// Cluster-mode series for `/metrics`: backbone state, runs across nodes, expiries written.
enum MetricsCluster {
    static func render(_ cluster: ClusterNode, broker: Broker) -> [UInt8] {
        let backbone = cluster.backbone
        var text = ""
        func series(_ name: String, _ type: String, _ help: String, _ value: some BinaryInteger) {
            text += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n\(name) \(value)\n"
        }
        series(
            "tern_cluster_backbone_up",
            "gauge",
            "1 while the NATS backbone is connected.",
            cluster.isConnected ? 1 : 0
        )
        series("tern_cluster_backbone_reconnects_total", "counter", "Reconnects to NATS.", cluster.reconnects)
        series(
            "tern_cluster_nodes",
            "gauge",
            "Nodes with a heartbeat in the last 5 s.",
            cluster.nodes.filter { UnixTime.now().milliseconds - $0.heartbeatAt < 5_000 }.count
        )
        series(
            "tern_cluster_interests",
            "gauge",
            "Streams this node follows on the backbone (local subscribers).",
            backbone.interestCount.load(ordering: .relaxed)
        )
        series(
            "tern_cluster_runs_forwarded_total",
            "counter",
            "Publish runs sent to the backbone.",
            backbone.runsForwarded.load(ordering: .relaxed)
        )
        series(
            "tern_cluster_runs_dropped_total",
            "counter",
            "Publish runs not sent (backbone gone or its outbox full).",
            backbone.runsDropped.load(ordering: .relaxed)
        )
        series(
            "tern_cluster_runs_received_total",
            "counter",
            "Publish runs received from other nodes.",
            backbone.runsReceived.load(ordering: .relaxed)
        )
        series(
            "tern_cluster_messages_received_total",
            "counter",
            "Messages appended to lanes (published on other nodes).",
            broker.messagesFromBackbone.load(ordering: .relaxed)
        )
        series(
            "tern_cluster_expiries_written_total",
            "counter",
            "Stream expiries this node wrote to the registry.",
            cluster.expiriesWritten
        )
        return Array(text.utf8)
    }
}
