import CTernShims

/// Checks that bytes are exactly one JSON object (RFC 8259), without allocating.
///
/// Messages are validated once, at publish, on either port; subscribers then get bytes they can
/// hand to any JSON parser. Every message takes this path, so it is one loop with the position
/// in a register: no recursion (the open containers are a bit stack, one bit per level, which
/// also caps nesting at `maxDepth` so hostile input cannot exhaust anything), and strings are
/// scanned sixteen bytes at a time (SSE2, in `CTernShims`), inline up to their closing quote.
public enum JSONObjectValidator {
    /// Containers open at once at most, the top-level object included.
    public static let maxDepth = 64

    public static func isObject(_ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { isObject($0) }
    }

    public static func isObject(_ bytes: RawSpan) -> Bool {
        bytes.withUnsafeBytes { isObject($0) }
    }

    /// Where the scanner is in the grammar; the position travels separately.
    private enum State {
        /// After `{` or `[`: a key or `}`, a value or `]`.
        case opened
        /// A member's key (whitespace skipped), then `:`.
        case key
        /// Any value (whitespace skipped).
        case value
        /// After a value: `,` or the close of the innermost container.
        case afterValue
        /// A container was just closed.
        case closed
    }

    /// True if `bytes` is a JSON object, optionally surrounded by whitespace. (Internal: the
    /// public overloads take safe views; the fuzzer calls this one with libFuzzer's buffer.)
    static func isObject(_ bytes: UnsafeRawBufferPointer) -> Bool {
        let count = bytes.count
        var index = skipWhitespace(bytes, from: 0)
        guard index < count, bytes[index] == .openBrace else { return false }
        index += 1
        var depth = 1
        // Bit `level - 1` is set when the container open at `level` is an object.
        var objects: UInt64 = 1
        var state = State.opened
        while true {
            switch state {
            case .opened:
                index = skipWhitespace(bytes, from: index)
                guard index < count else { return false }
                let inObject = objects >> UInt64(depth - 1) & 1 == 1
                if bytes[index] == (inObject ? .closeBrace : .closeBracket) {
                    index += 1
                    state = .closed
                } else {
                    state = inObject ? .key : .value
                }
            case .key:
                guard index < count, bytes[index] == .quote else { return false }
                index = stringEnd(bytes, from: index)
                guard index >= 0 else { return false }
                index = skipWhitespace(bytes, from: index)
                guard index < count, bytes[index] == .colon else { return false }
                index = skipWhitespace(bytes, from: index + 1)
                state = .value
            case .value:
                guard depth < maxDepth, index < count else { return false }
                switch bytes[index] {
                case .openBrace, .openBracket:
                    let isObject: UInt64 = bytes[index] == .openBrace ? 1 : 0
                    objects = objects & ~(1 << UInt64(depth)) | isObject << UInt64(depth)
                    depth += 1
                    index += 1
                    state = .opened
                    continue
                case .quote: index = stringEnd(bytes, from: index)
                case UInt8(ascii: "t"): index = literalEnd(bytes, from: index, "true")
                case UInt8(ascii: "f"): index = literalEnd(bytes, from: index, "false")
                case UInt8(ascii: "n"): index = literalEnd(bytes, from: index, "null")
                default: index = numberEnd(bytes, from: index)
                }
                guard index >= 0 else { return false }
                state = .afterValue
            case .afterValue:
                index = skipWhitespace(bytes, from: index)
                guard index < count else { return false }
                let inObject = objects >> UInt64(depth - 1) & 1 == 1
                switch bytes[index] {
                case .comma:
                    index = skipWhitespace(bytes, from: index + 1)
                    state = inObject ? .key : .value
                case .closeBrace where inObject, .closeBracket where !inObject:
                    index += 1
                    state = .closed
                default:
                    return false
                }
            case .closed:
                depth -= 1
                if depth == 0 { return skipWhitespace(bytes, from: index) == count }
                state = .afterValue
            }
        }
    }

    // MARK: Tokens. Each returns the index just past the token, or -1 if it is not valid.

