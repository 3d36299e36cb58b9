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
        case 2 where decoded[0] == "v1" && decoded[1] == "Services": self = .services
        case 3 where decoded[0] == "v1" && decoded[1] == "Services": self = .service(sid: decoded[2])
        case 3 where decoded[0] == "v1" && decoded[1] == "Tern" && decoded[2] == "AuthToken": self = .authToken
        case 4 where decoded[0] == "v1" && decoded[1] == "Services" && decoded[3] == "Streams":
            self = .streams(serviceSid: decoded[2])
        case 5 where decoded[0] == "v1" && decoded[1] == "Services" && decoded[3] == "Streams":
            self = .stream(serviceSid: decoded[2], key: decoded[4])
        case 6
        where decoded[0] == "v1" && decoded[1] == "Services" && decoded[3] == "Streams" && decoded[5] == "Messages":
            self = .messages(serviceSid: decoded[2], streamKey: decoded[4])
        default: return nil
        }
    }

    /// Methods the resource answers; anything else is 405/20004 with an `Allow` header.
    var allowedMethods: [HTTPRequest.Method] {
        switch self {
        case .health: return [.get]
        case .services, .streams: return [.get, .post]
        case .service, .stream: return [.get, .post, .delete]
        case .messages, .authToken: return [.post]
        }
    }

    /// Whether a POST to this route carries a message payload (its oversize body is 54006).
    var carriesMessageData: Bool {
        if case .messages = self { return true }
        return false
    }
}
