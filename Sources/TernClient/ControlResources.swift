import Foundation

/// A response from the control port, whatever its status.
public struct ControlResponse: Sendable {
    public var status: Int
    public var body: [UInt8]

    public var isSuccess: Bool { (200..<300).contains(status) }
    public var text: String { String(decoding: body, as: UTF8.self) }

    /// The body parsed as a JSON object.
    public func jsonObject() throws -> [String: Any] {
        guard let object = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any] else {
            throw TernClientError.protocolViolation("control port sent a non-JSON body: \(text.prefix(200))")
        }
        return object
    }

    /// Throws `TernClientError.http` with the Twilio error body's code and message unless 2xx.
    public func requireSuccess() throws {
        if isSuccess { return }
        let object = try? jsonObject()
        throw TernClientError.http(
            status: status,
            code: object?["code"] as? Int,
            message: object?["message"] as? String ?? text
        )
    }
}

/// A Sync Stream as the control port returns it. `json` is the resource exactly as received,
/// for callers that want fields this type does not name.
public struct StreamResource: Sendable {
    public var sid: String
    public var uniqueName: String?
    public var serviceSid: String?
    public var accountSid: String?
    public var dateCreated: String?
    public var dateUpdated: String?
    /// ISO 8601, or nil for a stream that never expires.
    public var dateExpires: String?
    public var url: String?
    public var json: [UInt8]

    init(_ object: [String: Any], json: [UInt8]) throws {
        guard let sid = object["sid"] as? String else {
            throw TernClientError.protocolViolation("stream resource without a sid")
        }
        self.sid = sid
        uniqueName = object["unique_name"] as? String
        serviceSid = object["service_sid"] as? String
        accountSid = object["account_sid"] as? String
        dateCreated = object["date_created"] as? String
        dateUpdated = object["date_updated"] as? String
        dateExpires = object["date_expires"] as? String
        url = object["url"] as? String
        self.json = json
    }
}

/// One page of `GET …/Streams`. `nextPageURL` is nil on the last page.
public struct StreamPage: Sendable {
    public var streams: [StreamResource]
    public var nextPageURL: String?
    public var json: [UInt8]
}

/// The answer to publishing over REST: the message sid and the body as received.
public struct StreamMessageResource: Sendable {
    public var sid: String
    public var json: [UInt8]
}

/// A Sync Service (the namespace streams live in).
public struct ServiceResource: Sendable {
    public var sid: String
    public var friendlyName: String?
    public var json: [UInt8]
}

/// Re-serializes one element of a list body, so list items carry their own `json` too.
func serializedJSON(_ object: Any) -> [UInt8] {
    Array((try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data())
}
