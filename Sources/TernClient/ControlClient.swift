/// A small blocking client for ternd's REST control port (the Twilio Sync Streams API).
///
/// ```swift
/// let control = try ControlClient()                      // http://127.0.0.1:7480
/// let stream = try control.createStream(uniqueName: "prices", ttl: 3600)
/// let message = try control.publish(stream: "prices", data: #"{"px":1}"#)
/// ```
///
/// Plain HTTP/1.1 over one keep-alive socket, no Foundation networking. The service sid is the one
/// given to `init`, or else the first of `GET /v1/Services` (ternd's default service).
/// Not thread-safe: use one client from one thread at a time.
public final class ControlClient {
    /// HTTP Basic credentials, as Twilio takes them.
    public struct Credentials: Sendable {
        public var accountSid: String
        public var authToken: String

        public init(accountSid: String, authToken: String) {
            self.accountSid = accountSid
            self.authToken = authToken
        }
    }

    public let host: String
    public let port: UInt16
    /// How long one request may take, connection included.
    public var timeout: Duration = .seconds(30)

    private let pathPrefix: String
    private let authorization: String?
    private var knownServiceSid: String?
    private let connection: HTTPConnection

    /// - Parameter baseURL: `http://host:port[/prefix]`; `https` is not supported.
    public init(
        baseURL: String = "http://127.0.0.1:7480",
        serviceSid: String? = nil,
        credentials: Credentials? = nil
    )
        throws
    {
        var rest = Substring(baseURL)
        if rest.hasPrefix("http://") {
            rest = rest.dropFirst(7)
        } else if rest.contains("://") {
            throw TernClientError.invalidArgument("only http:// control URLs are supported, got '\(baseURL)'")
        }
        let authority = rest.prefix { $0 != "/" }
        var prefix = String(rest.dropFirst(authority.count))
        while prefix.hasSuffix("/") { prefix.removeLast() }
        guard case .tcp(let host, let port) = try DataEndpoint(parsing: String(authority)) else {
            throw TernClientError.invalidArgument("expected http://HOST:PORT, got '\(baseURL)'")
        }
        self.host = host
        self.port = port
        pathPrefix = prefix
        knownServiceSid = serviceSid
        authorization = credentials.map { "Basic " + Base64.encode("\($0.accountSid):\($0.authToken)") }
        connection = HTTPConnection(host: host, port: port)
    }

    /// Sends one request and returns the response whatever its status. `form` goes in the query
    /// string for GET, HEAD and DELETE, and as a form body otherwise.
    public func request(method: String, path: String, form: [(String, String)] = []) throws -> ControlResponse {
        var target = pathPrefix + path
        var body = ""
        if !form.isEmpty {
            if ["GET", "HEAD", "DELETE"].contains(method) {
                target += (target.contains("?") ? "&" : "?") + FormEncoding.encode(form)
            } else {
                body = FormEncoding.encode(form)
            }
        }
        var head =
            "\(method) \(target) HTTP/1.1\r\nHost: \(host):\(port)\r\nUser-Agent: tern\r\nAccept: application/json\r\n"
        if let authorization { head += "Authorization: \(authorization)\r\n" }
        if !body.isEmpty || !["GET", "HEAD", "DELETE"].contains(method) {
            head += "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: \(body.utf8.count)\r\n"
        }
        let bytes = Array((head + "\r\n" + body).utf8)
        let response = try connection.roundTrip(bytes, isHead: method == "HEAD", deadline: Deadline(after: timeout))
        return ControlResponse(status: response.status, body: response.body)
    }

    /// Closes the keep-alive connection (the next request opens a new one).
    public func close() { connection.close() }

    // MARK: Services

    /// The service requests go to: the one given to `init`, else the first listed (the default).
    public func serviceSid() throws -> String {
        if let knownServiceSid { return knownServiceSid }
        guard let first = try services().first else {
            throw TernClientError.protocolViolation("the control port lists no services")
        }
        knownServiceSid = first.sid
        return first.sid
    }

