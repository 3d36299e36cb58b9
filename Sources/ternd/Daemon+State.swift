import Logging
import TernCluster
import TernCore
import TernStore

/// Where the registry lives: SQLite in the state folder (single node), or the cluster's
/// JetStream KV bucket (`--cluster`), read once at start and followed afterwards.
struct OpenedState {
    let broker: Broker
    let identity: StoredIdentity
    /// The SQLite store (single node only).
    let store: ObservedStore?
    let cluster: ClusterNode?
}

extension Daemon {
    func openState(_ state: StateFolder, logger: Logger) async throws -> OpenedState {
        guard let options = settings.cluster else {
            let (sqlite, identity) = try state.open(logger: logger)
            do {
                let store = ObservedStore(sqlite, logger: logger)
                let broker = try Broker(
                    limits: settings.limits,
                    accountSid: identity.accountSid,
                    defaultServiceSid: identity.defaultServiceSid,
                    services: try sqlite.loadServices(),
                    keys: try sqlite.loadKeys(),
                    keyRoot: try state.loadOrCreateKeyRoot(),
                    store: store
                )
                let restored = try broker.restore(sqlite.loadStreams())
                logger.info(
                    "restored \(restored.restored) streams, deleted \(restored.expired) that expired while ternd was down"
                )
                return OpenedState(broker: broker, identity: identity, store: store, cluster: nil)
            } catch {
                sqlite.close()
                throw error
            }
        }
        let cluster = ClusterNode(options: options, logger: logger)
        do {
            let snapshot = try await cluster.start()
            let identity = StoredIdentity(
                accountSid: snapshot.accountSid,
                defaultServiceSid: snapshot.defaultServiceSid,
                authToken: snapshot.authToken
            )
            let broker = try Broker(
                limits: settings.limits,
                accountSid: snapshot.accountSid,
                defaultServiceSid: snapshot.defaultServiceSid,
                services: snapshot.services,
                keys: snapshot.keys,
                keyRoot: snapshot.keyRoot,
                store: cluster.store,
                cluster: cluster.backbone
            )
            do {
                let restored = try broker.restore(snapshot.streams)
                logger.info("cluster: \(restored.restored) streams in the registry, \(restored.expired) expired")
            } catch {
                logger.warning(
                    "cluster: expired streams not all deleted at start (retried by the expiry pass): \(error)"
                )
            }
            logger.notice(
                "cluster mode: node \(options.nodeName), NATS \(cluster.currentServer ?? "?"), bucket \(options.bucket)"
            )
            return OpenedState(broker: broker, identity: identity, store: nil, cluster: cluster)
        } catch {
            cluster.shutdown()
            throw error
        }
    }
}
