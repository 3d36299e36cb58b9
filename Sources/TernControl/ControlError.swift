import Hummingbird
import TernCore

/// A REST error, answered in Twilio's legacy body and nothing else:
/// `{"code": N, "message": "...", "more_info": "https://www.twilio.com/docs/errors/N", "status": HTTP}`.
///
/// ## Error mapping (copy for the README)
///
/// | situation                                                         | HTTP | code  |
/// | ----------------------------------------------------------------- | ---- | ----- |
/// | credentials required (`ternd --auth required`) and missing or wrong, on any path but `/healthz` (so also `/metrics` and `/connz`); with `WWW-Authenticate: Basic realm="Tern"` | 401 | 20003 |
/// | unknown path                                                      | 404  | 20404 |
/// | unknown service sid in the path                                   | 404  | 20404 |
/// | unknown stream, by sid or by unique name (also: deleted meanwhile) | 404  | 20404 |
/// | `POST /v1/Tern/AuthToken` while authentication is off             | 404  | 20404 |
/// | method not allowed on a known path (`Allow` header lists the good ones) | 405 | 20004 |
/// | `FriendlyName` of a service not UTF-8, or over 255 characters (a key's: over 64) | 400  | 20002 |
/// | an API key (`SK…:secret`) used on `…/Keys…` or `/v1/Tern/AuthToken` | 403 | 20403 |
/// | unknown API key sid, or an account sid in a `/2010-04-01/Accounts/…` path that is not this server's | 404 | 20404 |
/// | deleting the default service (the data port resolves bare stream names in it) | 403 | 20403 |
/// | `UniqueName` already used in the service                          | 409  | 54301 |
/// | `UniqueName` empty, over 320 characters, sid-shaped, or not UTF-8 | 400  | 54302 |
/// | `Ttl` not an integer, or outside 0...31 536 000                   | 400  | 54011 |
/// | stream update (`POST …/Streams/{Sid}`) without any parameter      | 400  | 54010 |
/// | `Data` missing, `null`, or valid JSON that is not an object       | 400  | 54251 |
/// | `Data` not valid JSON                                             | 400  | 54008 |
/// | `Data` over the max payload (default 4096 bytes), or a message body too big to read | 413 | 54006 |
/// | any other request body over the read limit                        | 413  | 20413 |
/// | `PageSize` not an integer in 1...1000                             | 400  | 54454 |
/// | `/connz` with a `sort` it does not know, or a `limit` not an integer ≥ 1 | 400 | 20001 |
/// | `PageToken` not one this server issued                            | 400  | 54453 |
/// | stream publish rate limit exceeded (`--publish-rate`, `--twilio-limits`) | 429 | 54009 |
/// | unexpected server failure (e.g. the store refused a write, or a rotated token could not be saved) | 500 | 20500 |
/// | malformed HTTP, e.g. a body shorter than its `Content-Length` before the client half-closes | 400 | 20400 |
/// | request head not complete within `--control-header-timeout`, or body within `--control-request-timeout` | 408 | 20408 |
/// | request line and headers over `--control-max-header` (default 16 KiB)  | 431 | 20431 |
/// | control port at `--control-max-connections` (the connection is closed after the answer) | 503 | 20503 |
/// | cluster mode: a registry change (create, update, delete of services, streams, keys, the auth token) while the NATS backbone is unreachable | 503 | 20503 |
///
/// Why these codes: Twilio's REST API answers a missing Sync resource (service, document, stream,
/// by sid or unique name alike) with 404/20404 "The requested resource /Services/IS…/… was not
/// found"; the Sync-specific 54050 / 54250 / 54300 are what its client SDKs report, so the REST
/// port does not use them. 54251 ("Invalid Stream Message data") and 54008 ("Invalid JSON") are
/// Twilio's codes for a Stream Message's `Data`; 54006 ("Request entity too large") for its size,
/// with HTTP 413 as its name says. 54453/54454 are Sync's paging-parameter errors. `Page` is
/// "simply for client state" in Twilio's docs: an unparsable `Page` counts as 0, not as an error.
/// 20003 "Authenticate" is what Twilio answers a request with missing or wrong credentials;
/// 20002 is its "Invalid FriendlyName"; 20403 its "Forbidden"; 20001 its "Invalid parameter".
struct ControlError: Error, Sendable, Equatable {
    var status: HTTPResponse.Status
    var code: Int
    var message: String

    /// The body, built by hand so the key order and the absence of other keys are certain.
    var body: [UInt8] {
        JSONObject.build { json in
            json.field("code", code)
            json.field("message", message)
            json.field("more_info", "https://www.twilio.com/docs/errors/\(code)")
            json.field("status", status.code)
        }
    }

    // MARK: The errors

    /// `resourcePath` is the request path without `/v1`, as Twilio spells it in this message.
    static func notFound(_ resourcePath: String) -> ControlError {
        ControlError(status: .notFound, code: 20404, message: "The requested resource \(resourcePath) was not found")
    }

    static let unauthenticated = ControlError(status: .unauthorized, code: 20003, message: "Authenticate")

    /// The token endpoint does not exist while there are no credentials to rotate.
    static func authenticationOff(_ resourcePath: String) -> ControlError {
        ControlError(
            status: .notFound,
            code: 20404,
            message: "The requested resource \(resourcePath) was not found: authentication is off (ternd --auth off)"
        )
    }

