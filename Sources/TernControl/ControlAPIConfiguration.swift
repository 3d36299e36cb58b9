/// Where the control API listens and how it spells the absolute URLs in its responses.
public struct ControlAPIConfiguration: Sendable {
    /// Address to bind, e.g. `127.0.0.1`.
    public var host: String
    /// Port to bind; 0 picks an ephemeral port (reported through `ControlServer.run(onBound:)`).
    public var port: Int
    /// Base of every `url` and paging link, e.g. `https://sync.example.com`. Nil: `http://` plus the
    /// request's Host header, so links work for whoever reached the server, whatever name they used.
    public var publicBaseURL: String?

    public init(host: String = "127.0.0.1", port: Int = 7480, publicBaseURL: String? = nil) {
        self.host = host
        self.port = port
        self.publicBaseURL = publicBaseURL
    }
}
