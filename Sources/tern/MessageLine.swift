import TernWire

/// Renders a MESSAGE as `{"stream":"TO…","sid":"TZ…","seq":N,"data":<payload>}`.
///
/// The payload is spliced in as received (the server validated it as a JSON object). Raw line
/// breaks in it can only be insignificant whitespace (JSON strings cannot hold them), so they
/// become spaces and each message stays on one line.
enum MessageLine {
    static func render(_ message: Frame.Message, streamSid: String, messageSid sid: String) -> [UInt8] {
        var line = Array(#"{"stream":"\#(streamSid)","sid":"\#(sid)","seq":\#(message.sequence),"data":"#.utf8)
        line.reserveCapacity(line.count + message.payload.count + 1)
        for byte in message.payload {
            line.append(byte == 10 || byte == 13 ? 32 : byte)
        }
        line.append(UInt8(ascii: "}"))
        return line
    }
}