    public func services() throws -> [ServiceResource] {
        let response = try request(method: "GET", path: "/v1/Services")
        try response.requireSuccess()
        let list = try response.jsonObject()["services"] as? [[String: Any]] ?? []
        return list.compactMap { item in
            (item["sid"] as? String).map {
                ServiceResource(sid: $0, friendlyName: item["friendly_name"] as? String, json: serializedJSON(item))
            }
        }
    }

    // MARK: Streams

    /// Creates a stream. `ttl` is in seconds; nil means it never expires.
    public func createStream(uniqueName: String? = nil, ttl: Int? = nil) throws -> StreamResource {
        var form: [(String, String)] = []
        if let uniqueName { form.append(("UniqueName", uniqueName)) }
        if let ttl { form.append(("Ttl", String(ttl))) }
        return try streamResource(request(method: "POST", path: try streamsPath(), form: form))
    }

    /// Fetches a stream by sid or unique name.
    public func fetchStream(_ sidOrUniqueName: String) throws -> StreamResource {
        try streamResource(request(method: "GET", path: try streamPath(sidOrUniqueName)))
    }

    /// Deletes a stream by sid or unique name; its subscribers receive STREAM_ENDED.
    public func deleteStream(_ sidOrUniqueName: String) throws {
        try request(method: "DELETE", path: try streamPath(sidOrUniqueName)).requireSuccess()
    }

    /// The first page of streams (Twilio's default page size is 50, its maximum 100).
    public func listStreams(pageSize: Int? = nil) throws -> StreamPage {
        let form = pageSize.map { [("PageSize", String($0))] } ?? []
        return try streamPage(request(method: "GET", path: try streamsPath(), form: form))
    }

    /// The page after `page`, or nil if it was the last.
    public func nextPage(after page: StreamPage) throws -> StreamPage? {
        guard let url = page.nextPageURL else { return nil }
        // Keep only the path and query: the server may spell its own address differently.
        var rest = Substring(url)
        if let scheme = rest.range(of: "://") { rest = rest[scheme.upperBound...].drop { $0 != "/" } }
        var path = String(rest)
        if !pathPrefix.isEmpty && path.hasPrefix(pathPrefix) { path.removeFirst(pathPrefix.count) }
        return try streamPage(request(method: "GET", path: path))
    }

    /// Publishes a message over REST (`POST …/Streams/{Sid}/Messages`). `data` is a JSON object.
    public func publish(stream sidOrUniqueName: String, data: String) throws -> StreamMessageResource {
        let response = try request(
            method: "POST",
            path: try streamPath(sidOrUniqueName) + "/Messages",
            form: [("Data", data)]
        )
        try response.requireSuccess()
        guard let sid = try response.jsonObject()["sid"] as? String else {
            throw TernClientError.protocolViolation("message resource without a sid: \(response.text.prefix(200))")
        }
        return StreamMessageResource(sid: sid, json: response.body)
    }

    // MARK: Internals

    private func streamsPath() throws -> String {
        "/v1/Services/\(FormEncoding.percentEncode(try serviceSid()))/Streams"
    }

    private func streamPath(_ sidOrUniqueName: String) throws -> String {
        try streamsPath() + "/" + FormEncoding.percentEncode(sidOrUniqueName)
    }

    private func streamResource(_ response: ControlResponse) throws -> StreamResource {
        try response.requireSuccess()
        return try StreamResource(response.jsonObject(), json: response.body)
    }

    private func streamPage(_ response: ControlResponse) throws -> StreamPage {
        try response.requireSuccess()
        let object = try response.jsonObject()
        let items = object["streams"] as? [[String: Any]] ?? []
        let meta = object["meta"] as? [String: Any]
        return StreamPage(
            streams: try items.map { try StreamResource($0, json: serializedJSON($0)) },
            nextPageURL: meta?["next_page_url"] as? String,
            json: response.body
        )
    }
}
