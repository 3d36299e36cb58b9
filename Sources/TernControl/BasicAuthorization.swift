/// The user and password of an `Authorization: Basic <base64(user:password)>` header (RFC 7617),
/// which is how Twilio's helper libraries send the account sid and auth token.
struct BasicAuthorization: Equatable {
    var user: String
    var password: String

    /// Nil unless `header` is the `Basic` scheme (any case) with base64 of UTF-8 `user:password`.
    /// The user ends at the first colon; the password may contain more.
    init?(header: String) {
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "basic",
            let decoded = Self.decodeBase64(parts[1].utf8.filter { $0 != UInt8(ascii: " ") }),
            let colon = decoded.firstIndex(of: UInt8(ascii: ":")),
            let user = String(validating: decoded[..<colon], as: UTF8.self),
            let password = String(validating: decoded[(colon + 1)...], as: UTF8.self)
        else { return nil }
        self.user = user
        self.password = password
    }

    /// Standard base64 (RFC 4648 §4); trailing `=` padding optional. Nil on any other byte.
    static func decodeBase64(_ text: [UInt8]) -> [UInt8]? {
        var symbols = text[...]
        while symbols.last == UInt8(ascii: "=") { symbols = symbols.dropLast() }
        guard text.count - symbols.count <= 2, symbols.count % 4 != 1 else { return nil }
        var output: [UInt8] = []
        output.reserveCapacity(symbols.count * 3 / 4)
        var accumulator: UInt32 = 0
        var bits = 0
        for symbol in symbols {
            guard let value = sextet(symbol) else { return nil }
            accumulator = accumulator << 6 | UInt32(value)
            bits += 6
            if bits >= 8 {
                bits -= 8
                output.append(UInt8(truncatingIfNeeded: accumulator >> UInt32(bits)))
            }
        }
        return output
    }

    private static func sextet(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): return byte - UInt8(ascii: "A")
        case UInt8(ascii: "a")...UInt8(ascii: "z"): return byte - UInt8(ascii: "a") + 26
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0") + 52
        case UInt8(ascii: "+"): return 62
        case UInt8(ascii: "/"): return 63
        default: return nil
        }
    }
}
