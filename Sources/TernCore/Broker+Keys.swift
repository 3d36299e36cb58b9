import TernAuth

/// API keys: create (the secret is returned once), read, rename, delete. A delete revokes the key
/// at once: every reactor thread is told, and its connections authenticated by the key end.
extension Broker {
    /// Twilio's limit on a key's FriendlyName.
    public static let maxKeyFriendlyNameLength = 64

    /// Creates a key and stores it before returning; the secret exists only in the answer.
    public func createKey(
        friendlyName: String?,
        now: UnixTime = .now()
    ) throws(BrokerError) -> (key: APIKey, secret: String) {
        try validateKeyName(friendlyName)
        let sid = Sid.generate(.apiKey)
        let secret = KeySecret.secret(root: keyRing.root, keySid: sid)
        let salt = KeySecret.generateSalt()
        let key = APIKey(
            sid: sid,
            friendlyName: friendlyName,
            accountSid: accountSid,
            dateCreated: now,
            dateUpdated: now,
            secretSalt: salt,
            secretHash: KeySecret.hash(secret: secret, salt: salt)
        )
        try withChanges { () throws(BrokerError) in
            do { try store?.insertKey(key) } catch { throw Broker.storeError(error) }
            keyRing.insert(key)
        }
        return (key, secret)
    }

    public func key(sid: String) -> APIKey? { keyRing.key(sid: sid) }

    /// Every key, oldest first (ties by sid).
    public func allKeys() -> [APIKey] { keyRing.all() }

    public func updateKey(sid: String, friendlyName: String?, now: UnixTime = .now()) throws(BrokerError) -> APIKey {
        try validateKeyName(friendlyName)
        return try withChanges { () throws(BrokerError) -> APIKey in
            guard var key = keyRing.key(sid: sid) else { throw .keyNotFound(sid) }
            key.friendlyName = friendlyName
            key.dateUpdated = now
            let stored: Bool
            do { stored = try store?.updateKey(key) ?? true } catch { throw Broker.storeError(error) }
            guard stored else { throw .keyNotFound(sid) }
            keyRing.insert(key)
            return key
        }
    }

    /// Deletes a key: tokens it signed are refused from now on, and the connections they opened
    /// are ended (ERROR `KEY_REVOKED`) by their reactor threads within a loop turn.
    public func deleteKey(sid: String) throws(BrokerError) {
        try withChanges { () throws(BrokerError) in
            guard keyRing.key(sid: sid) != nil else { throw .keyNotFound(sid) }
            do { try store?.deleteKey(sid: sid) } catch { throw Broker.storeError(error) }
            keyRing.remove(sid: sid)
            forEachReaderGroup { $0.keyRevoked(sid) }
        }
    }

    /// The secret of an existing key (for verifying its tokens), or nil.
    public func keySecret(sid: String) -> String? {
        guard keyRing.key(sid: sid) != nil else { return nil }
        return KeySecret.secret(root: keyRing.root, keySid: sid)
    }

    /// Whether HTTP Basic `sid:secret` names an existing key and its secret (constant time).
    public func keyAccepts(sid: String, secret: String) -> Bool {
        guard let key = keyRing.key(sid: sid) else { return false }
        return KeySecret.matches(secret, salt: key.secretSalt, hash: key.secretHash)
    }

    private func validateKeyName(_ name: String?) throws(BrokerError) {
        if let name, name.count > Self.maxKeyFriendlyNameLength {
            throw .invalidFriendlyName("FriendlyName must be at most \(Self.maxKeyFriendlyNameLength) characters")
        }
    }
}

/// The keys in force, and the root their secrets derive from.
final class KeyRing: Sendable {
    let root: [UInt8]
    private let keys: Locked<[String: APIKey]>

    init(root: [UInt8], keys: [APIKey]) {
        self.root = root
        var bySid: [String: APIKey] = [:]
        for key in keys { bySid[key.sid] = key }
        self.keys = Locked(bySid)
    }

    func key(sid: String) -> APIKey? { keys.withLock { $0[sid] } }
    func insert(_ key: APIKey) { keys.withLock { $0[key.sid] = key } }
    func remove(sid: String) { keys.withLock { _ = $0.removeValue(forKey: sid) } }

    func all() -> [APIKey] {
        keys.withLock { Array($0.values) }.sorted { ($0.dateCreated, $0.sid) < ($1.dateCreated, $1.sid) }
    }
}
