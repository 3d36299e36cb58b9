import TernCore

/// Where the control API listens, how it spells the absolute URLs in its responses, and whom it
/// lets in.
public struct ControlAPIConfiguration: Sendable {
    /// Address to bind, e.g. `127.0.0.1`.
    public var host: String
    /// Port to bind; 0 picks an ephemeral port (reported through `ControlServer.run(onBound:)`).
    public var port: Int
    /// A listening TCP socket to serve instead of binding `host`:`port`, e.g. the `control` fd
    /// systemd passed (socket activation). The server takes ownership and closes it when it stops.
    /// `host` and `port` then only name the fallback in a response's URLs when a request has no
    /// Host header.
    public var adoptedSocket: Int32?
    /// Base of every `url` and paging link, e.g. `https://sync.example.com`. Nil: `http://` plus the
    /// request's Host header, so links work for whoever reached the server, whatever name they used.
    public var publicBaseURL: String?
    /// The account's credentials. When set, every request but `GET /healthz` must carry them as
    /// HTTP Basic (account sid : auth token), as Twilio's helper libraries send them; otherwise it
    /// is answered 401/20003. Nil turns authentication off (loopback-only deployments).
    ///
    /// A holder rather than a value so the data port can share it: a token rotated over REST
    /// applies to the next request and the next HELLO alike.
    public var credentials: CredentialsHolder?
    /// Saves a new auth token durably. `POST /v1/Tern/AuthToken` calls it with the new token
    /// before switching over, and switches only if it returns; if it throws, the old token stays
    /// in force and the request fails with 500/20500. Nil: rotated tokens live in memory only and
    /// the old one is back after a restart (for embedding and tests; `ternd` always sets it).
    public var persistAuthToken: (@Sendable (String) throws -> Void)?
    /// What `GET /metrics` and `GET /connz` show about the rest of the process (data plane,
    /// broker). Nil: both answer 404/20404, as they do for an embedding without a data plane.
    public var introspection: (any ControlIntrospection)?
    /// Connections, timeouts and header size a client may use.
    public var connectionLimits: ControlConnectionLimits

    public init(
        host: String = "127.0.0.1",
        port: Int = 7480,
        adoptedSocket: Int32? = nil,
        publicBaseURL: String? = nil,
        credentials: CredentialsHolder? = nil,
        persistAuthToken: (@Sendable (String) throws -> Void)? = nil,
        introspection: (any ControlIntrospection)? = nil,
        connectionLimits: ControlConnectionLimits = .init()
    ) {
        self.connectionLimits = connectionLimits
        self.host = host
        self.port = port
        self.adoptedSocket = adoptedSocket
        self.publicBaseURL = publicBaseURL
        self.credentials = credentials
        self.persistAuthToken = persistAuthToken
        self.introspection = introspection
    }
}
