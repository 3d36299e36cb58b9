import Synchronization
import TernAuth
import TernWire

/// The broker core: services, streams, publishing, expiry and the hand-off to reader groups.
///
/// Thread-safe; called from reactor threads (data port) and the control API alike. It opens no
/// sockets and no files: persistence goes through the `BrokerStore` it is given.
public final class Broker: Sendable {
    /// The limits in force; `reload(limits:)` may change some of them while serving.
    public var limits: BrokerLimits { currentLimits.withLock { $0 } }
    private let currentLimits: Locked<BrokerLimits>
    /// `limits.maxPayload`, readable on the publish path without a lock.
    private let maxPayload: Atomic<Int>
    public let accountSid: String
    public let defaultServiceSid: String
    let registry: StreamRegistry
    /// Cluster mode: the backbone (`TernCluster`); nil on a single node.
    public let cluster: (any ClusterLink)?
    let services: Locked<[String: SyncService]>
    let expiries = ExpiryQueue()
    let store: (any BrokerStore)?
    /// API keys and the root their secrets derive from (`Broker+Keys.swift`).
    let keyRing: KeyRing
    /// Streams whose ring is kept for resumes with no reader, freed by `releaseIdleRings`.
    private let idleRings = Locked<[ObjectIdentifier: BrokerStream]>([:])
    /// Control-plane changes (create, update, delete, expiry) happen one at a time, each with its
    /// store write: a check and the write that depends on it cannot interleave with another
    /// change. Without it an update racing a delete stored the deleted stream again, and a
    /// create's name could be deleted before its row was inserted. Never taken on the message
    /// path. Lock order: `changes`, then the registry, service and stream locks, then a reactor
    /// thread's inbox (see ARCHITECTURE.md). (It guards an `Int`, not `()`: Thread Sanitizer
    /// reported the zero-sized value's inout access as a race with the unlocked read of the lock.)
    private let changes = Locked(0)
    /// Set once by `installReaderGroups` before any traffic; read lock-free afterwards.
    nonisolated(unsafe) private var readerGroups: [any StreamReaderGroup] = []

    /// Counters for status lines and metrics.
    public let messagesPublished = Atomic<UInt64>(0)
    public let messagesRateLimited = Atomic<UInt64>(0)
    public let streamsExpired = Atomic<UInt64>(0)
    /// Cluster mode: messages appended to lanes, published on other nodes.
    public let messagesFromBackbone = Atomic<UInt64>(0)

    /// - Parameters:
    ///   - services: the stored services; the default service is created if it is not among them.
    ///   - keys: the stored API keys; `keyRoot` the secret their secrets derive from (`KeySecret`).
    public init(
        limits: BrokerLimits,
        accountSid: String,
        defaultServiceSid: String,
        services stored: [SyncService] = [],
        keys: [APIKey] = [],
        keyRoot: [UInt8] = KeySecret.generateRoot(),
        store: (any BrokerStore)? = nil,
        cluster: (any ClusterLink)? = nil,
        now: UnixTime = .now()
    ) throws(BrokerError) {
        registry = StreamRegistry(cluster: cluster)
        self.cluster = cluster
        keyRing = KeyRing(root: keyRoot, keys: keys)
        currentLimits = Locked(limits)
        maxPayload = Atomic(limits.maxPayload)
        self.accountSid = accountSid
        self.defaultServiceSid = defaultServiceSid
        self.store = store
        var bySid: [String: SyncService] = [:]
        for service in stored { bySid[service.sid] = service }
        if bySid[defaultServiceSid] == nil {
            let service = SyncService(
                sid: defaultServiceSid,
                friendlyName: "default",
                accountSid: accountSid,
                dateCreated: now,
                dateUpdated: now
            )
            do { try store?.insertService(service) } catch { throw Broker.storeError(error) }
            bySid[defaultServiceSid] = service
        }
        services = Locked(bySid)
    }

    /// Registers the reader groups (reactor threads), at most 64. Call once, before serving.
    public func installReaderGroups(_ groups: [any StreamReaderGroup]) {
        precondition(readerGroups.isEmpty && groups.count <= 64, "reader groups are installed once, at most 64")
        readerGroups = groups
    }

    // MARK: Services

    public func service(sid: String) -> SyncService? { services.withLock { $0[sid] } }

