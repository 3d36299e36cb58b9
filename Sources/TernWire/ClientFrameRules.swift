/// The server's checks on a complete client frame between its header and its body
/// (protocol.md §2.2, steps 2.1 and 2.2): HELLO first and once, then only client-to-server types.
///
/// Shared by the reactor and the protocol-vector tests, so the documented order of checks is the
/// order the server applies.
public enum ClientFrameRules {
    /// - Parameter helloAccepted: whether the connection's HELLO was accepted (WELCOME sent).
    /// - Throws: `HELLO_REQUIRED` for anything but HELLO before it (whatever the body holds);
    ///   `UNEXPECTED_FRAME` for a second HELLO or a server-to-client type.
    ///   - version: the connection's version once HELLO was accepted: a client-to-server type of a
    ///     later version is as unknown as an undefined one (`UNKNOWN_FRAME_TYPE`). A server-to-client
    ///     type is `UNEXPECTED_FRAME` from a client in every version.
    public static func check(
        _ type: FrameType,
        helloAccepted: Bool,
        version: UInt16 = WireLimits.protocolVersion
    )
        throws(WireError)
    {
        if !helloAccepted {
            guard type == .hello else { throw WireError(.helloRequired, "the first frame must be HELLO, got \(type)") }
        } else if type == .hello {
            throw WireError(.unexpectedFrame, "HELLO was already received")
        } else if !type.isClientToServer {
            throw WireError(.unexpectedFrame, "\(type) is a server-to-client frame")
        } else if type.sinceVersion > version {
            throw WireError(
                .unknownFrameType,
                "frame type 0x\(String(type.rawValue, radix: 16)) is not defined in version \(version)"
            )
        }
    }

    /// The version a HELLO gets: the highest both sides speak. `min_version > max_version` is a
    /// range with no version in it.
    /// - Throws: `UNSUPPORTED_VERSION` when this server's version is outside the client's range.
    public static func version(for hello: Frame.Hello) throws(WireError) -> UInt16 {
        let version = min(WireLimits.protocolVersion, hello.maxVersion)
        guard hello.minVersion <= hello.maxVersion, version >= WireLimits.minimumProtocolVersion,
            hello.minVersion <= version
        else {
            throw WireError(
                .unsupportedVersion,
                "server speaks versions \(WireLimits.minimumProtocolVersion)...\(WireLimits.protocolVersion), client \(hello.minVersion)...\(hello.maxVersion)"
            )
        }
        return version
    }
}
