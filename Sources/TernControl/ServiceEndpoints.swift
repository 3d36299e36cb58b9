import TernCore

/// `GET /v1/Services` and `GET /v1/Services/{ServiceSid}`.
extension ControlAPI {
    func listServices(_ request: ControlRequest) throws(ControlError) -> ControlReply {
        let pageRequest = try PageRequest(query: request.query)
        // Services never change while the process runs, so their position is a stable key.
        let numbered = broker.allServices().enumerated().map { (key: UInt64($0.offset + 1), service: $0.element) }
        let page = Page(of: numbered, request: pageRequest, key: \.key)
        return .json(.ok) { json in
            json.objects("services", page.items) { $0.service($1.service, urls: request.urls) }
            json.pagingMeta(listKey: "services", listURL: request.urls.services(), request: pageRequest, page: page)
        }
    }

    func fetchService(sid: String, _ request: ControlRequest) throws(ControlError) -> ControlReply {
        guard let service = broker.service(sid: sid) else { throw .notFound(request.resourcePath) }
        return .json(.ok) { $0.service(service, urls: request.urls) }
    }
}