    /// All services, oldest first (ties by sid).
    public func allServices() -> [SyncService] {
        services.withLock { Array($0.values) }.sorted {
            ($0.dateCreated, $0.sid) < ($1.dateCreated, $1.sid)
        }
    }

    public func createService(friendlyName: String?, now: UnixTime = .now()) throws(BrokerError) -> SyncService {
        let service = SyncService(
            sid: Sid.generate(.service),
            friendlyName: friendlyName,
            accountSid: accountSid,
            dateCreated: now,
            dateUpdated: now
        )
        try changes.withLock { _ throws(BrokerError) in
            do { try store?.insertService(service) } catch { throw Broker.storeError(error) }
            services.withLock { $0[service.sid] = service }
        }
        return service
    }

    public func updateService(
        sid: String,
        friendlyName: String?,
        now: UnixTime = .now()
    ) throws(BrokerError) -> SyncService {
        try changes.withLock { _ throws(BrokerError) -> SyncService in
            guard var service = service(sid: sid) else { throw .serviceNotFound(sid) }
            service.friendlyName = friendlyName
            service.dateUpdated = now
            let stored: Bool
            do { stored = try store?.updateService(service) ?? true } catch { throw Broker.storeError(error) }
            guard stored else { throw .serviceNotFound(sid) }
            services.withLock { $0[sid] = service }
            return service
        }
    }

    /// Deletes a service and every stream in it (their subscribers get STREAM_ENDED).
    public func deleteService(sid: String) throws(BrokerError) {
        try changes.withLock { _ throws(BrokerError) in
            guard service(sid: sid) != nil else { throw .serviceNotFound(sid) }
            do { try store?.deleteService(sid: sid) } catch { throw Broker.storeError(error) }
            services.withLock { _ = $0.removeValue(forKey: sid) }
            for stream in registry.streams(serviceSid: sid) { endStream(stream, reason: .deleted) }
        }
    }

    /// The error a store's refusal becomes: its own `BrokerError` (a cluster store's
    /// `uniqueNameTaken` or `backboneUnavailable`) or `storageFailed`.
    static func storeError(_ error: any Error) -> BrokerError {
        (error as? BrokerError) ?? .storageFailed("\(error)")
    }

    /// Runs a control-plane change under `changes` (one at a time, with its store write).
    func withChanges<Result>(_ body: () throws(BrokerError) -> Result) throws(BrokerError) -> Result {
        try changes.withLock { _ throws(BrokerError) -> Result in try body() }
    }

    /// Calls `body` for every installed reader group.
    func forEachReaderGroup(_ body: (any StreamReaderGroup) -> Void) {
        for group in readerGroups { body(group) }
    }

    private func requireService(_ sid: String) throws(BrokerError) {
        guard service(sid: sid) != nil else { throw .serviceNotFound(sid) }
    }

    // MARK: Streams

    public var streamCount: Int { registry.count }

    /// Creates a stream (REST `POST …/Streams`) and stores it before returning.
    /// - Parameters:
    ///   - ttl: seconds until the stream expires; nil or 0 for never.
    public func createStream(
        serviceSid: String,
        uniqueName: String?,
        ttl: Int?,
        createdBy: String = "system",
        now: UnixTime = .now()
    ) throws(BrokerError) -> BrokerStream {
        if let uniqueName { try validateUniqueName(uniqueName) }
        let expires = try expiry(ttl: ttl, now: now)
        return try changes.withLock { _ throws(BrokerError) -> BrokerStream in
            try requireService(serviceSid)
            let stream = try registry.create(
                serviceSid: serviceSid,
                accountSid: accountSid,
                uniqueName: uniqueName,
                createdBy: createdBy,
                now: now,
                expires: expires,
                rateLimit: newRateLimit()
            )
            do {
                try store?.insertStream(stream.record)
            } catch {
                // Visible for a moment (a SUBSCRIBE may have found it): end it as deleted.
                endStream(stream, reason: .deleted)
                throw Broker.storeError(error)
            }
            if let expires { expiries.schedule(stream, at: expires) }
            return stream
        }
    }

