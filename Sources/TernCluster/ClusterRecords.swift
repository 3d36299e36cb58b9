import Crypto
import Foundation
import TernCore

/// The registry bucket's keys and values: JSON documents, one per service, stream, unique name,
/// API key, node, and the cluster's identity.
///
/// | key | value |
/// | --- | --- |
/// | `identity` | account sid, default service sid, auth token, API key root |
/// | `service.<IS…>` | a service |
/// | `stream.<TO…>` | a stream record (no live state) |
/// | `name.<IS…>.<sha256 hex of the unique name>` | the sid of the stream holding the name (created atomically) |
/// | `key.<SK…>` | an API key's salted secret hash (never the secret) |
/// | `node.<node id>` | a node's heartbeat |
enum ClusterKey {
    static let identity = "identity"
    static func service(_ sid: String) -> String { "service." + sid }
    static func stream(_ sid: String) -> String { "stream." + sid }
    static func key(_ sid: String) -> String { "key." + sid }
    static func node(_ id: String) -> String { "node." + id }

    /// Unique names may hold any character; KV keys may not, so the key carries a digest.
    static func name(serviceSid: String, uniqueName: String) -> String {
        let digest = SHA256.hash(data: Data(uniqueName.utf8))
        return "name.\(serviceSid)."
            + digest.map { byte in
                let hex = String(byte, radix: 16)
                return byte < 16 ? "0" + hex : hex
            }.joined()
    }
}

/// The header on a stream's delete marker that says why it ended (`expired` or `deleted`).
enum ClusterHeader {
    static let endReason = "Tern-End-Reason"
}

struct IdentityDocument: Codable, Equatable {
    var accountSid: String
    var defaultServiceSid: String
    var authToken: String
    var keyRoot: String

    var keyRootBytes: [UInt8] { Data(base64Encoded: keyRoot).map { Array($0) } ?? [] }
}

struct ServiceDocument: Codable {
    var sid: String
    var friendlyName: String?
    var accountSid: String
    var dateCreated: Int64
    var dateUpdated: Int64

    init(_ service: SyncService) {
        sid = service.sid
        friendlyName = service.friendlyName
        accountSid = service.accountSid
        dateCreated = service.dateCreated.milliseconds
        dateUpdated = service.dateUpdated.milliseconds
    }

    var service: SyncService {
        SyncService(
            sid: sid,
            friendlyName: friendlyName,
            accountSid: accountSid,
            dateCreated: UnixTime(milliseconds: dateCreated),
            dateUpdated: UnixTime(milliseconds: dateUpdated)
        )
    }
}

struct StreamDocument: Codable {
    var sid: String
    var serviceSid: String
    var accountSid: String
    var uniqueName: String?
    var createdBy: String
    var dateCreated: Int64
    var dateUpdated: Int64
    var dateExpires: Int64?
    var creationIndex: UInt64

    init(_ record: StreamRecord) {
        sid = record.sid
        serviceSid = record.serviceSid
        accountSid = record.accountSid
        uniqueName = record.uniqueName
        createdBy = record.createdBy
        dateCreated = record.dateCreated.milliseconds
        dateUpdated = record.dateUpdated.milliseconds
        dateExpires = record.dateExpires?.milliseconds
        creationIndex = record.creationIndex
    }

    var record: StreamRecord {
        StreamRecord(
            sid: sid,
            serviceSid: serviceSid,
            accountSid: accountSid,
            uniqueName: uniqueName,
            createdBy: createdBy,
            dateCreated: UnixTime(milliseconds: dateCreated),
            dateUpdated: UnixTime(milliseconds: dateUpdated),
            dateExpires: dateExpires.map { UnixTime(milliseconds: $0) },
            creationIndex: creationIndex
        )
    }
}

struct KeyDocument: Codable {
    var sid: String
    var friendlyName: String?
    var accountSid: String
    var dateCreated: Int64
    var dateUpdated: Int64
    var secretSalt: String
    var secretHash: String

    init(_ key: APIKey) {
        sid = key.sid
        friendlyName = key.friendlyName
        accountSid = key.accountSid
        dateCreated = key.dateCreated.milliseconds
        dateUpdated = key.dateUpdated.milliseconds
        secretSalt = Data(key.secretSalt).base64EncodedString()
        secretHash = Data(key.secretHash).base64EncodedString()
    }

    var key: APIKey {
        APIKey(
            sid: sid,
            friendlyName: friendlyName,
            accountSid: accountSid,
            dateCreated: UnixTime(milliseconds: dateCreated),
            dateUpdated: UnixTime(milliseconds: dateUpdated),
            secretSalt: Data(base64Encoded: secretSalt).map { Array($0) } ?? [],
            secretHash: Data(base64Encoded: secretHash).map { Array($0) } ?? []
        )
    }
}

/// A node's heartbeat, written every `ClusterNode.heartbeatInterval`.
public struct NodeDocument: Codable, Sendable, Equatable {
    public var node: String
    public var control: String
    public var data: String
    public var startedAt: Int64
    public var heartbeatAt: Int64
    public var streams: Int
    public var connections: Int
}

enum ClusterJSON {
    static func encode(_ value: some Encodable) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return (try? encoder.encode(value)).map { Array($0) } ?? []
    }

    static func decode<T: Decodable>(_ type: T.Type, _ bytes: [UInt8]) -> T? {
        try? JSONDecoder().decode(type, from: Data(bytes))
    }
}
