/// Fixed sizes of the protocol (versions 1 to 3). Server-configurable limits (payload, frame body,
/// subscriptions) are announced in WELCOME; these are the ones that never change.
public enum WireLimits {
    /// The highest protocol version this codec speaks (2: resumable subscriptions, Access Token
    /// refresh; 3: shared-memory subscriptions and cluster lanes).
    public static let protocolVersion: UInt16 = 3
    /// The lowest protocol version this codec speaks.
    public static let minimumProtocolVersion: UInt16 = 1
    /// Bytes in every frame header: length (4), type (1), flags (1), reserved (2).
    public static let headerSize = 8
    /// Longest unique name, in Unicode scalar values (Twilio's unique-name limit of 320
    /// "characters"). In SUBSCRIBE it applies to the name after any `<ServiceSid>/`.
    public static let maxStreamNameCharacters = 320
    /// The same limit in UTF-8 bytes (four per scalar at most).
    public static let maxStreamNameBytes = 4 * maxStreamNameCharacters
    /// Bytes of a `<ServiceSid>/` in front of a name in SUBSCRIBE: `IS`, 32 hex digits, `/`.
    public static let serviceSidPrefixBytes = 35
    /// Longest SUBSCRIBE `stream` string in bytes; a longer one is `MALFORMED_FRAME`, like every
    /// string over its limit.
    public static let maxStreamFieldBytes = serviceSidPrefixBytes + maxStreamNameBytes
    /// Longest `client_name` in HELLO.
    public static let maxClientNameBytes = 64
    /// Longest `token` in HELLO and REFRESH_TOKEN: an Access Token with stream grants runs to a
    /// few KiB.
    public static let maxTokenBytes = 8192
    /// Largest valid HELLO body: two versions and both strings at their limits. A HELLO of up to
    /// this size is accepted whatever the server's `max_frame_body`, so it fits before WELCOME
    /// announces the limit.
    public static let maxHelloBody = 2 + 2 + 2 + maxClientNameBytes + 2 + maxTokenBytes
    /// Largest valid REFRESH_TOKEN body (request id and token); accepted likewise.
    public static let maxRefreshTokenBody = 4 + 2 + maxTokenBytes
    /// The larger of the two: a server's read buffer must hold a frame this large whatever its
    /// `max_frame_body`.
    public static let maxTokenFrameBody = max(maxHelloBody, maxRefreshTokenBody)
    /// Longest `message` in ERROR.
    public static let maxErrorMessageBytes = 1024
    /// Bytes of a MESSAGE body before the payload: stream id (4) and sequence (8).
    public static let messageBodyOverhead = 12
    /// Bytes of a PUBLISH body before the payload: request id (4) and stream id (4).
    public static let publishBodyOverhead = 8
    /// Room `max_frame_body` must leave above `max_payload` so that a full PUBLISH fits.
    public static let frameBodySlack = 64
}