    /// Puts stored streams back at start. Streams that expired while the daemon was down are
    /// deleted from the store instead. Returns how many were restored and how many expired.
    public func restore(
        _ records: [StreamRecord],
        now: UnixTime = .now()
    ) throws(BrokerError) -> (restored: Int, expired: Int) {
        var expired: [String] = []
        var restored = 0
        for record in records.sorted(by: { $0.creationIndex < $1.creationIndex }) {
            if let expires = record.dateExpires, expires <= now {
                expired.append(record.sid)
                continue
            }
            guard service(sid: record.serviceSid) != nil else {
                throw .storageFailed("stream \(record.sid) belongs to unknown service \(record.serviceSid)")
            }
            let stream = try registry.create(
                serviceSid: record.serviceSid,
                accountSid: record.accountSid,
                uniqueName: record.uniqueName,
                createdBy: record.createdBy,
                now: now,
                expires: record.dateExpires,
                rateLimit: newRateLimit(),
                restoring: record
            )
            if let expires = record.dateExpires { expiries.schedule(stream, at: expires) }
            restored += 1
        }
        if !expired.isEmpty {
            do { try store?.deleteStreams(sids: expired) } catch { throw Broker.storeError(error) }
        }
        return (restored, expired.count)
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
    /// `<ServiceSid>/<unique name>` (protocol.md §4.3).
    public func stream(named name: String) throws(BrokerError) -> BrokerStream {
        try stream(at: address(of: name))
    }

    /// Reads a data-port stream name without looking it up. Bare unique names are in
    /// `bareNamesIn` (an Access Token's service), else in the default service. The name after any
    /// service prefix must be 1 to 320 Unicode scalars (`invalidUniqueName`, INVALID_STREAM_NAME);
    /// the prefix does not count.
    public func address(of name: String, bareNamesIn bareService: String? = nil) throws(BrokerError) -> StreamAddress {
        if Sid.looksLikeSid(name) { return .sid(name) }
        var serviceSid = bareService ?? defaultServiceSid
        var key = Substring(name)
        // The first "/" byte, even where a combining mark follows it.
        if let slash = name.utf8.firstIndex(of: UInt8(ascii: "/")), Sid.isSid(name[..<slash], of: .service) {
            serviceSid = String(name[..<slash])
            key = name[name.utf8.index(after: slash)...]
        }
        let scalars = key.unicodeScalars.count
        guard scalars >= 1 else { throw .invalidUniqueName("the stream name is empty") }
        guard scalars <= limits.maxUniqueNameLength else {
            throw .invalidUniqueName(
                "the stream name has \(scalars) characters, more than \(limits.maxUniqueNameLength)"
            )
        }
        return .inService(serviceSid: serviceSid, key: String(key))
    }

    /// The stream at an address; `streamNotFound` or `serviceNotFound` if there is none.
    public func stream(at address: StreamAddress) throws(BrokerError) -> BrokerStream {
        switch address {
        case .sid(let sid):
            guard let stream = registry.stream(sid: sid) else { throw .streamNotFound(sid) }
            return stream
        case .inService(let serviceSid, let key):
            return try stream(serviceSid: serviceSid, key: key)
        }
    }

    public func stream(id: UInt32) -> BrokerStream? { registry.stream(id: id) }

    /// The service's streams in creation order (a stable order for paging).
    public func streams(serviceSid: String) throws(BrokerError) -> [BrokerStream] {
        try requireService(serviceSid)
        return registry.streams(serviceSid: serviceSid)
    }

    /// Changes a stream's Ttl (REST `POST …/Streams/{Sid}`) and stores it.
    /// Throws `streamNotFound` if the stream was deleted or expired meanwhile.
    public func updateStream(_ stream: BrokerStream, ttl: Int?, now: UnixTime = .now()) throws(BrokerError) {
        let expires = try expiry(ttl: ttl, now: now)
        try changes.withLock { _ throws(BrokerError) in
            guard stream.ended == nil, registry.stream(id: stream.id) === stream else {
                throw .streamNotFound(stream.sid)
            }
            let before = stream.record
            stream.setExpiry(expires, updated: now)
            let stored: Bool
            do {
                stored = try store?.updateStream(stream.record) ?? true
            } catch {
                stream.setExpiry(before.dateExpires, updated: before.dateUpdated)
                throw Broker.storeError(error)
            }
            guard stored else {
                stream.setExpiry(before.dateExpires, updated: before.dateUpdated)
                throw .streamNotFound(stream.sid)
            }
            if let expires { expiries.schedule(stream, at: expires) }
        }
    }

    /// Removes a stream and tells every reader group that holds it; subscribers get STREAM_ENDED
    /// after the messages published before. False if the stream was already gone.
    @discardableResult
    public func deleteStream(_ stream: BrokerStream, reason: StreamEndReason = .deleted) throws(BrokerError) -> Bool {
        try changes.withLock { _ throws(BrokerError) -> Bool in
            guard registry.stream(id: stream.id) === stream else { return false }
            do { try store?.deleteStream(sid: stream.sid) } catch { throw Broker.storeError(error) }
            return endStream(stream, reason: reason)
        }
    }

    /// Takes the stream out of the registry and tells its reader groups. No store access.
    @discardableResult
    func endStream(_ stream: BrokerStream, reason: StreamEndReason) -> Bool {
        guard registry.remove(stream) else { return false }
        // Lanes end first, silently: their subscribers learn of the end from the stream's STREAM_ENDED.
        for lane in stream.lanes(removing: true) where lane.markEnded(reason) {
            forEachGroup(in: lane.memberGroups) { $0.streamEnded(lane) }
        }
        guard stream.markEnded(reason) else { return false }
        forEachGroup(in: stream.memberGroups) { $0.streamEnded(stream) }
        return true
    }

    // MARK: Resume retention

    /// Reader group `group` stops reading `stream`. The last reader's leaving keeps the ring for
    /// `resumeRetentionSeconds` (unless that is 0) so a subscriber coming back can resume from it.
    public func removeReader(_ stream: BrokerStream, group: Int) {
        let retain = limits.resumeRetentionSeconds > 0
        if stream.removeReader(group: group, retain: retain) {
            idleRings.withLock { $0[ObjectIdentifier(stream)] = stream }
        }
    }

    /// A shared-memory reader of `stream` leaves; the last reader of any kind keeps the ring for
    /// resumes as `removeReader` does.
    public func removeMappedReader(_ stream: BrokerStream) {
        let retain = limits.resumeRetentionSeconds > 0
        if stream.removeMappedReader(retain: retain) {
            idleRings.withLock { $0[ObjectIdentifier(stream)] = stream }
        }
    }

    /// Frees the rings kept for resumes whose retention has run out; returns how many were freed
    /// or taken back into use. The daemon calls this with the expiry pass.
    @discardableResult
    public func releaseIdleRings(now: ContinuousClock.Instant = .now) -> Int {
        let retention = limits.resumeRetentionSeconds
        let cutoff = now - .milliseconds(Int64(retention * 1000))
        return idleRings.withLock { rings in
            let done = rings.filter { $0.value.releaseIdleRing(idleBefore: cutoff) }
            for key in done.keys { rings[key] = nil }
            return done.count
        }
    }

    /// Rings kept for resumes with no reader now (for metrics).
    public var idleRingCount: Int { idleRings.withLock { $0.count } }

    // MARK: Expiry

    /// Deletes every stream whose `date_expires` has passed (subscribers get STREAM_ENDED with
    /// reason EXPIRED). Returns how many. The daemon calls this a few times a second; each call
    /// only looks at the front of the expiry heap.
    @discardableResult
    public func expireDue(now: UnixTime = .now()) -> Int {
        changes.withLock { _ in expireDueLocked(now: now) }
    }

    func expireDueLocked(now: UnixTime) -> Int {
        let due = expiries.popDue(now: now).filter { entry in
            // Skip entries made stale by a Ttl update or a delete.
            entry.stream.ended == nil && entry.stream.dateExpires == entry.expires
                && registry.stream(id: entry.stream.id) === entry.stream
        }
        guard !due.isEmpty else { return 0 }
        do {
            try store?.deleteStreams(sids: due.map(\.stream.sid))
        } catch {
            // Try again on the next call rather than lose the expiry.
            for entry in due { expiries.schedule(entry.stream, at: entry.expires) }
            return 0
        }
        var count = 0
        for entry in due where endStream(entry.stream, reason: .expired) { count += 1 }
        streamsExpired.add(UInt64(count), ordering: .relaxed)
        return count
    }

    /// When the next stream expires, if any does.
    public var nextExpiry: UnixTime? { expiries.next }

    // MARK: Validation

    private func validateUniqueName(_ name: String) throws(BrokerError) {
        if name.isEmpty { throw .invalidUniqueName("must not be empty") }
        // Characters are Unicode scalars, as on the data port (protocol.md §4.3).
        if name.unicodeScalars.count > limits.maxUniqueNameLength {
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

    func newRateLimit() -> TokenBucket? {
        let limits = self.limits
        return limits.publishRatePerSecond > 0
            ? TokenBucket(rate: limits.publishRatePerSecond, burst: limits.publishBurst) : nil
    }

    /// Applies the limits that can change while serving (SIGHUP): max payload and the publish
    /// rate, which every existing stream picks up at once. The ring size applies to rings created
    /// from now on. The unique-name and Ttl limits are Twilio's and stay.
    public func reload(limits new: BrokerLimits) throws(BrokerError) {
        let problems = new.problems()
        guard problems.isEmpty else { throw .invalidLimits(problems.joined(separator: "; ")) }
        currentLimits.withLock { $0 = new }
        maxPayload.store(new.maxPayload, ordering: .relaxed)
        for stream in registry.all { stream.setRateLimit(newRateLimit()) }
    }

    // MARK: Publishing

    /// Checks a payload against the size limit and the JSON-object rule.
    public func validate(payload: RawSpan) throws(BrokerError) {
        let limit = maxPayload.load(ordering: .relaxed)
        guard payload.byteCount <= limit else {
            throw .payloadTooLarge(size: payload.byteCount, limit: limit)
        }
        guard JSONObjectValidator.isObject(payload) else { throw .invalidPayload }
    }

    /// Validates and publishes one message; returns its sequence.
    ///
    /// The MESSAGE frame is encoded once, into the ring. With `wake` false the caller promises to
    /// call `wakeReaders(of:)` itself (the data port does so once per loop turn).
    public func publish(
        to stream: BrokerStream,
        payload: RawSpan,
        wake: Bool = true
    ) throws(BrokerError)
        -> UInt64
    {
        try validate(payload: payload)
        let appended = payload.withUnsafeBytes { bytes in
            withUnsafePointer(to: bytes) { stream.append(UnsafeBufferPointer(start: $0, count: 1), writer: nil) }
        }
        guard let appended else { throw .streamNotFound(stream.sid) }
        guard appended.accepted == 1 else {
            messagesRateLimited.add(1, ordering: .relaxed)
            throw .rateLimited(perSecond: currentLimits.withLock { $0.publishRatePerSecond })
        }
        messagesPublished.add(1, ordering: .relaxed)
        if wake { wakeReaders(of: stream) }
        return appended.first
    }

    /// Publishes a run of payloads to one stream under one lock: the data port's path for
    /// consecutive PUBLISH frames, where the per-message lock and bookkeeping would cost more than
    /// the copy. Each payload must have passed `validate(payload:)`. Returns the first sequence
    /// (the others follow it) and how many were accepted: when the stream's rate limit refuses
    /// one, it and the rest are neither published nor counted; the caller publishes them singly
    /// (`publish(to:payload:)`) to get each one's answer. Readers are not woken: call `wakeReaders(of:)`.
    ///
    /// `writer` is the calling thread's `RingWriter`, where the run is encoded before it is copied
    /// into the ring.
    public func publish(
        to stream: BrokerStream,
        validatedRun run: PayloadRun,
        writer: RingWriter? = nil
    ) throws(BrokerError) -> (firstSequence: UInt64, accepted: Int) {
        let appended = run.withUnsafePayloads(first: run.count) { stream.append($0, writer: writer) }
        guard let appended else { throw .streamNotFound(stream.sid) }
        let (first, accepted) = appended
        messagesPublished.add(UInt64(accepted), ordering: .relaxed)
        return (first, accepted)
    }

    /// Tells each reader group with subscribers that the stream has new frames, once per dirty
    /// period: only groups whose dirty bit this call sets are called.
    public func wakeReaders(of stream: BrokerStream) {
        forEachGroup(in: stream.markDirty()) { $0.streamHasNewFrames(stream) }
        stream.wakeMappedReaders()
    }

    func forEachGroup(in mask: UInt64, _ body: (any StreamReaderGroup) -> Void) {
        var remaining = mask
        while remaining != 0 {
            let index = remaining.trailingZeroBitCount
            remaining &= remaining - 1
            if index < readerGroups.count { body(readerGroups[index]) }
        }
    }
}
