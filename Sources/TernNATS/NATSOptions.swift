import NIOCore

/// One server of the list a connection tries in turn.
public struct NATSServerAddress: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Whether the URL said `tls://`: this server only with TLS.
    public var requiresTLS = false

    /// `nats://host:port`, `tls://host:port`, `host:port` or `host` (port 4222).
    public init?(url: String) {
        var rest = Substring(url)
        if let scheme = rest.range(of: "://") {
            switch rest[..<scheme.lowerBound] {
            case "nats": break
            case "tls": requiresTLS = true
            default: return nil
            }
            rest = rest[scheme.upperBound...]
        }
        if let at = rest.lastIndex(of: "@") { rest = rest[rest.index(after: at)...] }
        if let slash = rest.firstIndex(of: "/") { rest = rest[..<slash] }
        guard !rest.isEmpty else { return nil }
        if let colon = rest.lastIndex(of: ":") {
            guard let port = Int(rest[rest.index(after: colon)...]), (1...65535).contains(port) else { return nil }
            host = String(rest[..<colon])
            self.port = port
        } else {
            host = String(rest)
            port = 4222
        }
        guard !host.isEmpty else { return nil }
    }

    public var description: String { "\(requiresTLS ? "tls" : "nats")://\(host):\(port)" }

    /// A comma-separated list of server URLs; nil if any is malformed or the list is empty.
    public static func list(_ text: String) -> [NATSServerAddress]? {
        let parsed = text.split(separator: ",").map { NATSServerAddress(url: $0.trimmingCharacters()) }
        guard !parsed.isEmpty, parsed.allSatisfy({ $0 != nil }) else { return nil }
        return parsed.compactMap { $0 }
    }
}

/// How a `NATSConnection` connects, authenticates and notices a dead server.
public struct NATSOptions: Sendable {
    public var servers: [NATSServerAddress]
    /// Client name shown by the server's monitoring.
    public var name = "tern"
    public var user: String?
    public var password: String?
    public var token: String?
    /// Pause between two connection attempts (after each server of the list was tried once, twice that).
    public var reconnectWait: TimeAmount = .milliseconds(200)
    public var connectTimeout: TimeAmount = .seconds(2)
    /// A PING goes out this often; `maxPingsOut` unanswered ones close the connection.
    public var pingInterval: TimeAmount = .seconds(2)
    public var maxPingsOut = 2
    /// Whether the server delivers this connection's own publishes to its subscriptions.
    public var echo = false
    /// TLS (`NATSTLS.makeContext`): used with every server when set; nil still upgrades a server
    /// whose INFO requires TLS, checking it against the system's trust roots.
    public var tls: NATSTLSContext?

    public init(servers: [NATSServerAddress]) { self.servers = servers }

    /// The CONNECT body.
    func connectJSON(overTLS: Bool) -> String {
        var fields = [
            "\"verbose\":false", "\"pedantic\":false", "\"tls_required\":\(overTLS)", "\"lang\":\"swift\"",
            "\"version\":\"0.1.0\"", "\"protocol\":1", "\"headers\":true", "\"no_responders\":true",
            "\"echo\":\(echo)", "\"name\":\(Self.quoted(name))",
        ]
        if let user { fields.append("\"user\":\(Self.quoted(user))") }
        if let password { fields.append("\"pass\":\(Self.quoted(password))") }
        if let token { fields.append("\"auth_token\":\(Self.quoted(token))") }
        return "{" + fields.joined(separator: ",") + "}"
    }

    static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}

extension Substring {
    fileprivate func trimmingCharacters() -> String {
        String(drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
    }
}
