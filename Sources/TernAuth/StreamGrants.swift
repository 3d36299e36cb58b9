/// Tern's per-stream rights: the `tern_streams` grant of an Access Token (protocol.md §4.15).
///
/// Each list holds patterns: a stream sid (`TO…`), an exact unique name, or a prefix ending in
/// `*` (`prices.*` matches every unique name that starts with `prices.`; `*` alone matches
/// every stream). Patterns apply within the token's service. Checked once per SUBSCRIBE, never
/// per message.
public struct StreamGrants: Equatable, Sendable, Codable {
    public var subscribe: [String]
    public var publish: [String]

    public init(subscribe: [String] = [], publish: [String] = []) {
        self.subscribe = subscribe
        self.publish = publish
    }

    /// Most patterns per list; a larger list makes the token malformed.
    public static let maxPatterns = 256

    public enum Operation: Sendable {
        case subscribe
        case publish
    }

    /// Whether `operation` is granted on the stream with this sid and unique name.
    public func allows(_ operation: Operation, streamSid: String, uniqueName: String?) -> Bool {
        let patterns = operation == .subscribe ? subscribe : publish
        return patterns.contains { Self.matches($0, streamSid: streamSid, uniqueName: uniqueName) }
    }

    static func matches(_ pattern: String, streamSid: String, uniqueName: String?) -> Bool {
        if pattern == streamSid { return true }
        guard let uniqueName else { return pattern == "*" }
        if pattern.hasSuffix("*") {
            return uniqueName.utf8.starts(with: pattern.utf8.dropLast())
        }
        return pattern == uniqueName
    }
}

extension StreamGrants {
    enum CodingKeys: String, CodingKey {
        case subscribe, publish
    }

    /// A missing list grants nothing for that operation.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        subscribe = try container.decodeIfPresent([String].self, forKey: .subscribe) ?? []
        publish = try container.decodeIfPresent([String].self, forKey: .publish) ?? []
    }
}
