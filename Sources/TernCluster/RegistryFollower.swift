import Dispatch
import Synchronization
import TernCore
import TernNATS
import TernWire

/// Follows the registry bucket's change feed and applies it to this node's broker: services,
/// streams, keys, the auth token, and the nodes' heartbeats.
///
/// Events are applied on a serial queue of their own, never on the NATS event loop: applying
/// takes the broker's `changes` lock, which a REST change holds while it waits for the bucket's
/// acknowledgement, itself read on the event loop.
final class RegistryFollower: @unchecked Sendable {
    /// What the bucket held when the node started, before there was a broker.
    struct Snapshot {
        var identity: IdentityDocument?
        var services: [SyncService] = []
        var streams: [StreamRecord] = []
        var keys: [APIKey] = []
    }

    private let queue = DispatchQueue(label: "tern.cluster.registry")
    let store: ClusterStore
    // Queue state.
    private var broker: Broker?
    private var credentials: CredentialsHolder?
    private var snapshot = Snapshot()
    private var snapshotWaiters: [@Sendable (Snapshot) -> Void] = []
    private var snapshotTaken = false
    private var pending: [KeyValueWatch.Event] = []
    /// Streams seen since the current replay began (to end those a replay no longer has).
    private var seenStreams: Set<String> = []
    private let nodeTable = Locked<[String: NodeDocument]>([:])
    let lastChangeApplied = Atomic<Int64>(0)

    init(store: ClusterStore) { self.store = store }

    /// Every node's last heartbeat.
    var nodes: [NodeDocument] { nodeTable.withLock { Array($0.values) }.sorted { $0.node < $1.node } }

    func receive(_ event: KeyValueWatch.Event) {
        queue.async { self.handle(event) }
    }

    /// A new replay of the bucket begins (the watch was restarted).
    func replayStarting() {
        queue.async { self.seenStreams = [] }
    }

    /// Calls `body` with the snapshot once the first replay has caught up.
    func whenSnapshot(_ body: @escaping @Sendable (Snapshot) -> Void) {
        queue.async {
            if self.snapshotTaken { body(self.snapshot) } else { self.snapshotWaiters.append(body) }
        }
    }

    /// From now on changes are applied to `broker` (those that came since the snapshot first).
    func attach(_ broker: Broker, credentials: CredentialsHolder?) {
        queue.async {
            self.broker = broker
            self.credentials = credentials
            let waiting = self.pending
            self.pending = []
            for event in waiting { self.apply(event, to: broker) }
        }
    }

    private func handle(_ event: KeyValueWatch.Event) {
        if case .entry(let entry) = event, entry.key.hasPrefix("node.") {
            noteNode(entry)
            return
        }
        if let broker {
            apply(event, to: broker)
        } else if !snapshotTaken {
            collect(event)
        } else {
            pending.append(event)
        }
    }

    // MARK: Before the broker: the snapshot

    private func collect(_ event: KeyValueWatch.Event) {
        switch event {
        case .caughtUp:
            snapshotTaken = true
            for waiter in snapshotWaiters { waiter(snapshot) }
            snapshotWaiters = []
        case .entry(let entry):
            guard entry.operation == .put else { return }
            if entry.key == ClusterKey.identity {
                snapshot.identity = ClusterJSON.decode(IdentityDocument.self, entry.value)
            } else if entry.key.hasPrefix("service."),
                let document = ClusterJSON.decode(ServiceDocument.self, entry.value)
            {
                snapshot.services.append(document.service)
            } else if entry.key.hasPrefix("stream."),
                let document = ClusterJSON.decode(StreamDocument.self, entry.value)
            {
                snapshot.streams.append(document.record)
                store.noteStream(document.record)
            } else if entry.key.hasPrefix("key."), let document = ClusterJSON.decode(KeyDocument.self, entry.value) {
                snapshot.keys.append(document.key)
            }
        }
    }

    // MARK: With the broker

    private func apply(_ event: KeyValueWatch.Event, to broker: Broker) {
        guard case .entry(let entry) = event else {
            // A replay (after a reconnect) caught up: what it did not bring was deleted meanwhile.
            for sid in broker.allStreamSids where !seenStreams.contains(sid) {
                broker.applyStreamRemoved(sid: sid, reason: .deleted)
            }
            seenStreams = []
            return
        }
        lastChangeApplied.store(UnixTime.now().milliseconds, ordering: .relaxed)
        let live = entry.operation == .put
        if entry.key == ClusterKey.identity {
            if live, let identity = ClusterJSON.decode(IdentityDocument.self, entry.value), let credentials,
                credentials.current.authToken != identity.authToken
            {
                credentials.replaceToken(with: identity.authToken)
            }
        } else if entry.key.hasPrefix("service.") {
            let sid = String(entry.key.dropFirst("service.".count))
            if live, let document = ClusterJSON.decode(ServiceDocument.self, entry.value) {
                broker.applyService(document.service)
            } else if !live {
                broker.applyServiceRemoved(sid: sid)
            }
        } else if entry.key.hasPrefix("stream.") {
            let sid = String(entry.key.dropFirst("stream.".count))
            if live, let document = ClusterJSON.decode(StreamDocument.self, entry.value) {
                seenStreams.insert(sid)
                store.noteStream(document.record)
                broker.applyStream(document.record)
            } else if !live {
                store.noteStreamRemoved(sid)
                let reason: StreamEndReason = entry.headers?[ClusterHeader.endReason] == "expired" ? .expired : .deleted
                broker.applyStreamRemoved(sid: sid, reason: reason)
            }
        } else if entry.key.hasPrefix("key.") {
            let sid = String(entry.key.dropFirst("key.".count))
            if live, let document = ClusterJSON.decode(KeyDocument.self, entry.value) {
                broker.applyKey(document.key)
            } else if !live {
                broker.applyKeyRemoved(sid: sid)
            }
        }
    }

    private func noteNode(_ entry: KeyValueEntry) {
        let id = String(entry.key.dropFirst("node.".count))
        nodeTable.withLock { table in
            if entry.operation == .put, let document = ClusterJSON.decode(NodeDocument.self, entry.value) {
                table[id] = document
            } else {
                table[id] = nil
            }
        }
    }
}
