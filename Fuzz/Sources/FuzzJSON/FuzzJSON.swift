import Foundation

/// libFuzzer entry point for `JSONObjectValidator` (compiled here from TernCore's own file).
///
/// Checks, for every input:
/// 1. both `isObject` overloads agree, and whitespace around the input changes nothing;
/// 2. as a member value (`{"k":X}`), the input gets the reference parser's verdict too, and an
///    accepted object stays accepted while it is shallow enough;
/// 3. a plain recursive-descent parser (`ReferenceParser`) gives the same verdict;
/// 4. what the validator accepts, Foundation's `JSONSerialization` reads as a dictionary, apart
///    from the differences listed in `Difference`.
///
/// Any broken invariant traps, which libFuzzer records as a crash.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJSON(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    // A view that ends where libFuzzer's allocation ends: the validator reads whole words near
    // the end of its buffer, and ASan must see it if one ever reaches past.
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    let accepted = JSONObjectValidator.isObject(bytes)

    let array = Array(bytes)
    check(JSONObjectValidator.isObject(array) == accepted, "the [UInt8] overload disagrees")
    check(
        JSONObjectValidator.isObject(Array(" \n\t".utf8) + array + Array("\r\n ".utf8)) == accepted,
        "whitespace around changed the verdict"
    )

    // Inside another object the input is judged again, at other offsets from the buffer's end
    // (the word-at-a-time scan) and one level deeper: the reference parser must still agree.
    let wrappedBytes = Array(#"{"k":"#.utf8) + array + [UInt8(ascii: "}")]
    let wrapped = JSONObjectValidator.isObject(wrappedBytes)
    check(wrapped == wrappedBytes.withUnsafeBytes { ReferenceParser.isObject($0) }, "as a member value: \(wrapped)")
    if accepted {
        // Shape.of is exact for accepted input; the wrapper adds one container around every value.
        let shape = Shape.of(bytes)
        check(
            wrapped == (shape.deepestValue + 1 < JSONObjectValidator.maxDepth),
            "as a member value: \(wrapped), depth \(shape.deepestValue)"
        )
    }

    let reference = ReferenceParser.isObject(bytes)
    check(reference == accepted, "validator says \(accepted), the reference parser \(reference)")
    compareWithFoundation(bytes, array: array, accepted: accepted)
    return 0
}

func check(_ condition: Bool, _ message: @autoclosure () -> String, file: StaticString = #file, line: UInt = #line) {
    if !condition { fatalError("invariant broken: \(message())", file: file, line: line) }
}

/// Where `JSONSerialization` (swift-corelibs-foundation) may refuse what the validator accepts,
/// by design. Each is checked on the input before the disagreement is let through.
///
/// The other direction is not compared: Foundation is lenient where RFC 8259 is not (it reads
/// `[1,]` and `{"a":1,}`, a byte order mark and UTF-16, and nests deeper than `maxDepth`).
/// `ReferenceParser` is the oracle for refusals.
enum Difference: String {
    /// `\uD800`–`\uDFFF` escapes not in a high–low pair: RFC 8259's grammar allows them (section
    /// 8.2 says the result is unpredictable) and the validator checks grammar only; Foundation
    /// refuses them because it must build a `String`.
    case unpairedSurrogateEscape
    /// Numbers outside `Double`'s range (`1e400`): valid grammar, which the validator accepts;
    /// Foundation refuses what it cannot represent.
    case unrepresentableNumber
}

/// What the validator accepts, subscribers hand to other JSON parsers: Foundation must read it
/// as a dictionary, unless one of the `Difference`s explains why not.
func compareWithFoundation(_ bytes: UnsafeRawBufferPointer, array: [UInt8], accepted: Bool) {
    guard accepted else { return }
    let parsed = try? JSONSerialization.jsonObject(with: Data(array), options: [])
    if parsed is [String: Any] { return }
    let shape = Shape.of(bytes)
    check(
        shape.hasUnpairedSurrogate || shape.hasUnrepresentableNumber,
        "validator accepts, JSONSerialization gives \(parsed.map { "\(type(of: $0))" } ?? "an error")"
    )
}

/// A plain recursive-descent reading of RFC 8259, one byte at a time: slow and obviously right,
/// against the validator's word-at-a-time state machine. UTF-8 inside strings is checked by
/// the standard library. Depth as the validator defines it: no value inside `maxDepth`
/// containers (the innermost of `maxDepth` containers may only be empty).
struct ReferenceParser {
    let bytes: UnsafeRawBufferPointer
    var index = 0

    static func isObject(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var parser = ReferenceParser(bytes: bytes)
        parser.skipWhitespace()
        guard parser.peek == UInt8(ascii: "{"), parser.value(depth: 0) else { return false }
        parser.skipWhitespace()
        return parser.index == bytes.count
    }

    var peek: UInt8? { index < bytes.count ? bytes[index] : nil }

    mutating func skipWhitespace() {
        while let byte = peek, byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D { index += 1 }
    }

    mutating func eat(_ byte: UInt8) -> Bool {
        guard peek == byte else { return false }
        index += 1
        return true
    }

