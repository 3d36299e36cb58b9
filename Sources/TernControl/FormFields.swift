/// The fields of an `application/x-www-form-urlencoded` body or of a query string.
///
/// Twilio's REST API takes its parameters this way. Names are case-sensitive, the first of
/// repeated names wins, and unknown names are ignored (Twilio's 20001 is only a warning). Values
/// stay bytes: `Data` is published byte for byte, and text fields check their UTF-8 themselves.
struct FormFields {
    private var fields: [(name: String, value: [UInt8])] = []

    init(encoded: some Collection<UInt8>) {
        for pair in encoded.split(separator: UInt8(ascii: "&")) {
            let parts = pair.split(separator: UInt8(ascii: "="), maxSplits: 1, omittingEmptySubsequences: false)
            let name = String(decoding: PercentDecoding.decodeFormComponent(parts[0]), as: UTF8.self)
            let value = parts.count > 1 ? PercentDecoding.decodeFormComponent(parts[1]) : []
            fields.append((name, value))
        }
    }

    init(query: String?) {
        self.init(encoded: (query ?? "").utf8)
    }

    /// The decoded bytes of the first field called `name`; nil when absent.
    func value(_ name: String) -> [UInt8]? {
        fields.first { $0.name == name }?.value
    }

    /// The first field called `name` as text; nil when absent, `.some(nil)` when not UTF-8.
    func text(_ name: String) -> String?? {
        guard let bytes = value(name) else { return nil }
        return .some(String(validating: bytes, as: UTF8.self))
    }
}
