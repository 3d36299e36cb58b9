import Synchronization
import TernWire

/// The broker core: services, streams, publishing and the hand-off to reader groups.
///
/// Thread-safe; called from reactor threads (data port) and the control API alike. It opens no
/// sockets and no files.
public final class Broker: Sendable {
    public let limits: BrokerLimits
    public let accountSid: String
    public let defaultServiceSid: String
    private let registry = StreamRegistry()
    private let services: Mutex<[String: SyncService]>
    /// Set once by `installReaderGroups` before any traffic; read lock-free afterwards.
    nonisolated(unsafe) private var readerGroups: [any StreamReaderGroup] = []

    /// Counters for status lines and metrics.
    public let messagesPublished = Atomic<UInt64>(0)

    public init(limits: BrokerLimits, accountSid: String, defaultServiceSid: String, now: UnixTime = .now()) {
        self.limits = limits
        self.accountSid = accountSid
        self.defaultServiceSid = defaultServiceSid
        services = Mutex([
            defaultServiceSid: SyncService(
                sid: defaultServiceSid, friendlyName: "default", accountSid: accountSid, dateCreated: now,
                dateUpdated: now)
        ])
    }

    /// Registers the reader groups (reactor threads), at most 64. Call once, before serving.
    public func installReaderGroups(_ groups: [any StreamReaderGroup]) {
        precondition(readerGroups.isEmpty && groups.count <= 64, "reader groups are installed once, at most 64")
        readerGroups = groups
    }

    // MARK: Services

    public func service(sid: String) -> SyncService? { services.withLock { $0[sid] } }

    /// All services, oldest first (the default service is the oldest).
    public func allServices() -> [SyncService] {
        services.withLock { Array($0.values) }.sorted {
            ($0.dateCreated, $0.sid) < ($1.dateCreated, $1.sid)
        }
    }

    private func requireService(_ sid: String) throws(BrokerError) {
        guard service(sid: sid) != nil else { throw .serviceNotFound(sid) }
    }

    // MARK: Streams

    public var streamCount: Int { registry.count }

    /// Creates a stream (REST `POST …/Streams`).
    /// - Parameters:
    ///   - ttl: seconds until the stream expires; nil or 0 for never.
    public func createStream(
        serviceSid: String, uniqueName: String?, ttl: Int?, createdBy: String = "system", now: UnixTime = .now()
    ) throws(BrokerError) -> BrokerStream {
        try requireService(serviceSid)
        if let uniqueName { try validateUniqueName(uniqueName) }
        let expires = try expiry(ttl: ttl, now: now)
        return try registry.create(
            serviceSid: serviceSid, accountSid: accountSid, uniqueName: uniqueName, createdBy: createdBy, now: now,
            expires: expires)
    }

    /// The stream named by `key` (its sid or its unique name) within a service.
    public func stream(serviceSid: String, key: String) throws(BrokerError) -> BrokerStream {
        try requireService(serviceSid)
        if Sid.looksLikeSid(key) {
            if let stream = registry.stream(sid: key), stream.serviceSid == serviceSid { return stream }
        } else if let stream = registry.stream(serviceSid: serviceSid, uniqueName: key) {
            return stream
        }
        throw .streamNotFound(key)
    }

    /// The stream a data-port SUBSCRIBE names: a sid, a unique name in the default service, or
    /// `<ServiceSid>/<unique name>`.
    public func stream(named name: String) throws(BrokerError) -> BrokerStream {
        if Sid.looksLikeSid(name) {
            guard let stream = registry.stream(sid: name) else { throw .streamNotFound(name) }
            return stream
        }
        if let slash = name.firstIndex(of: "/"), Sid.isSid(name[..<slash], of: .service) {
            return try stream(serviceSid: String(name[..<slash]), key: String(name[name.index(after: slash)...]))
        }
        return try stream(serviceSid: defaultServiceSid, key: name)
    }

    public func stream(id: UInt32) -> BrokerStream? { registry.stream(id: id) }

    /// The service's streams in creation order (a stable order for paging).
    public func streams(serviceSid: String) throws(BrokerError) -> [BrokerStream] {
        try requireService(serviceSid)
        return registry.streams(serviceSid: serviceSid)
    }

    /// Changes a stream's Ttl (REST `POST …/Streams/{Sid}`).
    public func updateStream(_ stream: BrokerStream, ttl: Int?, now: UnixTime = .now()) throws(BrokerError) {
        stream.setExpiry(try expiry(ttl: ttl, now: now), updated: now)
    }

    /// Removes a stream and tells every reader group that holds it; subscribers get STREAM_ENDED
    /// after the messages published before. False if the stream was already gone.
    @discardableResult
    public func deleteStream(_ stream: BrokerStream, reason: StreamEndReason = .deleted) -> Bool {
        guard registry.remove(stream), stream.markEnded(reason) else { return false }
        forEachGroup(in: stream.memberMask.load(ordering: .sequentiallyConsistent)) { $0.streamEnded(stream) }
        return true
    }

    private func validateUniqueName(_ name: String) throws(BrokerError) {
        if name.isEmpty { throw .invalidUniqueName("must not be empty") }
        if name.count > limits.maxUniqueNameLength {
            throw .invalidUniqueName("longer than \(limits.maxUniqueNameLength) characters")
        }
        if Sid.looksLikeSid(name) { throw .invalidUniqueName("must not look like a sid") }
    }

    private func expiry(ttl: Int?, now: UnixTime) throws(BrokerError) -> UnixTime? {
        guard let ttl, ttl != 0 else { return nil }
        guard ttl > 0 && ttl <= limits.maxTtlSeconds else {
            throw .invalidTtl("must be between 0 and \(limits.maxTtlSeconds) seconds")
        }
        return now.adding(seconds: ttl)
    }

    // MARK: Publishing

    /// Checks a payload against the size limit and the JSON-object rule.
    public func validate(payload: UnsafeRawBufferPointer) throws(BrokerError) {
        guard payload.count <= limits.maxPayload else {
            throw .payloadTooLarge(size: payload.count, limit: limits.maxPayload)
        }
        guard JSONObjectValidator.isObject(payload) else { throw .invalidPayload }
    }

    /// Validates and publishes one message; returns its sequence.
    ///
    /// The MESSAGE frame is encoded once, into the ring. With `wake` false the caller promises to
    /// call `wakeReaders(of:)` itself (the data port does so once per read batch).
    public func publish(to stream: BrokerStream, payload: UnsafeRawBufferPointer, wake: Bool = true) throws(BrokerError)
        -> UInt64
    {
        try validate(payload: payload)
        guard stream.ended == nil else { throw .streamNotFound(stream.sid) }
        let sequence = stream.append(payload)
        messagesPublished.add(1, ordering: .relaxed)
        if wake { wakeReaders(of: stream) }
        return sequence
    }

    /// Tells each reader group with subscribers that the stream has new frames, once per dirty
    /// period: only groups whose dirty bit this call sets are called.
    public func wakeReaders(of stream: BrokerStream) {
        let delivery = stream.deliveryMask.load(ordering: .sequentiallyConsistent)
        guard delivery != 0 else { return }
        let before = stream.dirtyMask.bitwiseOr(delivery, ordering: .sequentiallyConsistent).oldValue
        forEachGroup(in: delivery & ~before) { $0.streamHasNewFrames(stream) }
    }

    private func forEachGroup(in mask: UInt64, _ body: (any StreamReaderGroup) -> Void) {
        var remaining = mask
        while remaining != 0 {
            let index = remaining.trailingZeroBitCount
            remaining &= remaining - 1
            if index < readerGroups.count { body(readerGroups[index]) }
        }
    }
}
