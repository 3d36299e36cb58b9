import TernAuth
import TernCore
import TernWire

/// Access Tokens on the data port (protocol.md §4.15): verified at HELLO and at REFRESH_TOKEN,
/// grants checked at SUBSCRIBE, expiry watched by the connection timer scan, revocation told by
/// the mailbox. Nothing here runs per message.
extension DataPortSession {
    /// Verifies a token against the broker's keys and the wall clock.
    /// - Throws: the token's refusal as a fatal `WireError` (the caller decides whether it is fatal).
    func verify(_ token: String) throws(WireError) -> AccessToken {
        let verifier = AccessTokenVerifier(
            accountSid: broker.accountSid,
            clockSkewSeconds: Int64(configuration.tokenClockSkewSeconds)
        )
        do {
            return try verifier.verify(token, now: plane.unixSeconds()) { [broker] sid in broker.keySecret(sid: sid) }
        } catch {
            throw WireError(Self.code(for: error), error.description)
        }
    }

    static func code(for error: AccessTokenError) -> ErrorCode {
        switch error {
        case .malformed: return .tokenInvalid
        case .badSignature: return .tokenSignatureInvalid
        case .expired: return .tokenExpired
        case .notYetValid: return .tokenNotYetValid
        case .unknownKey: return .keyRevoked
        }
    }

    /// Makes `token` the connection's: its identity, grants and expiry timer.
    func adopt(_ token: AccessToken, on connection: Connection) {
        let remainingMilliseconds =
            (token.expires + Int64(configuration.tokenClockSkewSeconds) - plane.unixSeconds()) * 1000
        connection.token = ConnectionToken(token, deadline: plane.now() + remainingMilliseconds)
    }

    /// The stream a SUBSCRIBE or RESUME names under a token, grants before existence so that a
    /// token reveals nothing of streams it does not cover (§4.15): a bare name is looked up in
    /// the token's service, another service's name is refused unlooked, and a missing stream is
    /// refused as it would be if it existed under that name. nil after answering a refusal.
    /// - Throws: INVALID_STREAM_NAME, or STREAM_NOT_FOUND for a missing stream the token covers.
    func grantedStream(
        _ connection: Connection,
        _ token: AccessToken,
        requestID: UInt32,
        name: String,
        attachOnly: Bool
    ) throws(BrokerError) -> (stream: BrokerStream, mayPublish: Bool)? {
        let address = try broker.address(of: name, bareNamesIn: token.serviceSid)
        if case .inService(let serviceSid, _) = address, serviceSid != token.serviceSid {
            refuseOtherService(connection, token, requestID: requestID, name: name)
            return nil
        }
        let stream: BrokerStream
        do {
            stream = try broker.stream(at: address)
        } catch {
            let (sid, uniqueName) = address.grantKeys
            let operation: StreamGrants.Operation = attachOnly ? .publish : .subscribe
            if token.allows(operation, streamSid: sid, uniqueName: uniqueName) { throw error }
            refuseUngranted(connection, requestID: requestID, name: name, attachOnly: attachOnly)
            return nil
        }
        guard
            let mayPublish = grantCheck(
                connection,
                token,
                stream: stream,
                requestID: requestID,
                name: name,
                attachOnly: attachOnly
            )
        else { return nil }
        return (stream, mayPublish)
    }

    /// SUBSCRIBE under a token: nil after answering a refusal; else whether PUBLISH is granted too.
    func grantCheck(
        _ connection: Connection,
        _ token: AccessToken,
        stream: BrokerStream,
        requestID: UInt32,
        name: String,
        attachOnly: Bool
    ) -> Bool? {
        guard stream.serviceSid == token.serviceSid else {
            refuseOtherService(connection, token, requestID: requestID, name: name)
            return nil
        }
        let mayPublish = token.allows(.publish, streamSid: stream.sid, uniqueName: stream.uniqueName)
        let granted =
            attachOnly ? mayPublish : token.allows(.subscribe, streamSid: stream.sid, uniqueName: stream.uniqueName)
        guard granted else {
            refuseUngranted(connection, requestID: requestID, name: name, attachOnly: attachOnly)
            return nil
        }
        return mayPublish
    }

