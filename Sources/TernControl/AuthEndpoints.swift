import Hummingbird
import TernCore

/// HTTP Basic checks and `POST /v1/Tern/AuthToken`.
///
/// The token endpoint is Tern's own (Twilio rotates tokens in its console, not through the Sync
/// API), so it lives under `/v1/Tern/` where no Twilio resource can collide with it.
extension ControlAPI {
    /// `WWW-Authenticate` of every 401, so browsers and curl know to offer Basic credentials.
    static let authenticateChallenge = #"Basic realm="Tern""#

    /// Who sent a request.
    enum Principal: Equatable {
        /// Authentication is off.
        case anonymous
        /// Account sid and auth token.
        case account
        /// An API key's sid and secret (Twilio's `Client(key_sid, secret, account_sid)`).
        case apiKey(String)
    }

    /// Throws 401/20003 unless authentication is off or `authorization` (the header's value)
    /// names this account (`AC…:auth token`) or one of its API keys (`SK…:secret`). Compares in
    /// constant time (see `Credentials.accepts`, `KeySecret.matches`).
    func authenticate(authorization: String?) throws(ControlError) -> Principal {
        guard let credentials = configuration.credentials else { return .anonymous }
        guard let authorization, let basic = BasicAuthorization(header: authorization) else { throw .unauthenticated }
        if basic.user.hasPrefix("SK") {
            guard broker.keyAccepts(sid: basic.user, secret: basic.password) else { throw .unauthenticated }
            return .apiKey(basic.user)
        }
        guard credentials.current.accepts(user: basic.user, password: basic.password) else { throw .unauthenticated }
        return .account
    }

    /// Makes a new auth token, saves it through `ControlAPIConfiguration.persistAuthToken`, puts it
    /// in force and answers `{"account_sid": "AC…", "auth_token": "<new>"}`. The token that
    /// authenticated this request stops working for every later request and HELLO.
    func rotateAuthToken(_ request: ControlRequest) throws(ControlError) -> ControlReply {
        guard let tokenRotation else { throw .authenticationOff(request.resourcePath) }
        let rotated: Credentials
        do {
            rotated = try tokenRotation.rotate()
        } catch {
            logger.error("auth token rotation failed; the old token stays in force", metadata: ["error": "\(error)"])
            throw .internalError
        }
        logger.notice("auth token rotated")
        return .json(.ok) { json in
            json.field("account_sid", rotated.accountSid)
            json.field("auth_token", rotated.authToken)
        }
    }
}