    /// Twilio's standard API keys cannot manage keys or credentials.
    static func keyForbidden(_ sid: String) -> ControlError {
        ControlError(
            status: .forbidden,
            code: 20403,
            message: "Forbidden: API key \(sid) cannot manage API keys or the auth token; use the account's auth token"
        )
    }

    static func invalidFriendlyName(_ why: String) -> ControlError {
        ControlError(status: .badRequest, code: 20002, message: "Invalid FriendlyName: \(why)")
    }

    static func defaultServiceUndeletable(_ sid: String) -> ControlError {
        ControlError(
            status: .forbidden,
            code: 20403,
            message: "Forbidden: \(sid) is the default service, in which the data port resolves bare stream names"
        )
    }

    static func methodNotAllowed(_ method: HTTPRequest.Method) -> ControlError {
        ControlError(status: .methodNotAllowed, code: 20004, message: "Method \(method.rawValue) not allowed")
    }

    static func uniqueNameTaken(_ name: String) -> ControlError {
        ControlError(status: .conflict, code: 54301, message: "Unique name already exists: \(name)")
    }

    static func invalidUniqueName(_ why: String) -> ControlError {
        ControlError(status: .badRequest, code: 54302, message: "Invalid unique name: \(why)")
    }

    static func invalidTtl(_ why: String) -> ControlError {
        ControlError(status: .badRequest, code: 54011, message: "Invalid TTL: \(why)")
    }

    static let noParameters = ControlError(
        status: .badRequest,
        code: 54010,
        message: "No parameters specified: expected Ttl"
    )

    static func invalidMessageData(_ why: String) -> ControlError {
        ControlError(status: .badRequest, code: 54251, message: "Invalid Stream Message data: \(why)")
    }

    static let invalidJSON = ControlError(
        status: .badRequest,
        code: 54008,
        message: "Invalid JSON: the 'Data' parameter is not valid JSON"
    )

    static func messageTooLarge(limit: Int) -> ControlError {
        ControlError(
            status: .contentTooLarge,
            code: 54006,
            message: "Request entity too large: 'Data' must be at most \(limit) bytes of serialized JSON"
        )
    }

    static func bodyTooLarge(limit: Int) -> ControlError {
        ControlError(
            status: .contentTooLarge,
            code: 20413,
            message: "Request entity too large: the body exceeds \(limit) bytes"
        )
    }

    static let invalidPageSize = ControlError(
        status: .badRequest,
        code: 54454,
        message: "Invalid 'PageSize' query parameter: must be an integer between 1 and \(PageRequest.maxSize)"
    )

    /// A query parameter of Tern's own endpoints (`/connz`) that is not one of the values allowed.
    static func invalidParameter(_ name: String, _ why: String) -> ControlError {
        ControlError(status: .badRequest, code: 20001, message: "Invalid parameter '\(name)': \(why)")
    }

    static let invalidPageToken = ControlError(
        status: .badRequest,
        code: 54453,
        message: "Invalid 'PageToken' query parameter"
    )

    static func rateLimited(perSecond: Double) -> ControlError {
        ControlError(
            status: .tooManyRequests,
            code: 54009,
            message: "Rate limit exceeded: at most \(perSecond.formatted()) messages per second per stream"
        )
    }

    static let internalError = ControlError(
        status: .internalServerError,
        code: 20500,
        message: "Internal server error"
    )

    // MARK: Connection limits (`ControlConnectionLimits`); code 20000 + the HTTP status

    /// A request the HTTP parser refuses, e.g. a body shorter than its Content-Length.
    static func malformedRequest(_ why: String) -> ControlError {
        ControlError(status: .badRequest, code: 20400, message: "Bad request: malformed HTTP (\(why))")
    }

    static func requestTimeout(waited: Duration, wholeRequest: Bool) -> ControlError {
        ControlError(
            status: .requestTimeout,
            code: 20408,
            message:
                "Request timeout: the \(wholeRequest ? "request body" : "request head") did not arrive within \(waited.components.seconds) s"
        )
    }

    static func headersTooLarge(limit: Int) -> ControlError {
        ControlError(
            status: .requestHeaderFieldsTooLarge,
            code: 20431,
            message: "Request header fields too large: request line and headers must be at most \(limit) bytes"
        )
    }

    static func tooManyConnections(limit: Int) -> ControlError {
        ControlError(
            status: .serviceUnavailable,
            code: 20503,
            message: "Service unavailable: the control port is at its limit of \(limit) connections; retry later"
        )
    }
}

extension ControlError {
    /// The REST answer to a broker refusal. `resourcePath` names the resource for a 404.
    init(_ error: BrokerError, resourcePath: String, maxPayload: Int) {
        switch error {
        case .serviceNotFound, .streamNotFound, .keyNotFound: self = .notFound(resourcePath)
        case .invalidFriendlyName(let why): self = .invalidFriendlyName(why)
        case .uniqueNameTaken(let name): self = .uniqueNameTaken(name)
        case .invalidUniqueName(let why): self = .invalidUniqueName(why)
        case .invalidTtl(let why): self = .invalidTtl(why)
        case .payloadTooLarge: self = .messageTooLarge(limit: maxPayload)
        case .invalidPayload: self = .invalidMessageData("must be a JSON object")
        case .rateLimited(let rate): self = .rateLimited(perSecond: rate)
        case .storageFailed, .invalidLimits: self = .internalError
        case .backboneUnavailable:
            self = ControlError(status: .serviceUnavailable, code: 20503, message: error.message)
        }
    }
}
