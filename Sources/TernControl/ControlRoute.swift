import Hummingbird

/// The resources of the control API, recognised from a request path.
///
/// Path segments are percent-decoded, so a unique name such as `room 1` may be written `room%201`.
enum ControlRoute: Equatable {
    case health
    case services
    case service(sid: String)
    case streams(serviceSid: String)
    case stream(serviceSid: String, key: String)
    case messages(serviceSid: String, streamKey: String)
    /// `/v1/Tern/AuthToken`: Tern's own token rotation (not a Twilio resource).
    case authToken
    /// `/2010-04-01/Accounts/{AccountSid}/Keys.json`: Twilio's API keys.
    case keys(accountSid: String)
    /// `/2010-04-01/Accounts/{AccountSid}/Keys/{Sid}.json`.
    case key(accountSid: String, sid: String)
    /// `/metrics`: Prometheus text.
    case metrics
    /// `/connz`: the data port's connections (as nats-server's `/connz`).
    case connections
    /// `GET /clusterz`: cluster mode only.
    case cluster

    /// Nil when the path names no resource of this API (answered 404/20404).
    init?(path: String) {
        var segments = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
        if segments.last == "" { segments = segments.dropLast() }  // tolerate one trailing slash
        var decoded: [String] = []
        for segment in segments {
            guard !segment.isEmpty, let text = PercentDecoding.decodePathSegment(segment) else { return nil }
            decoded.append(text)
        }
        switch decoded.count {
        case 1 where decoded[0] == "healthz": self = .health
        case 1 where decoded[0] == "metrics": self = .metrics
        case 1 where decoded[0] == "connz": self = .connections
        case 1 where decoded[0] == "clusterz": self = .cluster
        case 2 where decoded[0] == "v1" && decoded[1] == "Services": self = .services
        case 3 where decoded[0] == "v1" && decoded[1] == "Services": self = .service(sid: decoded[2])
        case 3 where decoded[0] == "v1" && decoded[1] == "Tern" && decoded[2] == "AuthToken": self = .authToken
        case 4 where decoded[0] == "v1" && decoded[1] == "Services" && decoded[3] == "Streams":
            self = .streams(serviceSid: decoded[2])
        case 5 where decoded[0] == "v1" && decoded[1] == "Services" && decoded[3] == "Streams":
            self = .stream(serviceSid: decoded[2], key: decoded[4])
        case 4 where decoded[0] == "2010-04-01" && decoded[1] == "Accounts" && decoded[3] == "Keys.json":
            self = .keys(accountSid: decoded[2])
        case 5
        where decoded[0] == "2010-04-01" && decoded[1] == "Accounts" && decoded[3] == "Keys"
            && decoded[4].hasSuffix(".json"):
            self = .key(accountSid: decoded[2], sid: String(decoded[4].dropLast(5)))
        case 6
        where decoded[0] == "v1" && decoded[1] == "Services" && decoded[3] == "Streams" && decoded[5] == "Messages":
            self = .messages(serviceSid: decoded[2], streamKey: decoded[4])
        default: return nil
        }
    }

    /// Methods the resource answers; anything else is 405/20004 with an `Allow` header.
    var allowedMethods: [HTTPRequest.Method] {
        switch self {
        case .health, .metrics, .connections, .cluster: return [.get]
        case .services, .streams, .keys: return [.get, .post]
        case .service, .stream, .key: return [.get, .post, .delete]
        case .messages, .authToken: return [.post]
        }
    }

    /// The path with its sids and names replaced by placeholders, as metrics label requests:
    /// one time series per resource kind, however many streams there are.
    var template: String {
        switch self {
        case .health: return "/healthz"
        case .cluster: return "/clusterz"
        case .services: return "/v1/Services"
        case .service: return "/v1/Services/{ServiceSid}"
        case .streams: return "/v1/Services/{ServiceSid}/Streams"
        case .stream: return "/v1/Services/{ServiceSid}/Streams/{Sid}"
        case .messages: return "/v1/Services/{ServiceSid}/Streams/{Sid}/Messages"
        case .authToken: return "/v1/Tern/AuthToken"
        case .keys: return "/2010-04-01/Accounts/{AccountSid}/Keys.json"
        case .key: return "/2010-04-01/Accounts/{AccountSid}/Keys/{Sid}.json"
        case .metrics: return "/metrics"
        case .connections: return "/connz"
        }
    }

    /// Whether a POST to this route carries a message payload (its oversize body is 54006).
    var carriesMessageData: Bool {
        if case .messages = self { return true }
        return false
    }
}

extension ControlRoute {
    /// Routes only the account's own credentials may use: an API key may not manage keys or
    /// rotate the auth token (as Twilio's standard keys may not).
    var needsAccountCredentials: Bool {
        switch self {
        case .keys, .key, .authToken: return true
        default: return false
        }
    }
}
