import TernCore
import Testing

/// One input for the validator, named for readable test output.
struct JSONCase: Sendable, CustomTestStringConvertible {
    var name: String
    var bytes: [UInt8]

    init(_ name: String, _ text: String) {
        self.name = name
        bytes = Array(text.utf8)
    }

    /// Raw bytes spliced between two pieces of text, for encodings a Swift string cannot hold.
    init(_ name: String, _ before: String, _ raw: [UInt8], _ after: String) {
        self.name = name
        bytes = Array(before.utf8) + raw + Array(after.utf8)
    }

    var testDescription: String { name }
}

/// `JSONObjectValidator` accepts exactly one RFC 8259 JSON object (with surrounding whitespace)
/// and refuses everything else, including text that is not valid UTF-8.
@Suite("JSONObjectValidator")
struct JSONObjectValidatorTests {
    static let valid: [JSONCase] = [
        .init("empty object", "{}"),
        .init("surrounding whitespace", " \t\r\n{}\n\t "),
        .init("whitespace inside", "{ \"a\" : 1 , \"b\" : [ 1 , 2 ] }"),
        .init("one member", #"{"px":1}"#),
        .init("all value kinds", #"{"o":{},"a":[],"s":"","n":0,"t":true,"f":false,"z":null}"#),
        .init("nested", #"{"a":[1,2,{"b":[null,{"c":"d"}]}],"e":{"f":{"g":[]}}}"#),
        .init("duplicate keys (allowed by the grammar)", #"{"a":1,"a":2}"#),
        .init("empty key", #"{"":0}"#),
        .init("every short escape", #"{"s":"\" \\ \/ \b \f \n \r \t"}"#),
        .init("unicode escapes, both cases", #"{"s":"\u00e9\u00E9\uABCD\uabcd\u0000"}"#),
        .init("escaped surrogate pair", #"{"s":"\uD83D\uDE00"}"#),
        .init("lone escaped surrogate (allowed by the grammar)", #"{"s":"\uD800"}"#),
        .init("raw two-, three- and four-byte UTF-8", #"{"é":"日本語 😀"}"#),
        .init("U+FFFF and U+10FFFF raw", "{\"s\":\"\u{FFFF}\u{10FFFF}\"}"),
        .init("DEL is not a control character", "{\"s\":\"\u{7F}\"}"),
        .init("zero", #"{"n":0}"#),
        .init("negative zero", #"{"n":-0}"#),
        .init("fraction", #"{"n":0.5}"#),
        .init("exponent", #"{"n":1e10}"#),
        .init("exponent with sign, capital E", #"{"n":1E+2,"m":2e-2}"#),
        .init("everything at once", #"{"n":-12.50e-003}"#),
        .init("a number longer than any integer type", #"{"n":123456789012345678901234567890.5}"#),
        .init("numbers in an array", #"{"a":[0,-1,1.0,1e1,-0.0e-0]}"#),
    ]

    static let invalid: [JSONCase] = [
        // Not an object at the top.
        .init("empty input", ""),
        .init("whitespace only", "  \n"),
        .init("array", "[]"),
        .init("string", #""s""#),
        .init("number", "1"),
        .init("null", "null"),
        .init("true", "true"),
        .init("byte order mark", "\u{FEFF}{}"),
        .init("form feed is not whitespace", "\u{0C}{}"),
        .init("vertical tab is not whitespace", "{}\u{0B}"),
        .init("non-breaking space is not whitespace", "{}\u{A0}"),
        // Broken structure.
        .init("open brace only", "{"),
        .init("close brace only", "}"),
        .init("unclosed after member", #"{"a":1"#),
        .init("key without value", #"{"a"}"#),
        .init("key and colon only", #"{"a":}"#),
        .init("unquoted key", "{a:1}"),
        .init("single-quoted key", "{'a':1}"),
        .init("number as key", "{1:1}"),
        .init("trailing comma in object", #"{"a":1,}"#),
        .init("comma only", "{,}"),
        .init("missing comma", #"{"a":1 "b":2}"#),
        .init("trailing comma in array", #"{"a":[1,]}"#),
        .init("leading comma in array", #"{"a":[,1]}"#),
        .init("unclosed array", #"{"a":[1}"#),
        .init("mismatched brackets", #"{"a":{]}"#),
        .init("two objects", "{} {}"),
        .init("extra close brace", #"{"a":1}}"#),
        .init("trailing garbage", "{}x"),
        .init("trailing NUL", "{}\u{0}"),
        .init("trailing comment", "{} // c"),
        // Literals.
        .init("truncated true", #"{"a":tru}"#),
        .init("capitalised True", #"{"a":True}"#),
        .init("truncated null", #"{"a":nul}"#),
        .init("literal running into text", #"{"a":nullx}"#),
        .init("NaN", #"{"a":NaN}"#),
        .init("Infinity", #"{"a":Infinity}"#),
        .init("undefined", #"{"a":undefined}"#),
        // Numbers.
        .init("leading zero", #"{"a":01}"#),
        .init("negative leading zero", #"{"a":-01}"#),
        .init("dot without fraction", #"{"a":1.}"#),
        .init("fraction without integer", #"{"a":.5}"#),
        .init("plus sign", #"{"a":+1}"#),
        .init("minus only", #"{"a":-}"#),
        .init("exponent without digits", #"{"a":1e}"#),
        .init("exponent sign without digits", #"{"a":1e+}"#),
        .init("hex number", #"{"a":0x10}"#),
        .init("two signs", #"{"a":--1}"#),
        .init("space inside number", #"{"a":1 2}"#),
        // Strings.
        .init("unterminated string", #"{"a":"abc}"#),
        .init("unterminated at end of input", #"{"a":"abc"#),
        .init("unknown escape", #"{"a":"\x41"}"#),
        .init("escaped single quote", #"{"a":"\'"}"#),
        .init("short unicode escape", #"{"a":"\u12"}"#),
        .init("non-hex unicode escape", #"{"a":"\u12G4"}"#),
        .init("capital U escape", #"{"a":"\U1234"}"#),
        .init("backslash at end of input", #"{"a":"\"#),
        .init("raw newline in string", "{\"a\":\"\n\"}"),
        .init("raw tab in string", "{\"a\":\"\t\"}"),
        .init("raw NUL in string", "{\"a\":\"\u{0}\"}"),
        // Bytes that are not UTF-8, inside strings.
        .init("lone continuation byte", #"{"a":""#, [0x80], #""}"#),
        .init("byte FF", #"{"a":""#, [0xFF], #""}"#),
        .init("byte FE", #"{"a":""#, [0xFE], #""}"#),
        .init("two-byte lead at end of string", #"{"a":""#, [0xC3], #""}"#),
        .init("two-byte lead at end of input", #"{"a":""#, [0xC3], ""),
        .init("three-byte sequence cut short", #"{"a":""#, [0xE2, 0x82], #""}"#),
        .init("four-byte sequence cut short", #"{"a":""#, [0xF0, 0x9F, 0x98], #""}"#),
        .init("overlong slash (C0 AF)", #"{"a":""#, [0xC0, 0xAF], #""}"#),
        .init("overlong C1 BF", #"{"a":""#, [0xC1, 0xBF], #""}"#),
        .init("overlong three-byte (E0 80 AF)", #"{"a":""#, [0xE0, 0x80, 0xAF], #""}"#),
        .init("overlong three-byte (E0 9F BF)", #"{"a":""#, [0xE0, 0x9F, 0xBF], #""}"#),
        .init("overlong four-byte (F0 80 80 AF)", #"{"a":""#, [0xF0, 0x80, 0x80, 0xAF], #""}"#),
        .init("overlong four-byte (F0 8F BF BF)", #"{"a":""#, [0xF0, 0x8F, 0xBF, 0xBF], #""}"#),
        .init("high surrogate (ED A0 80)", #"{"a":""#, [0xED, 0xA0, 0x80], #""}"#),
        .init("low surrogate (ED BF BF)", #"{"a":""#, [0xED, 0xBF, 0xBF], #""}"#),
        .init("surrogate pair in UTF-8 (CESU)", #"{"a":""#, [0xED, 0xA0, 0xBD, 0xED, 0xB8, 0x80], #""}"#),
        .init("above U+10FFFF (F4 90 80 80)", #"{"a":""#, [0xF4, 0x90, 0x80, 0x80], #""}"#),
        .init("lead byte F5", #"{"a":""#, [0xF5, 0x80, 0x80, 0x80], #""}"#),
        .init("continuation byte out of range", #"{"a":""#, [0xC3, 0xC3], #""}"#),
        .init("ASCII where a continuation belongs", #"{"a":""#, [0xE2, 0x41, 0x80], #""}"#),
        .init("non-UTF-8 in a key", #"{""#, [0xFF], #"":1}"#),
        .init("non-UTF-8 outside strings", "{", [0xC3, 0xA9], "}"),
    ]

    @Test("valid JSON objects are accepted", arguments: valid)
    func acceptsValid(input: JSONCase) {
        #expect(JSONObjectValidator.isObject(input.bytes))
    }

    @Test("everything else is refused", arguments: invalid)
    func refusesInvalid(input: JSONCase) {
        #expect(!JSONObjectValidator.isObject(input.bytes))
    }

    @Test("every prefix of a valid object is refused")
    func prefixesAreRefused() {
        let text = Array(#"{"a":[1,-2.5e+3,{"b":"\u00e9\n😀"}],"c":true,"d":null}"#.utf8)
        #expect(JSONObjectValidator.isObject(text))
        for cut in 0..<text.count {
            #expect(!JSONObjectValidator.isObject(Array(text[..<cut])), "prefix of \(cut) bytes")
        }
    }

    /// `levels` nested containers: the top-level object, then arrays inside it.
    static func nested(levels: Int) -> [UInt8] {
        let inner = levels - 1
        return Array(
            ("{\"a\":" + String(repeating: "[", count: inner) + String(repeating: "]", count: inner) + "}").utf8
        )
    }

    @Test("nesting is allowed up to maxDepth containers and refused beyond")
    func depthLimit() {
        let limit = JSONObjectValidator.maxDepth
        #expect(limit == 64)
        #expect(JSONObjectValidator.isObject(Self.nested(levels: limit)))
        #expect(!JSONObjectValidator.isObject(Self.nested(levels: limit + 1)))
        // Objects count like arrays.
        let objects = String(repeating: "{\"a\":", count: limit - 1) + "{}" + String(repeating: "}", count: limit - 1)
        #expect(JSONObjectValidator.isObject(Array(objects.utf8)))
        let deeper = String(repeating: "{\"a\":", count: limit) + "{}" + String(repeating: "}", count: limit)
        #expect(!JSONObjectValidator.isObject(Array(deeper.utf8)))
        // A value inside the deepest allowed container is one level too many.
        let full =
            "{\"a\":" + String(repeating: "[", count: limit - 1) + "1" + String(repeating: "]", count: limit - 1) + "}"
        #expect(!JSONObjectValidator.isObject(Array(full.utf8)))
    }

    @Test("hostile nesting is refused without exhausting the stack")
    func hostileNesting() {
        #expect(!JSONObjectValidator.isObject(Array(("{\"a\":" + String(repeating: "[", count: 1_000_000)).utf8)))
    }

    /// The string scanner checks sixteen bytes at a time and jumps to the first byte that needs a
    /// look, reading the last partial block as the buffer's final sixteen bytes (and bytewise in a
    /// buffer shorter than that): put each kind of special byte at every offset of two blocks,
    /// with every count of bytes after it.
    @Test("special string bytes are found at every offset of a block")
    func specialBytesAtEveryOffset() {
        func object(_ before: Int, _ special: [UInt8], _ after: Int, closed: Bool = true) -> [UInt8] {
            Array(#"{"k":""#.utf8) + [UInt8](repeating: UInt8(ascii: "a"), count: before) + special
                + [UInt8](repeating: UInt8(ascii: "b"), count: after) + (closed ? Array(#""}"#.utf8) : [])
        }
        for before in 0..<36 {
            for after in 0..<36 {
                #expect(JSONObjectValidator.isObject(object(before, [], after)), "plain \(before)+\(after)")
                #expect(
                    JSONObjectValidator.isObject(object(before, Array(#"\""#.utf8), after)),
                    "escaped quote at \(before)"
                )
                #expect(
                    JSONObjectValidator.isObject(object(before, Array(#"\\"#.utf8), after)),
                    "escaped backslash at \(before)"
                )
                #expect(JSONObjectValidator.isObject(object(before, [0xC3, 0xA9], after)), "é at \(before)")
                #expect(JSONObjectValidator.isObject(object(before, [0x7F], after)), "DEL at \(before)")
                #expect(!JSONObjectValidator.isObject(object(before, [0x1F], after)), "control byte at \(before)")
                #expect(!JSONObjectValidator.isObject(object(before, [0x80], after)), "lone continuation at \(before)")
                #expect(
                    !JSONObjectValidator.isObject(object(before, [UInt8(ascii: "\"")], after)),
                    "early quote at \(before)"
                )
                #expect(
                    !JSONObjectValidator.isObject(object(before, [], after, closed: false)),
                    "unterminated \(before)+\(after)"
                )
            }
        }
    }

    /// Each special byte at every position of a long string, so that it falls in a full block,
    /// in the overlapping last block and in both.
    @Test("a special byte is found wherever it sits in a long string")
    func specialByteInALongString() {
        for length in [15, 16, 17, 31, 32, 33, 47, 48, 49] {
            for position in 0..<length {
                var content = [UInt8](repeating: UInt8(ascii: "x"), count: length)
                content[position] = UInt8(ascii: "\\")
                let invalid = Array(#"{"k":""#.utf8) + content + Array(#""}"#.utf8)
                // `\x` is no escape, and a backslash just before the closing quote escapes it.
                #expect(!JSONObjectValidator.isObject(invalid), "backslash at \(position) of \(length)")
                content[position] = 0x01
                #expect(!JSONObjectValidator.isObject(Array(#"{"k":""#.utf8) + content + Array(#""}"#.utf8)))
                content[position] = 0xFF
                #expect(!JSONObjectValidator.isObject(Array(#"{"k":""#.utf8) + content + Array(#""}"#.utf8)))
                content[position] = UInt8(ascii: "n")
                #expect(JSONObjectValidator.isObject(Array(#"{"k":""#.utf8) + content + Array(#""}"#.utf8)))
            }
        }
    }

    @Test("the scanner stays inside a buffer cut from a larger one")
    func slicedBuffer() {
        // A valid object whose closing quote and brace are followed, outside the slice, by bytes
        // that would make it valid or invalid if they were read.
        let text = Array(#"{"k":"abcdefghijk"}"#.utf8)
        let padded = text + Array(#""}"#.utf8)
        let all = padded.span.bytes
        let whole = JSONObjectValidator.isObject(all.extracting(0..<text.count))
        let cut = JSONObjectValidator.isObject(all.extracting(0..<(text.count - 2)))
        #expect(whole)
        #expect(!cut)
    }

    @Test("a large valid object is accepted from a span")
    func largeObject() {
        let members = (0..<500).map { "\"k\($0)\":[\($0),\"v\($0)\"]" }.joined(separator: ",")
        let bytes = Array("{\(members)}".utf8)
        let accepted = JSONObjectValidator.isObject(bytes.span.bytes)
        #expect(accepted)
    }
}
