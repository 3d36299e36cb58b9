import Foundation
import NIOCore

/// A JetStream key-value bucket: the stream `KV_<bucket>` over the subjects `$KV.<bucket>.>`,
/// one value kept per key. Writes are publishes acknowledged by the stream; the conditional
/// ones use `Nats-Expected-Last-Subject-Sequence`, so a create or compare-and-delete is atomic
/// in the stream (replicated with Raft when the bucket has replicas), never a check then a write.
public struct KeyValueBucket: Sendable {
    public let jetStream: JetStream
    public let bucket: String

    public var streamName: String { "KV_" + bucket }
    var subjectPrefix: String { "$KV.\(bucket)." }

    public init(jetStream: JetStream, bucket: String) {
        self.jetStream = jetStream
        self.bucket = bucket
    }

    /// Makes sure the bucket's stream exists (creating it with `replicas` if not).
    public func ensure(replicas: Int) -> EventLoopFuture<Void> {
        jetStream.call("STREAM.INFO.\(streamName)", [:]).map { _ in () }
            .flatMapError { error in
                guard let error = error as? JetStreamError, error.code == 404 else {
                    return jetStream.connection.eventLoop.makeFailedFuture(error)
                }
                let config: [String: Any] = [
                    "name": streamName, "subjects": [subjectPrefix + ">"], "retention": "limits",
                    "max_consumers": -1, "max_msgs": -1, "max_bytes": -1, "max_age": 0,
                    "max_msgs_per_subject": 1, "max_msg_size": -1, "discard": "new", "storage": "file",
                    "num_replicas": replicas, "duplicate_window": 120_000_000_000, "allow_rollup_hdrs": true,
                    "deny_delete": true, "deny_purge": false, "allow_direct": true,
                ]
                return jetStream.call("STREAM.CREATE.\(streamName)", config).map { _ in () }
            }
    }

    /// Stores `value` under `key` whatever is there; returns the new revision.
    public func put(_ key: String, _ value: [UInt8], headers: NATSHeaders? = nil) -> EventLoopFuture<UInt64> {
        jetStream.publish(subject: subjectPrefix + key, headers: headers, payload: value)
    }

    /// Stores `value` only if `revision` is the key's latest (0: the key has never been written).
    public func update(
        _ key: String,
        _ value: [UInt8],
        revision: UInt64,
        headers: NATSHeaders? = nil
    )
        -> EventLoopFuture<UInt64>
    {
        var all = headers ?? NATSHeaders()
        all.append("Nats-Expected-Last-Subject-Sequence", String(revision))
        return jetStream.publish(subject: subjectPrefix + key, headers: all, payload: value).flatMapErrorThrowing {
            error in
            if let error = error as? JetStreamError, error.isWrongLastSequence {
                throw KeyValueError.wrongRevision(key)
            }
            throw error
        }
    }

    /// Stores `value` only if the key holds no live value: never written, or deleted (as nats.go
    /// does: a delete marker's revision is then the expected one). Throws `exists` otherwise.
    public func create(_ key: String, _ value: [UInt8], headers: NATSHeaders? = nil) -> EventLoopFuture<UInt64> {
        update(key, value, revision: 0, headers: headers).flatMapError { error in
            guard case KeyValueError.wrongRevision = error else {
                return jetStream.connection.eventLoop.makeFailedFuture(error)
            }
            return get(key).flatMap { entry in
                guard let entry, entry.operation != .put else {
                    return jetStream.connection.eventLoop.makeFailedFuture(KeyValueError.exists(key))
                }
                return update(key, value, revision: entry.revision, headers: headers).flatMapErrorThrowing { error in
                    if case KeyValueError.wrongRevision = error { throw KeyValueError.exists(key) }
                    throw error
                }
            }
        }
    }

    /// Writes a delete marker (`KV-Operation: DEL`, with `headers` beside it), only if
    /// `revision` (when given) is the key's latest.
    public func delete(_ key: String, revision: UInt64? = nil, headers: NATSHeaders? = nil) -> EventLoopFuture<UInt64> {
        var all = headers ?? NATSHeaders()
        all.append("KV-Operation", "DEL")
        if let revision { return update(key, [], revision: revision, headers: all) }
        return put(key, [], headers: all)
    }

    /// The key's latest entry (a delete marker included), or nil if it was never written.
    public func get(_ key: String) -> EventLoopFuture<KeyValueEntry?> {
        jetStream.call("STREAM.MSG.GET.\(streamName)", ["last_by_subj": subjectPrefix + key])
            .map { answer -> KeyValueEntry? in
                guard let message = answer["message"] as? [String: Any],
                    let sequence = (message["seq"] as? NSNumber)?.uint64Value
                else { return nil }
                let data = (message["data"] as? String).flatMap { Data(base64Encoded: $0) }.map { Array($0) } ?? []
                let headers = (message["hdrs"] as? String).flatMap { Data(base64Encoded: $0) }.flatMap {
                    NATSHeaders.parse(Array($0))
                }
                return KeyValueEntry(
                    key: key,
                    value: data,
                    revision: sequence,
                    operation: KeyValueEntry.operation(from: headers),
                    headers: headers
                )
            }
            .flatMapErrorThrowing { error in
                if let error = error as? JetStreamError, error.errorCode == JetStreamError.noMessageFound {
                    return nil
                }
                throw error
            }
    }
}