    private func refuseOtherService(_ connection: Connection, _ token: AccessToken, requestID: UInt32, name: String) {
        answerError(
            connection,
            requestID: requestID,
            .serviceNotGranted,
            "stream '\(name)' is not in the Access Token's service \(token.serviceSid)"
        )
    }

    /// The one answer for a stream the token does not cover, whether or not it exists.
    private func refuseUngranted(_ connection: Connection, requestID: UInt32, name: String, attachOnly: Bool) {
        answerError(
            connection,
            requestID: requestID,
            attachOnly ? .publishNotGranted : .subscribeNotGranted,
            "the Access Token does not grant \(attachOnly ? "publishing to" : "subscribing to") stream '\(name)'"
        )
    }

    /// REFRESH_TOKEN: a new token for the same identity, service and grants takes over the
    /// connection's expiry. A refusal is a request-level ERROR; the current token stays.
    func refresh(_ connection: Connection, requestID: UInt32, token text: String) {
        guard let current = connection.accessToken else {
            refuseRefresh(connection, requestID, .refreshRefused, "this connection did not open with an Access Token")
            return
        }
        let token: AccessToken
        do {
            token = try verify(text)
        } catch {
            refuseRefresh(connection, requestID, error.code, error.message)
            return
        }
        guard token.identity == current.identity, token.serviceSid == current.serviceSid,
            token.streamGrants == current.streamGrants
        else {
            refuseRefresh(
                connection,
                requestID,
                .refreshRefused,
                "the new token must carry the same identity, service and stream grants (reconnect to change them)"
            )
            return
        }
        adopt(token, on: connection)
        plane.sendControl(connection, .tokenRefreshed(requestID: requestID, expiresAt: UInt64(token.expires)))
    }

    private func refuseRefresh(_ connection: Connection, _ requestID: UInt32, _ code: ErrorCode, _ message: String) {
        plane.counters.recordRejected(code)
        plane.sendControl(connection, .error(.init(requestID: requestID, code: code, message: message, fatal: false)))
    }

    /// The timer scan's look at a token: TOKEN_EXPIRING once (version 2), then the end. True when
    /// the connection was ended.
    func checkToken(_ connection: Connection, deadline: Int64, now: Int64) -> Bool {
        if now >= deadline {
            plane.counters.recordRejected(.tokenExpired)
            plane.logger.info(
                "connection \(connection.id) (\(connection.peer)\(connection.identityNote)): Access Token expired"
            )
            endForCredentials(
                connection,
                reason: .tokenExpired,
                code: .tokenExpired,
                "the Access Token expired at \(connection.accessToken?.expires ?? 0) (Unix seconds) and was not refreshed"
            )
            return true
        }
        let warning = Int64(configuration.tokenExpiryWarningMilliseconds)
        if let token = connection.token, !token.warned, connection.version >= 2, now >= deadline - warning {
            token.warned = true
            let expires = connection.accessToken.map { UInt64($0.expires) } ?? 0
            plane.sendControl(
                connection,
                .tokenExpiring(.init(expiresAt: expires, remainingMilliseconds: UInt32(clamping: deadline - now)))
            )
        }
        return false
    }

    /// The key that signed this connection's token was deleted.
    func revoke(_ connection: Connection) {
        guard connection.state == .open, let keySid = connection.accessToken?.keySid else { return }
        plane.counters.recordRejected(.keyRevoked)
        plane.logger.info("connection \(connection.id) (\(connection.peer)\(connection.identityNote)): API key deleted")
        endForCredentials(connection, reason: .keyRevoked, code: .keyRevoked, "API key \(keySid) was deleted")
    }

    /// Ends every subscription with STREAM_ENDED `reason`, then the connection with a fatal ERROR.
    private func endForCredentials(
        _ connection: Connection,
        reason: StreamEndReason,
        code: ErrorCode,
        _ message: String
    ) {
        for (streamID, subscription) in connection.subscriptions.sorted(by: { $0.key < $1.key }) {
            plane.fanOut.sendDropNotices(connection, streamID: streamID)
            if subscription.laneOf != 0 { continue }
            plane.sendControl(connection, .streamEnded(streamID: streamID, reason: reason))
        }
        fail(connection, requestID: 0, code, message)
    }
}
