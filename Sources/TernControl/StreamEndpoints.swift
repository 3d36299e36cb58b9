import TernCore

/// `/v1/Services/{ServiceSid}/Streams[/{Sid}]`: create, list, fetch, update, delete.
extension ControlAPI {
    func createStream(serviceSid: String, _ request: ControlRequest) throws(ControlError) -> ControlReply {
        var uniqueName: String?
        if let text = request.form.text("UniqueName") {
            guard let text else { throw .invalidUniqueName("must be UTF-8 text") }
            uniqueName = text
        }
        let ttl = try Self.ttl(in: request.form)
        let stream = try brokerCall(request) { () throws(BrokerError) in
            try broker.createStream(serviceSid: serviceSid, uniqueName: uniqueName, ttl: ttl)
        }
        return .json(.created) { $0.stream(stream.snapshot, urls: request.urls) }
    }

    func listStreams(serviceSid: String, _ request: ControlRequest) throws(ControlError) -> ControlReply {
        let pageRequest = try PageRequest(query: request.query)
        let streams = try brokerCall(request) { () throws(BrokerError) in try broker.streams(serviceSid: serviceSid) }
        let page = Page(of: streams, request: pageRequest, key: \.creationIndex)
        return .json(.ok) { json in
            json.objects("streams", page.items) { $0.stream($1.snapshot, urls: request.urls) }
            json.pagingMeta(
                listKey: "streams",
                listURL: request.urls.streams(serviceSid),
                request: pageRequest,
                page: page
            )
        }
    }

    func fetchStream(serviceSid: String, key: String, _ request: ControlRequest) throws(ControlError) -> ControlReply {
        let stream = try brokerCall(request) { () throws(BrokerError) in
            try broker.stream(serviceSid: serviceSid, key: key)
        }
        return .json(.ok) { $0.stream(stream.snapshot, urls: request.urls) }
    }

    /// Twilio's update takes only `Ttl`; an update that names nothing is 54010.
    func updateStream(serviceSid: String, key: String, _ request: ControlRequest) throws(ControlError) -> ControlReply {
        let stream = try brokerCall(request) { () throws(BrokerError) in
            try broker.stream(serviceSid: serviceSid, key: key)
        }
        guard request.form.value("Ttl") != nil else { throw .noParameters }
        let ttl = try Self.ttl(in: request.form)
        try brokerCall(request) { () throws(BrokerError) in try broker.updateStream(stream, ttl: ttl) }
        return .json(.ok) { $0.stream(stream.snapshot, urls: request.urls) }
    }

    /// Subscribers get STREAM_ENDED from the broker; the REST answer is 204 with no body.
    func deleteStream(serviceSid: String, key: String, _ request: ControlRequest) throws(ControlError) -> ControlReply {
        let stream = try brokerCall(request) { () throws(BrokerError) in
            try broker.stream(serviceSid: serviceSid, key: key)
        }
        let deleted = try brokerCall(request) { () throws(BrokerError) in try broker.deleteStream(stream) }
        guard deleted else { throw .notFound(request.resourcePath) }
        return ControlReply(status: .noContent, body: nil)
    }

    /// `Ttl` in seconds: absent or empty means "never expires" (Twilio: "must either be empty
    /// or an integer"); the broker checks the range.
    static func ttl(in form: FormFields) throws(ControlError) -> Int? {
        guard let text = form.text("Ttl") else { return nil }
        guard let text else { throw .invalidTtl("must be an integer number of seconds") }
        if text.isEmpty { return nil }
        guard let seconds = Int(text) else { throw .invalidTtl("must be an integer number of seconds") }
        return seconds
    }
}
