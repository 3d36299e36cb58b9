/// Percent-decoding for form bodies, query strings and path segments (RFC 3986, WHATWG
/// `application/x-www-form-urlencoded`).
///
/// A `%` not followed by two hex digits is kept literally, as browsers and most servers do.
enum PercentDecoding {
    /// Form and query decoding: `+` is a space.
    static func decodeFormComponent(_ bytes: some Collection<UInt8>) -> [UInt8] {
        decode(bytes, plusIsSpace: true)
    }

    /// A path segment as text; `+` stays `+`. Nil if the decoded bytes are not UTF-8.
    static func decodePathSegment(_ segment: Substring) -> String? {
        String(validating: decode(segment.utf8, plusIsSpace: false), as: UTF8.self)
    }

    private static func decode(_ bytes: some Collection<UInt8>, plusIsSpace: Bool) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(bytes.count)
        var index = bytes.startIndex
        while index != bytes.endIndex {
            let byte = bytes[index]
            if byte == UInt8(ascii: "%") {
                let first = bytes.index(after: index)
                if first != bytes.endIndex, let high = hexValue(bytes[first]) {
                    let second = bytes.index(after: first)
                    if second != bytes.endIndex, let low = hexValue(bytes[second]) {
                        output.append(high << 4 | low)
                        index = bytes.index(after: second)
                        continue
                    }
                }
                output.append(byte)
            } else if byte == UInt8(ascii: "+") && plusIsSpace {
                output.append(UInt8(ascii: " "))
            } else {
                output.append(byte)
            }
            index = bytes.index(after: index)
        }
        return output
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}
