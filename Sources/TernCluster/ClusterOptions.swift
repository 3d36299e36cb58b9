import TernNATS

/// How a node joins the cluster: the NATS servers, credentials, and the registry bucket.
public struct ClusterOptions: Sendable {
    public var servers: [NATSServerAddress]
    public var user: String?
    public var password: String?
    public var token: String?
    /// TLS to the NATS servers (`NATSTLS.makeContext`); nil: only servers that require it get it.
    public var tls: NATSTLSContext?
    /// The registry bucket's name; also the namespace of the message subjects (`tern.<bucket>.m.…`).
    public var bucket = "tern"
    /// Replicas of the bucket's stream when this node creates it (1 for a single NATS server).
    public var replicas = 3
    /// This node's name in `tern cluster status` (unique per node).
    public var nodeName: String
    /// How long the start may wait for NATS and JetStream.
    public var startTimeout: Duration = .seconds(30)

    public init(servers: [NATSServerAddress], nodeName: String) {
        self.servers = servers
        self.nodeName = nodeName
    }
}
