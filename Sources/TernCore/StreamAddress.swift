/// What a data-port stream name addresses (protocol.md §4.3), read before any lookup.
public enum StreamAddress: Equatable, Sendable {
    /// A stream sid, looked up in every service.
    case sid(String)
    /// A unique name, or a stream sid, within one service.
    case inService(serviceSid: String, key: String)

    /// The sid and unique name a grant pattern is matched against when no such stream exists:
    /// what the address itself says (a sid names no unique name).
    public var grantKeys: (streamSid: String, uniqueName: String?) {
        switch self {
        case .sid(let sid): return (sid, nil)
        case .inService(_, let key): return Sid.looksLikeSid(key) ? (key, nil) : ("", key)
        }
    }
}