    @inline(__always)
    private static func skipWhitespace(_ bytes: UnsafeRawBufferPointer, from start: Int) -> Int {
        var index = start
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0A, 0x0D: index &+= 1
            default: return index
            }
        }
        return index
    }

    /// A string starting at its opening quote, with escapes checked and UTF-8 validated. Inlined
    /// for the common case, a run of plain bytes up to the closing quote; anything else (escapes,
    /// UTF-8, a short tail) continues out of line.
    @inline(__always)
    private static func stringEnd(_ bytes: UnsafeRawBufferPointer, from start: Int) -> Int {
        let index = skipPlainASCII(bytes, from: start &+ 1)
        if index < bytes.count && bytes[index] == .quote { return index &+ 1 }
        return stringRest(bytes, from: index)
    }

    /// The rest of a string from `start`, a byte that is not plain (or the end of the buffer).
    @inline(never)
    private static func stringRest(_ bytes: UnsafeRawBufferPointer, from start: Int) -> Int {
        let count = bytes.count
        var index = start
        while true {
            guard index < count else { return -1 }
            let byte = bytes[index]
            if byte == .quote { return index &+ 1 }
            if byte == .backslash {
                index &+= 1
                guard index < count else { return -1 }
                switch bytes[index] {
                case .quote, .backslash, UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"), UInt8(ascii: "n"),
                    UInt8(ascii: "r"), UInt8(ascii: "t"):
                    index &+= 1
                case UInt8(ascii: "u"):
                    guard count &- index >= 5 else { return -1 }
                    for offset in 1...4 where !isHex(bytes[index &+ offset]) { return -1 }
                    index &+= 5
                default:
                    return -1
                }
            } else if byte < 0x20 {
                return -1
            } else if byte < 0x80 {
                index &+= 1  // plain, in a buffer shorter than a word
            } else {
                index = utf8SequenceEnd(bytes, from: index)
                guard index >= 0 else { return -1 }
            }
            index = skipPlainASCII(bytes, from: index)
        }
    }

    /// Skips string bytes that need no attention (printable ASCII but `"` and `\`) and stops
    /// exactly on the first byte that does: payloads are mostly such bytes, scanned sixteen at a
    /// time (`ctern_json_plain_end`, SSE2).
    @inline(__always)
    private static func skipPlainASCII(_ bytes: UnsafeRawBufferPointer, from start: Int) -> Int {
        guard let base = bytes.baseAddress, start < bytes.count else { return start }
        return ctern_json_plain_end(base.assumingMemoryBound(to: UInt8.self), bytes.count, start)
    }

    private static func isHex(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(byte)
            || (UInt8(ascii: "A")...UInt8(ascii: "F")).contains(byte)
    }

    /// One multi-byte UTF-8 scalar (no overlongs, no surrogates, at most U+10FFFF).
    private static func utf8SequenceEnd(_ bytes: UnsafeRawBufferPointer, from index: Int) -> Int {
        let lead = bytes[index]
        let count: Int
        var low: UInt8 = 0x80
        var high: UInt8 = 0xBF
        switch lead {
        case 0xC2...0xDF: count = 2
        case 0xE0:
            count = 3
            low = 0xA0
        case 0xE1...0xEC, 0xEE...0xEF: count = 3
        case 0xED:
            count = 3
            high = 0x9F
        case 0xF0:
            count = 4
            low = 0x90
        case 0xF1...0xF3: count = 4
        case 0xF4:
            count = 4
            high = 0x8F
        default: return -1
        }
        guard bytes.count - index >= count else { return -1 }
        for offset in 1..<count {
            let byte = bytes[index + offset]
            let (min, max) = offset == 1 ? (low, high) : (UInt8(0x80), UInt8(0xBF))
            guard byte >= min && byte <= max else { return -1 }
        }
        return index + count
    }

    private static func literalEnd(_ bytes: UnsafeRawBufferPointer, from index: Int, _ literal: StaticString) -> Int {
        let count = literal.utf8CodeUnitCount
        guard bytes.count - index >= count else { return -1 }
        for offset in 0..<count where bytes[index + offset] != literal.utf8Start[offset] { return -1 }
        return index + count
    }

    private static func numberEnd(_ bytes: UnsafeRawBufferPointer, from start: Int) -> Int {
        var index = start
        func digit(_ at: Int) -> Bool { at < bytes.count && bytes[at] &- UInt8(ascii: "0") < 10 }
        func byte(_ at: Int) -> UInt8? { at < bytes.count ? bytes[at] : nil }
        if byte(index) == UInt8(ascii: "-") { index += 1 }
        guard digit(index) else { return -1 }
        let first = bytes[index]
        index += 1
        if first != UInt8(ascii: "0") {
            while digit(index) { index += 1 }
        }
        if byte(index) == UInt8(ascii: ".") {
            index += 1
            guard digit(index) else { return -1 }
            while digit(index) { index += 1 }
        }
        if byte(index) == UInt8(ascii: "e") || byte(index) == UInt8(ascii: "E") {
            index += 1
            if byte(index) == UInt8(ascii: "+") || byte(index) == UInt8(ascii: "-") { index += 1 }
            guard digit(index) else { return -1 }
            while digit(index) { index += 1 }
        }
        return index
    }
}

extension UInt8 {
    fileprivate static let openBrace = UInt8(ascii: "{")
    fileprivate static let closeBrace = UInt8(ascii: "}")
    fileprivate static let openBracket = UInt8(ascii: "[")
    fileprivate static let closeBracket = UInt8(ascii: "]")
    fileprivate static let quote = UInt8(ascii: "\"")
    fileprivate static let backslash = UInt8(ascii: "\\")
    fileprivate static let colon = UInt8(ascii: ":")
    fileprivate static let comma = UInt8(ascii: ",")
}
