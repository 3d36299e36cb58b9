/// Writes one JSON object straight into bytes, keys in the order given.
///
/// Hand-written rather than `Codable` for two reasons: a published message's `data` is echoed as
/// the exact bytes that were validated and published (no re-serialisation), and the responses
/// keep Twilio's documented key order.
struct JSONObject {
    private(set) var bytes: [UInt8]
    private var isEmpty = true

    private init(bytes: [UInt8]) {
        self.bytes = bytes
    }

    /// The bytes of the object `body` fills.
    static func build(_ body: (inout JSONObject) -> Void) -> [UInt8] {
        var object = JSONObject(bytes: [])
        object.bytes.reserveCapacity(512)
        object.bytes.append(UInt8(ascii: "{"))
        body(&object)
        object.bytes.append(UInt8(ascii: "}"))
        return object.bytes
    }

    mutating func field(_ key: String, _ value: String?) {
        writeKey(key)
        if let value { JSONObject.writeString(value, into: &bytes) } else { bytes.append(contentsOf: "null".utf8) }
    }

    mutating func field(_ key: String, _ value: Int) {
        writeKey(key)
        bytes.append(contentsOf: String(value).utf8)
    }

    mutating func field(_ key: String, _ value: Int64) {
        writeKey(key)
        bytes.append(contentsOf: String(value).utf8)
    }

    mutating func field(_ key: String, _ value: UInt64) {
        writeKey(key)
        bytes.append(contentsOf: String(value).utf8)
    }

    /// An array of strings.
    mutating func field(_ key: String, strings: [String]) {
        writeKey(key)
        bytes.append(UInt8(ascii: "["))
        for (index, text) in strings.enumerated() {
            if index > 0 { bytes.append(UInt8(ascii: ",")) }
            JSONObject.writeString(text, into: &bytes)
        }
        bytes.append(UInt8(ascii: "]"))
    }

    mutating func field(_ key: String, _ value: Bool) {
        writeKey(key)
        bytes.append(contentsOf: (value ? "true" : "false").utf8)
    }

    /// A value that already is JSON, copied as is (the caller vouches for it).
    mutating func field(_ key: String, rawJSON: some Sequence<UInt8>) {
        writeKey(key)
        bytes.append(contentsOf: rawJSON)
    }

    mutating func object(_ key: String, _ body: (inout JSONObject) -> Void) {
        writeKey(key)
        nest(opening: "{", closing: "}", body)
    }

    /// An array with one object per element of `items`.
    mutating func objects<Items: Sequence>(
        _ key: String,
        _ items: Items,
        _ body: (inout JSONObject, Items.Element) -> Void
    ) {
        writeKey(key)
        bytes.append(UInt8(ascii: "["))
        var first = true
        for item in items {
            if !first { bytes.append(UInt8(ascii: ",")) }
            first = false
            nest(opening: "{", closing: "}") { body(&$0, item) }
        }
        bytes.append(UInt8(ascii: "]"))
    }

    /// Runs `body` on a nested writer that shares this buffer (swapped in and out, no copy).
    private mutating func nest(opening: Unicode.Scalar, closing: Unicode.Scalar, _ body: (inout JSONObject) -> Void) {
        var nested = JSONObject(bytes: [])
        swap(&nested.bytes, &bytes)
        nested.bytes.append(UInt8(ascii: opening))
        body(&nested)
        nested.bytes.append(UInt8(ascii: closing))
        swap(&nested.bytes, &bytes)
    }

    private mutating func writeKey(_ key: String) {
        if !isEmpty { bytes.append(UInt8(ascii: ",")) }
        isEmpty = false
        JSONObject.writeString(key, into: &bytes)
        bytes.append(UInt8(ascii: ":"))
    }

    /// RFC 8259 string: quote, backslash and control characters escaped; other UTF-8 as is.
    static func writeString(_ text: String, into bytes: inout [UInt8]) {
        bytes.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): bytes.append(contentsOf: #"\""#.utf8)
            case UInt8(ascii: "\\"): bytes.append(contentsOf: #"\\"#.utf8)
            case 0x0A: bytes.append(contentsOf: #"\n"#.utf8)
            case 0x0D: bytes.append(contentsOf: #"\r"#.utf8)
            case 0x09: bytes.append(contentsOf: #"\t"#.utf8)
            case 0x00..<0x20:
                let hex: [UInt8] = Array("0123456789abcdef".utf8)
                bytes.append(contentsOf: #"\u00"#.utf8)
                bytes.append(hex[Int(byte >> 4)])
                bytes.append(hex[Int(byte & 0xF)])
            default: bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }
}
