/// Control-port paths the CLI builds itself (for requests `ControlClient` has no method for),
/// each segment percent-encoded so a unique name such as `room 1/a` stays one segment.
enum ControlPath {
    static let services = "/v1/Services"
    static let authToken = "/v1/Tern/AuthToken"

    static func service(_ sid: String) -> String { "\(services)/\(segment(sid))" }

    static func stream(serviceSid: String, _ sidOrUniqueName: String) -> String {
        "\(service(serviceSid))/Streams/\(segment(sidOrUniqueName))"
    }

    /// RFC 3986 unreserved bytes stay; every other byte becomes `%XX`.
    static func segment(_ text: String) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "~"):
                out.append(byte)
            default:
                out += [UInt8(ascii: "%"), hex[Int(byte >> 4)], hex[Int(byte & 0xF)]]
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
