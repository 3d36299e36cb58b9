/// A NATS header block (`NATS/1.0[ status[ description]]` then `Name: value` lines), as `HPUB`
/// sends and `HMSG` delivers it. Names keep their case; lookups ignore it, as in nats.go.
public struct NATSHeaders: Sendable, Equatable {
    /// The status code of a status message (`NATS/1.0 503`), nil for plain headers.
    public var status: Int?
    public var statusDescription: String?
    public private(set) var fields: [(name: String, value: String)] = []

    public init(_ fields: [(String, String)] = []) {
        for (name, value) in fields { self.fields.append((name, value)) }
    }

    public subscript(name: String) -> String? {
        let lowered = name.lowercased()
        return fields.first { $0.name.lowercased() == lowered }?.value
    }

    public mutating func append(_ name: String, _ value: String) { fields.append((name, value)) }

    public static func == (lhs: NATSHeaders, rhs: NATSHeaders) -> Bool {
        lhs.status == rhs.status && lhs.statusDescription == rhs.statusDescription
            && lhs.fields.map(\.name) == rhs.fields.map(\.name) && lhs.fields.map(\.value) == rhs.fields.map(\.value)
    }

    /// The block's bytes, ending with the empty line.
    public var encoded: [UInt8] {
        var text = "NATS/1.0"
        if let status { text += " \(status)" + (statusDescription.map { " " + $0 } ?? "") }
        text += "\r\n"
        for field in fields { text += "\(field.name): \(field.value)\r\n" }
        text += "\r\n"
        return Array(text.utf8)
    }

    /// Parses a header block; nil if it does not start with `NATS/1.0`.
    public static func parse(_ bytes: some Collection<UInt8>) -> NATSHeaders? {
        guard let text = String(validating: Array(bytes), as: UTF8.self) else { return nil }
        var lines = text.split(separator: "\r\n", omittingEmptySubsequences: true).makeIterator()
        guard let first = lines.next(), first.hasPrefix("NATS/1.0") else { return nil }
        var headers = NATSHeaders()
        let statusPart = first.dropFirst("NATS/1.0".count).drop { $0 == " " }
        if !statusPart.isEmpty {
            let pieces = statusPart.split(separator: " ", maxSplits: 1)
            headers.status = Int(pieces[0])
            if pieces.count > 1 { headers.statusDescription = String(pieces[1]) }
        }
        while let line = lines.next() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let name = line[..<colon].trimmingCharacters(in: " ")
            let value = line[line.index(after: colon)...].trimmingCharacters(in: " ")
            headers.append(name, value)
        }
        return headers
    }
}

extension Substring {
    fileprivate func trimmingCharacters(in character: Character) -> String {
        String(drop { $0 == character }.reversed().drop { $0 == character }.reversed())
    }
}
