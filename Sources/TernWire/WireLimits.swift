/// Fixed sizes of protocol version 1. Server-configurable limits (payload, frame body,
/// subscriptions) are announced in WELCOME; these are the ones that never change.
public enum WireLimits {
    /// The protocol version this codec speaks.
    public static let protocolVersion: UInt16 = 1
    /// Bytes in every frame header: length (4), type (1), flags (1), reserved (2).
    public static let headerSize = 8
    /// Longest stream sid or unique name in SUBSCRIBE, in characters (Twilio's unique-name limit).
    public static let maxStreamNameCharacters = 320
    /// The same limit in UTF-8 bytes (four per character at most).
    public static let maxStreamNameBytes = 4 * maxStreamNameCharacters
    /// Longest `client_name` in HELLO.
    public static let maxClientNameBytes = 64
    /// Longest `token` in HELLO.
    public static let maxTokenBytes = 256
    /// Longest `message` in ERROR.
    public static let maxErrorMessageBytes = 1024
    /// Bytes of a MESSAGE body before the payload: stream id (4) and sequence (8).
    public static let messageBodyOverhead = 12
    /// Bytes of a PUBLISH body before the payload: request id (4) and stream id (4).
    public static let publishBodyOverhead = 8
    /// Room `max_frame_body` must leave above `max_payload` so that a full PUBLISH fits.
    public static let frameBodySlack = 64
}
