import TernCore
import Testing

/// Sids have Twilio's shape, and the shape test used to keep unique names unambiguous is exact.
@Suite("Sid")
struct SidTests {
    static let kinds: [Sid.Kind] = [.stream, .service, .account, .message]

    @Test("generated sids are the kind's prefix and 32 lowercase hex digits", arguments: kinds)
    func generateShape(kind: Sid.Kind) {
        var seen = Set<String>()
        for _ in 0..<200 {
            let sid = Sid.generate(kind)
            let utf8 = Array(sid.utf8)
            #expect(utf8.count == 34)
            #expect(sid.hasPrefix(kind.rawValue))
            #expect(utf8[2...].allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }, "\(sid)")
            #expect(Sid.looksLikeSid(sid))
            #expect(Sid.isSid(sid, of: kind))
            seen.insert(sid)
        }
        #expect(seen.count == 200)
    }

    @Test("isSid checks the kind")
    func isSidChecksKind() {
        let stream = Sid.generate(.stream)
        #expect(Sid.isSid(stream, of: .stream))
        #expect(!Sid.isSid(stream, of: .service))
        #expect(!Sid.isSid("IS" + String(repeating: "0", count: 31), of: .service))
        #expect(Sid.isSid(("IS" + String(repeating: "0", count: 32))[...], of: .service))
    }

    @Test("looksLikeSid accepts any two capitals and 32 hex digits of either case")
    func looksLikeSidAccepts() {
        for text in [
            "TO0123456789abcdef0123456789abcdef", "AB0123456789ABCDEF0123456789ABCDEF",
            "ZZ00000000000000000000000000000000",
            "AAffffffffffffffffffffffffffffffff",
        ] {
            #expect(Sid.looksLikeSid(text), "\(text)")
        }
    }

    @Test("looksLikeSid refuses near misses")
    func looksLikeSidRefuses() {
        let hex32 = "0123456789abcdef0123456789abcdef"
        let hex31 = String(hex32.dropLast())
        let hex30 = String(hex32.dropLast(2))
        let nearMisses: [String] = [
            "", "TO", "TO" + hex31, "TO" + hex32 + "0", "to" + hex32, "To" + hex32, "T0" + hex32, "1O" + hex32,
            "TO" + hex31 + "g", "TO" + hex31 + " ", " O" + hex32, "ÉO" + hex31, "TO" + hex30 + "é", "prices",
        ]
        for text in nearMisses {
            #expect(!Sid.looksLikeSid(text), "\(text)")
        }
    }
}

@Suite("UnixTime")
struct UnixTimeTests {
    @Test("iso8601 is Twilio's whole-second UTC format")
    func iso8601() {
        #expect(UnixTime(milliseconds: 0).iso8601 == "1970-01-01T00:00:00Z")
        #expect(UnixTime(milliseconds: 1_438_286_400_999).iso8601 == "2015-07-30T20:00:00Z")
        #expect(UnixTime(milliseconds: 4_102_444_799_000).iso8601 == "2099-12-31T23:59:59Z")
    }

    @Test("adding seconds and ordering")
    func arithmetic() {
        let start = UnixTime(milliseconds: 1_000)
        #expect(start.adding(seconds: 3) == UnixTime(milliseconds: 4_000))
        #expect(start < start.adding(seconds: 1))
        let now = UnixTime.now()
        #expect(now.milliseconds > 1_700_000_000_000)
    }
}
