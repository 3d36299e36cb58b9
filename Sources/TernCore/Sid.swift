import TernWire

/// Twilio-style resource identifiers: two uppercase letters and 32 lowercase hex digits.
public enum Sid {
    /// Stream (`TO`), Sync service (`IS`), account (`AC`), message (`TZ`).
    public enum Kind: String, Sendable {
        case stream = "TO"
        case service = "IS"
        case account = "AC"
        case message = "TZ"
        case apiKey = "SK"
    }

    public static func generate(_ kind: Kind) -> String {
        var generator = SystemRandomNumberGenerator()
        return kind.rawValue + Hex.encode(generator.next()) + Hex.encode(generator.next())
    }

    /// Whether `text` has the shape of any sid (`^[A-Z]{2}[0-9a-fA-F]{32}$`). Unique names of that
    /// shape are refused, so a path segment is never ambiguous.
    public static func looksLikeSid(_ text: some StringProtocol) -> Bool {
        let utf8 = text.utf8
        guard utf8.count == 34 else { return false }
        for (index, byte) in utf8.enumerated() {
            if index < 2 {
                guard (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) else { return false }
            } else {
                guard isHexDigit(byte) else { return false }
            }
        }
        return true
    }

    public static func isSid(_ text: some StringProtocol, of kind: Kind) -> Bool {
        looksLikeSid(text) && text.hasPrefix(kind.rawValue)
    }

    private static func isHexDigit(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "f"),
            UInt8(ascii: "A")...UInt8(ascii: "F"):
            return true
        default:
            return false
        }
    }
}
