/// The server's checks on a complete client frame between its header and its body
/// (protocol.md §2.2, steps 2.1 and 2.2): HELLO first and once, then only client-to-server types.
///
/// Shared by the reactor and the protocol-vector tests, so the documented order of checks is the
/// order the server applies.
public enum ClientFrameRules {
    /// - Parameter helloAccepted: whether the connection's HELLO was accepted (WELCOME sent).
    /// - Throws: `HELLO_REQUIRED` for anything but HELLO before it (whatever the body holds);
    ///   `UNEXPECTED_FRAME` for a second HELLO or a server-to-client type.
    ///   `UNKNOWN_FRAME_TYPE` for a type newer than the connection's `version`.
    public static func check(_ type: FrameType, helloAccepted: Bool, version: UInt16 = WireLimits.protocolVersion) throws(WireError) {
        if !helloAccepted {
            guard type == .hello else { throw WireError(.helloRequired, "the first frame must be HELLO, got \(type)") }
        } else if type == .hello {
            throw WireError(.unexpectedFrame, "HELLO was already received")
        } else if type.sinceVersion > version {
            throw WireError(.unknownFrameType, "unknown frame type 0x\(String(type.rawValue, radix: 16)) in protocol version \(version)")
        } else if !type.isClientToServer {
            throw WireError(.unexpectedFrame, "\(type) is a server-to-client frame")
        }
    }

    /// The version a HELLO gets: the highest both sides speak. `min_version > max_version` is a
    /// range with no version in it.
    /// - Throws: `UNSUPPORTED_VERSION` when this server's version is outside the client's range.
    public static func version(for hello: Frame.Hello) throws(WireError) -> UInt16 {
        let version = min(WireLimits.protocolVersion, hello.maxVersion)
        guard hello.minVersion <= version && version >= WireLimits.minProtocolVersion else {
            throw WireError(
                .unsupportedVersion,
                "server speaks versions \(WireLimits.minProtocolVersion)...\(WireLimits.protocolVersion), client \(hello.minVersion)...\(hello.maxVersion)")
        }
        return version
    }
}
