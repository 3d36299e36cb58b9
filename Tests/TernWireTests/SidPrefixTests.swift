import TernWire
import Testing

/// Message sids (`TZ` + hex(prefix ‖ sequence)) and the hex helpers they use.
@Suite("SidPrefix and Hex")
struct SidPrefixTests {
    static func isMessageSid(_ text: String) -> Bool {
        let utf8 = Array(text.utf8)
        guard utf8.count == 34, utf8[0] == UInt8(ascii: "T"), utf8[1] == UInt8(ascii: "Z") else { return false }
        return utf8[2...].allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
    }

    @Test("messageSid spells prefix then sequence in lowercase hex")
    func knownSids() {
        #expect(
            SidPrefix(value: 0x0102_0304_0506_0708).messageSid(sequence: 41) == "TZ01020304050607080000000000000029"
        )
        #expect(SidPrefix(value: 0).messageSid(sequence: 0) == "TZ" + String(repeating: "0", count: 32))
        #expect(SidPrefix(value: .max).messageSid(sequence: .max) == "TZ" + String(repeating: "f", count: 32))
        #expect(
            SidPrefix(value: 0xABCD_EF00_0000_0000).messageSid(sequence: 0xA) == "TZabcdef0000000000000000000000000a"
        )
        let published = Frame.Published(
            requestID: 1,
            streamID: 1,
            sidPrefix: SidPrefix(value: 0x0102_0304_0506_0708),
            sequence: 41
        )
        #expect(published.messageSid == "TZ01020304050607080000000000000029")
    }

    @Test("random prefixes give well-formed, distinct sids")
    func randomSids() {
        var seen = Set<String>()
        for sequence in 1...200 {
            let sid = SidPrefix.random().messageSid(sequence: UInt64(sequence))
            #expect(Self.isMessageSid(sid), "\(sid)")
            seen.insert(sid)
        }
        #expect(seen.count == 200)
    }

    @Test("the prefix's bytes are its wire bytes, big-endian")
    func wireOrder() {
        let wire: [UInt8] = [1, 2, 3, 4, 5, 6, 7, 8]
        let prefix = wire.withUnsafeBytes { SidPrefix(bytes: $0) }
        #expect(prefix.value == 0x0102_0304_0506_0708)
        #expect(prefix.withBytes { Array($0) } == wire)
        var writer = WireWriter()
        writer.bytes8(prefix)
        #expect(writer.bytes == wire)
    }

    static let hexValues: [UInt64] = [0, 1, 0xF, 0x10, 0xDEAD_BEEF, 0x0123_4567_89AB_CDEF, UInt64.max - 1, UInt64.max]

    @Test("Hex round-trips fixed-width values", arguments: hexValues)
    func hexRoundTrip(value: UInt64) {
        let text = Hex.encode(value)
        #expect(text.utf8.count == 16)
        #expect(text == text.lowercased())
        #expect(Hex.decode(text) == value)
        #expect(Hex.decode(text.uppercased()) == value)
    }

    @Test("Hex round-trips random values")
    func hexRandom() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<1000 {
            let value: UInt64 = generator.next()
            #expect(Hex.decode(Hex.encode(value)) == value)
        }
    }

    @Test("Hex.decode refuses anything but 16 hex digits")
    func hexRejects() {
        for text in [
            "", "0", "012345678901234", "01234567890123456", "0123456789abcdeg", "0123456789abcde ", " 123456789abcdef",
            "0x23456789abcdef", "-123456789abcdef", "0123456789abcdé",
        ] {
            #expect(Hex.decode(text) == nil, "\(text)")
        }
        #expect(Hex.decode("0123456789ABCDEF"[...]) == 0x0123_4567_89AB_CDEF)
    }
}
