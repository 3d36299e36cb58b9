import ArgumentParser

/// `HOST:PORT` or `[IPv6]:PORT`, as given to `--data-listen` and `--control-listen`.
struct ListenAddress: ExpressibleByArgument, CustomStringConvertible, Sendable {
    var host: String
    var port: Int

    init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    init?(argument: String) {
        guard let colon = argument.lastIndex(of: ":"), let port = Int(argument[argument.index(after: colon)...]),
            (0...65535).contains(port)
        else { return nil }
        var host = String(argument[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { return nil }
        self.host = host == "localhost" ? "127.0.0.1" : host
        self.port = port
    }

    var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    /// 127.0.0.0/8 and ::1: reachable from this host only.
    var isLoopback: Bool { host.hasPrefix("127.") || host == "::1" }
}

/// A byte count with an optional binary suffix: `4096`, `64K`, `1M`, `1MiB`.
struct ByteCount: ExpressibleByArgument, Sendable, CustomStringConvertible {
    var bytes: Int

    var description: String {
        if bytes >= 1 << 20 && bytes % (1 << 20) == 0 { return "\(bytes >> 20)M" }
        if bytes >= 1 << 10 && bytes % (1 << 10) == 0 { return "\(bytes >> 10)K" }
        return String(bytes)
    }

    var defaultValueDescription: String { description }

    init(_ bytes: Int) { self.bytes = bytes }

    init?(argument: String) {
        var text = argument.uppercased()
        if text.hasSuffix("IB") { text.removeLast(2) } else if text.hasSuffix("B") { text.removeLast() }
        var multiplier = 1
        switch text.last {
        case "K": multiplier = 1 << 10
        case "M": multiplier = 1 << 20
        case "G": multiplier = 1 << 30
        default: break
        }
        if multiplier != 1 { text.removeLast() }
        guard let value = Int(text), value >= 0 else { return nil }
        bytes = value * multiplier
    }
}
