/// What the broker core tells the cluster backbone (`TernCluster`), in cluster mode only; a
/// single-node broker has none and pays one nil check per publish run.
public protocol ClusterLink: AnyObject, Sendable {
    /// A run of messages was accepted on `stream` with consecutive sequences from `firstSequence`.
    /// Called under the stream's publish lock, so runs reach the backbone in sequence order; it
    /// must only copy the bytes into an outbox, never block.
    func forward(_ stream: BrokerStream, firstSequence: UInt64, payloads: UnsafeBufferPointer<UnsafeRawBufferPointer>)

    /// `stream`'s first delivering reader group came, or its last one left: the backbone
    /// subscribes to or leaves the stream's subject (interest-based). Called outside any lock.
    func interestChanged(_ stream: BrokerStream)
}
