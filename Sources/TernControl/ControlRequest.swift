import Hummingbird

/// A request as the endpoint handlers see it: routed, with its query and form already decoded.
struct ControlRequest {
    var method: HTTPRequest.Method
    var route: ControlRoute
    /// The path without `/v1`, as Twilio names the resource in its 404 message.
    var resourcePath: String
    var query: FormFields
    var form: FormFields
    var urls: ResourceURLs
}

/// What an endpoint answers: a status and a body (none for 204), JSON unless said otherwise.
struct ControlReply {
    static let jsonContentType = "application/json; charset=utf-8"

    var status: HTTPResponse.Status
    var body: [UInt8]?
    var allow: [HTTPRequest.Method] = []
    /// `WWW-Authenticate` of a 401.
    var challenge: String?
    var contentType = ControlReply.jsonContentType

    static func json(_ status: HTTPResponse.Status, _ fill: (inout JSONObject) -> Void) -> ControlReply {
        ControlReply(status: status, body: JSONObject.build(fill))
    }

    static func error(_ error: ControlError) -> ControlReply {
        ControlReply(
            status: error.status,
            body: error.body,
            challenge: error.status == .unauthorized ? ControlAPI.authenticateChallenge : nil
        )
    }

    var response: Response {
        var headers = HTTPFields()
        if !allow.isEmpty { headers[.allow] = allow.map(\.rawValue).joined(separator: ", ") }
        if let challenge { headers[.wwwAuthenticate] = challenge }
        guard let body else { return Response(status: status, headers: headers) }
        headers[.contentType] = contentType
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: body)))
    }
}
