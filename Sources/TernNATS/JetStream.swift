import Foundation
import NIOCore

/// An error JetStream answered with (`{"error":{"code":…,"err_code":…,"description":…}}`).
public struct JetStreamError: Error, Sendable, Equatable, CustomStringConvertible {
    public var code: Int
    public var errorCode: Int
    public var text: String

    /// `err_code` of a publish whose expected last subject sequence did not match.
    public static let wrongLastSequence = 10071
    /// The same, from servers since 2.9.21 when a concurrent conditional publish to the subject
    /// is still in flight (the description is then the constant "wrong last sequence").
    public static let wrongLastSequenceInFlight = 10164

    /// Whether a conditional publish lost to another write.
    public var isWrongLastSequence: Bool {
        errorCode == Self.wrongLastSequence || errorCode == Self.wrongLastSequenceInFlight
    }
    /// `err_code` of a get that found no message.
    public static let noMessageFound = 10037
    /// `err_code` of a stream info for a stream that does not exist.
    public static let streamNotFound = 10059

    public var description: String { "JetStream error \(code)/\(errorCode): \(text)" }
}

/// The JetStream API calls Tern uses: JSON requests on `$JS.API.…`, and publishes acknowledged
/// by the stream (`PubAck`).
public struct JetStream: Sendable {
    public let connection: NATSConnection
    public var timeout: TimeAmount

    public init(connection: NATSConnection, timeout: TimeAmount = .seconds(2)) {
        self.connection = connection
        self.timeout = timeout
    }

    /// Sends a JSON request to `$JS.API.<api>` and returns the decoded answer, or throws the
    /// JetStream error it carries.
    public func call(_ api: String, _ body: [String: Any]) -> EventLoopFuture<JSONAnswer> {
        let payload = (try? JSONSerialization.data(withJSONObject: body)).map { Array($0) } ?? []
        return connection.request(subject: "$JS.API." + api, payload: payload, timeout: timeout)
            .flatMapThrowing { JSONAnswer(object: try Self.decode($0)) }
    }

    /// Publishes to a stream's subject and waits for its acknowledgement; returns the stream
    /// sequence the message got.
    public func publish(subject: String, headers: NATSHeaders? = nil, payload: [UInt8]) -> EventLoopFuture<UInt64> {
        connection.request(subject: subject, headers: headers, payload: payload, timeout: timeout)
            .flatMapThrowing { reply in
                let answer = try Self.decode(reply)
                guard let sequence = (answer["seq"] as? NSNumber)?.uint64Value else {
                    throw JetStreamError(code: 0, errorCode: 0, text: "acknowledgement without seq")
                }
                return sequence
            }
    }

    static func decode(_ message: NATSMessage) throws -> [String: Any] {
        guard let object = try? JSONSerialization.jsonObject(with: Data(message.bytes)) as? [String: Any] else {
            throw JetStreamError(code: 0, errorCode: 0, text: "answer is not a JSON object")
        }
        if let error = object["error"] as? [String: Any] {
            throw JetStreamError(
                code: (error["code"] as? NSNumber)?.intValue ?? 0,
                errorCode: (error["err_code"] as? NSNumber)?.intValue ?? 0,
                text: error["description"] as? String ?? "unknown"
            )
        }
        return object
    }
}

/// A decoded JSON object answered by the JetStream API. (Foundation's `[String: Any]` is not
/// `Sendable`; the answer is only read after it arrived.)
public struct JSONAnswer: @unchecked Sendable {
    public let object: [String: Any]

    public subscript(key: String) -> Any? { object[key] }

    public func uint64(_ key: String) -> UInt64? { (object[key] as? NSNumber)?.uint64Value }
}
