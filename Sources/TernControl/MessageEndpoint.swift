import TernCore

/// `POST /v1/Services/{ServiceSid}/Streams/{Sid}/Messages`: publish one message.
extension ControlAPI {
    /// Publishes `Data` byte for byte (the broker validates size and JSON-object shape once) and
    /// answers `{"sid": "TZ…", "data": <the same bytes>}`.
    func publishMessage(
        serviceSid: String,
        streamKey: String,
        _ request: ControlRequest
    ) throws(ControlError)
        -> ControlReply
    {
        let stream = try brokerCall(request) { () throws(BrokerError) in
            try broker.stream(serviceSid: serviceSid, key: streamKey)
        }
        guard let data = request.form.value("Data"), !data.allSatisfy(Self.isJSONWhitespace) else {
            throw .invalidMessageData("the 'Data' parameter is required")
        }
        let outcome = Result { () throws(BrokerError) in try broker.publish(to: stream, payload: data.span.bytes) }
        switch outcome {
        case .success(let sequence):
            return .json(.created) { json in
                json.field("sid", stream.sidPrefix.messageSid(sequence: sequence))
                json.field("data", rawJSON: data)
            }
        case .failure(.invalidPayload):
            throw Self.isJSONValue(data) ? .invalidMessageData("must be a JSON object") : .invalidJSON
        case .failure(let error):
            throw ControlError(error, resourcePath: request.resourcePath, maxPayload: broker.limits.maxPayload)
        }
    }

    /// Whether `bytes` is some JSON value (to tell "not JSON" from "JSON but not an object").
    /// Only runs on the error path; it reuses the broker's validator by wrapping the value.
    static func isJSONValue(_ bytes: [UInt8]) -> Bool {
        JSONObjectValidator.isObject(Array(#"{"v":"#.utf8) + bytes + [UInt8(ascii: "}")])
    }

    private static func isJSONWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D
    }
}
