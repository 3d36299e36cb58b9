import Foundation
import TernAuth
import TernWire

/// Access Tokens for tests, minted as Twilio's helper libraries mint them (`TernAuth`'s minter
/// is checked against a token of the official library in `TernAuthTests`; the Twilio suite
/// runs the library itself).
enum AccessTokens {
    static func mint(
        _ daemon: TernDaemon,
        key: (sid: String, secret: String),
        identity: String = "worker-7",
        service: String? = nil,
        grants: StreamGrants? = nil,
        ttl: Int64 = 3600,
        now: Int64 = Int64(Date().timeIntervalSince1970)
    ) -> String {
        AccessTokenMinter.mint(
            keySid: key.sid,
            secret: key.secret,
            accountSid: daemon.accountSid,
            identity: identity,
            serviceSid: service ?? daemon.serviceSid,
            streamGrants: grants,
            ttlSeconds: ttl,
            now: now
        )
    }
}

extension RawDataClient {
    /// HELLO with `token`; the WELCOME, or the ERROR refusing it.
    func hello(token: String, maxVersion: UInt16 = 2, name: String = "test") throws -> Frame? {
        try send(.hello(.init(minVersion: 1, maxVersion: maxVersion, clientName: name, token: token)))
        return try next()
    }

    /// The next frame that is not a PING (answered).
    func nextSkippingPings(timeout: Double = 10) throws -> Frame? {
        while let frame = try next(timeout: timeout) {
            if case .ping(let opaque) = frame {
                try send(.pong(opaque))
                continue
            }
            return frame
        }
        return nil
    }
}