    /// A value inside `depth` containers.
    mutating func value(depth: Int) -> Bool {
        guard depth < JSONObjectValidator.maxDepth, let byte = peek else { return false }
        switch byte {
        case UInt8(ascii: "{"): return container(depth: depth, close: UInt8(ascii: "}"), keyed: true)
        case UInt8(ascii: "["): return container(depth: depth, close: UInt8(ascii: "]"), keyed: false)
        case UInt8(ascii: "\""): return string()
        case UInt8(ascii: "t"): return literal("true")
        case UInt8(ascii: "f"): return literal("false")
        case UInt8(ascii: "n"): return literal("null")
        default: return number()
        }
    }

    mutating func container(depth: Int, close: UInt8, keyed: Bool) -> Bool {
        index += 1
        skipWhitespace()
        if eat(close) { return true }
        while true {
            skipWhitespace()
            if keyed {
                guard peek == UInt8(ascii: "\""), string() else { return false }
                skipWhitespace()
                guard eat(UInt8(ascii: ":")) else { return false }
                skipWhitespace()
            }
            guard value(depth: depth + 1) else { return false }
            skipWhitespace()
            if eat(UInt8(ascii: ",")) { continue }
            return eat(close)
        }
    }

    mutating func string() -> Bool {
        index += 1
        let start = index
        while let byte = peek {
            if byte == UInt8(ascii: "\"") {
                defer { index += 1 }
                return String(validating: bytes[start..<index], as: UTF8.self) != nil
            }
            if byte < 0x20 { return false }
            index += 1
            if byte == UInt8(ascii: "\\") {
                guard let escaped = peek else { return false }
                index += 1
                if escaped == UInt8(ascii: "u") {
                    for _ in 0..<4 {
                        guard let hex = peek, hex.isHexDigit else { return false }
                        index += 1
                    }
                } else if !Array(#""\\/bfnrt"#.utf8).contains(escaped) {
                    return false
                }
            }
        }
        return false
    }

    mutating func literal(_ word: String) -> Bool {
        for byte in word.utf8 {
            guard eat(byte) else { return false }
        }
        return true
    }

    mutating func number() -> Bool {
        _ = eat(UInt8(ascii: "-"))
        if eat(UInt8(ascii: "0")) {
        } else {
            guard digits() else { return false }
        }
        if eat(UInt8(ascii: ".")) {
            guard digits() else { return false }
        }
        if eat(UInt8(ascii: "e")) || eat(UInt8(ascii: "E")) {
            if !eat(UInt8(ascii: "+")) { _ = eat(UInt8(ascii: "-")) }
            guard digits() else { return false }
        }
        return true
    }

    /// One or more decimal digits.
    mutating func digits() -> Bool {
        let start = index
        while let byte = peek, byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") { index += 1 }
        return index > start
    }
}

extension UInt8 {
    var isHexDigit: Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(self) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(self)
            || (UInt8(ascii: "A")...UInt8(ascii: "F")).contains(self)
    }
}

/// Facts about a JSON text, read by a simple scanner that trusts the text to be well formed.
struct Shape {
    static let tokenEnds = Array(",]} \t\r\n".utf8)

    /// The most containers any value sits in (the top-level value sits in none).
    var deepestValue = 0
    var hasUnpairedSurrogate = false
    var hasUnrepresentableNumber = false

    static func of(_ bytes: UnsafeRawBufferPointer) -> Shape {
        var shape = Shape()
        var depth = 0
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            switch byte {
            case 0x20, 0x09, 0x0A, 0x0D, UInt8(ascii: ","), UInt8(ascii: ":"):
                index += 1
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                shape.deepestValue = max(shape.deepestValue, depth)
                depth += 1
                index += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                depth -= 1
                index += 1
            case UInt8(ascii: "\""):
                // A key sits where its value will (same depth), so counting keys changes nothing.
                shape.deepestValue = max(shape.deepestValue, depth)
                index = shape.scanString(bytes, from: index + 1)
            default:
                shape.deepestValue = max(shape.deepestValue, depth)
                var end = index
                while end < bytes.count, !Shape.tokenEnds.contains(bytes[end]) { end += 1 }
                let token = String(decoding: bytes[index..<end], as: UTF8.self)
                if byte != UInt8(ascii: "t"), byte != UInt8(ascii: "f"), byte != UInt8(ascii: "n"),
                    let value = Double(token), !value.isFinite
                {
                    shape.hasUnrepresentableNumber = true
                }
                index = end
            }
        }
        return shape
    }

    /// Skips a string body from just after its opening quote; notes unpaired surrogate escapes.
    mutating func scanString(_ bytes: UnsafeRawBufferPointer, from start: Int) -> Int {
        var index = start
        var pendingHigh = false
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                if pendingHigh { hasUnpairedSurrogate = true }
                return index + 1
            }
            if byte == UInt8(ascii: "\\"), index + 1 < bytes.count {
                if bytes[index + 1] == UInt8(ascii: "u"), index + 5 < bytes.count,
                    let unit = UInt16(String(decoding: bytes[index + 2..<index + 6], as: UTF8.self), radix: 16)
                {
                    switch unit {
                    case 0xD800...0xDBFF:
                        if pendingHigh { hasUnpairedSurrogate = true }
                        pendingHigh = true
                    case 0xDC00...0xDFFF:
                        if !pendingHigh { hasUnpairedSurrogate = true }
                        pendingHigh = false
                    default:
                        if pendingHigh { hasUnpairedSurrogate = true }
                        pendingHigh = false
                    }
                    index += 6
                    continue
                }
                index += 2
            } else {
                index += 1
            }
            if pendingHigh { hasUnpairedSurrogate = true }
            pendingHigh = false
        }
        return index
    }
}
