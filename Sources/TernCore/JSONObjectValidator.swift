#if !_endian(little)
#error("JSONObjectValidator reads words as little-endian")
#endif

/// Checks that bytes are exactly one JSON object (RFC 8259), without allocating.
///
/// Messages are validated once, at publish, on either port; subscribers then get bytes they can
/// hand to any JSON parser. Nesting is capped (`maxDepth`) so hostile input cannot exhaust the
/// stack.
public struct JSONObjectValidator {
    public static let maxDepth = 64

    private let bytes: UnsafeRawBufferPointer
    private var index = 0

    /// True if `bytes` is a JSON object, optionally surrounded by whitespace.
    public static func isObject(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var validator = JSONObjectValidator(bytes: bytes)
        validator.skipWhitespace()
        guard validator.peek() == UInt8(ascii: "{"), validator.value(depth: 0) else { return false }
        validator.skipWhitespace()
        return validator.index == bytes.count
    }

    public static func isObject(_ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { isObject($0) }
    }

    private init(bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
    }

    private func peek() -> UInt8? { index < bytes.count ? bytes[index] : nil }

    private mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0A, 0x0D: index += 1
            default: return
            }
        }
    }

    private mutating func expect(_ literal: StaticString) -> Bool {
        let count = literal.utf8CodeUnitCount
        guard bytes.count - index >= count else { return false }
        for offset in 0..<count where bytes[index + offset] != literal.utf8Start[offset] {
            return false
        }
        index += count
        return true
    }

    private mutating func value(depth: Int) -> Bool {
        guard depth < Self.maxDepth, let byte = peek() else { return false }
        switch byte {
        case UInt8(ascii: "{"): return object(depth: depth + 1)
        case UInt8(ascii: "["): return array(depth: depth + 1)
        case UInt8(ascii: "\""): return string()
        case UInt8(ascii: "t"): return expect("true")
        case UInt8(ascii: "f"): return expect("false")
        case UInt8(ascii: "n"): return expect("null")
        default: return number()
        }
    }

    private mutating func object(depth: Int) -> Bool {
        index += 1
        skipWhitespace()
        if peek() == UInt8(ascii: "}") {
            index += 1
            return true
        }
        while true {
            skipWhitespace()
            guard peek() == UInt8(ascii: "\""), string() else { return false }
            skipWhitespace()
            guard peek() == UInt8(ascii: ":") else { return false }
            index += 1
            skipWhitespace()
            guard value(depth: depth) else { return false }
            skipWhitespace()
            switch peek() {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "}"):
                index += 1
                return true
            default: return false
            }
        }
    }

    private mutating func array(depth: Int) -> Bool {
        index += 1
        skipWhitespace()
        if peek() == UInt8(ascii: "]") {
            index += 1
            return true
        }
        while true {
            skipWhitespace()
            guard value(depth: depth) else { return false }
            skipWhitespace()
            switch peek() {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "]"):
                index += 1
                return true
            default: return false
            }
        }
    }

    /// A string, with escapes checked and UTF-8 validated.
    private mutating func string() -> Bool {
        index += 1
        while index < bytes.count {
            skipPlainASCII()
            guard index < bytes.count else { return false }
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "\""):
                index += 1
                return true
            case UInt8(ascii: "\\"):
                index += 1
                guard let escaped = peek() else { return false }
                switch escaped {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"),
                    UInt8(ascii: "f"), UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                    index += 1
                case UInt8(ascii: "u"):
                    guard bytes.count - index >= 5 else { return false }
                    for offset in 1...4 where !isHex(bytes[index + offset]) { return false }
                    index += 5
                default:
                    return false
                }
            case 0x00..<0x20:
                return false
            case 0x20..<0x80:
                index += 1
            default:
                guard utf8Sequence() else { return false }
            }
        }
        return false
    }

    /// Skips string bytes that need no attention (printable ASCII but `"` and `\`), eight at a
    /// time, and stops exactly on the first byte that does: payloads are mostly such bytes, and
    /// this loop is most of the cost of validation. The last partial word is read as the final
    /// eight bytes of the buffer, so no byte is ever looked at one by one here.
    @inline(__always)
    private mutating func skipPlainASCII() {
        while bytes.count - index >= 8 {
            let special = Self.specialBytes(in: bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self))
            if special != 0 {
                index += special.trailingZeroBitCount >> 3
                return
            }
            index += 8
        }
        let remaining = bytes.count - index
        guard remaining > 0, bytes.count >= 8 else { return }
        // The last `remaining` bytes sit at the top of the buffer's final word; shifted down, the
        // zeros shifted in are hits only above them, where the mask cuts them off.
        let word = bytes.loadUnaligned(fromByteOffset: bytes.count - 8, as: UInt64.self) >> UInt64((8 - remaining) * 8)
        let special = Self.specialBytes(in: word) & ((1 << UInt64(remaining * 8)) &- 1)
        index += special == 0 ? remaining : special.trailingZeroBitCount >> 3
    }

    /// The high bit of each byte of `word` (little-endian) that is ≥ 0x80, < 0x20, `"` or `\`.
    /// A borrow can only add false hits above a real one, so the lowest set bit is exact.
    @inline(__always)
    private static func specialBytes(in word: UInt64) -> UInt64 {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let quote = word ^ (ones &* 0x22)
        let backslash = word ^ (ones &* 0x5C)
        return (word | ((word &- ones &* 0x20) & ~word) | ((quote &- ones) & ~quote) | ((backslash &- ones) & ~backslash))
            & 0x8080_8080_8080_8080
    }

    private func isHex(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(byte)
            || (UInt8(ascii: "A")...UInt8(ascii: "F")).contains(byte)
    }

    /// One multi-byte UTF-8 scalar (no overlongs, no surrogates, at most U+10FFFF).
    private mutating func utf8Sequence() -> Bool {
        let lead = bytes[index]
        let count: Int
        var low: UInt8 = 0x80
        var high: UInt8 = 0xBF
        switch lead {
        case 0xC2...0xDF: count = 2
        case 0xE0: count = 3; low = 0xA0
        case 0xE1...0xEC, 0xEE...0xEF: count = 3
        case 0xED: count = 3; high = 0x9F
        case 0xF0: count = 4; low = 0x90
        case 0xF1...0xF3: count = 4
        case 0xF4: count = 4; high = 0x8F
        default: return false
        }
        guard bytes.count - index >= count else { return false }
        for offset in 1..<count {
            let byte = bytes[index + offset]
            let (min, max) = offset == 1 ? (low, high) : (UInt8(0x80), UInt8(0xBF))
            guard byte >= min && byte <= max else { return false }
        }
        index += count
        return true
    }

    private mutating func number() -> Bool {
        if peek() == UInt8(ascii: "-") { index += 1 }
        guard let first = peek(), isDigit(first) else { return false }
        index += 1
        if first != UInt8(ascii: "0") {
            while let byte = peek(), isDigit(byte) { index += 1 }
        }
        if peek() == UInt8(ascii: ".") {
            index += 1
            guard let byte = peek(), isDigit(byte) else { return false }
            while let byte = peek(), isDigit(byte) { index += 1 }
        }
        if peek() == UInt8(ascii: "e") || peek() == UInt8(ascii: "E") {
            index += 1
            if peek() == UInt8(ascii: "+") || peek() == UInt8(ascii: "-") { index += 1 }
            guard let byte = peek(), isDigit(byte) else { return false }
            while let byte = peek(), isDigit(byte) { index += 1 }
        }
        return true
    }

    private func isDigit(_ byte: UInt8) -> Bool { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) }
}
