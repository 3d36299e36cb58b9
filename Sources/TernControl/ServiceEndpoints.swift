import TernCore

/// `/v1/Services[/{ServiceSid}]`: Twilio's Sync Service resource. Create, list, fetch, update
/// (`FriendlyName`) and delete.
///
/// Twilio's other service parameters (`WebhookUrl`, `AclEnabled`, `ReachabilityWebhooksEnabled`,
/// …) are accepted and ignored, as unknown parameters are: Tern has no webhooks, ACLs or
/// reachability events, and the JSON says so with Twilio's defaults.
extension ControlAPI {
    /// Longest `FriendlyName`, in characters (a bound on what every list response repeats).
    static let maxFriendlyNameLength = 255

    func createService(_ request: ControlRequest) throws(ControlError) -> ControlReply {
        let friendlyName = try Self.friendlyName(in: request.form) ?? nil
        let service = try brokerCall(request) { () throws(BrokerError) in
            try broker.createService(friendlyName: friendlyName)
        }
        return .json(.created) { $0.service(service, urls: request.urls) }
    }

    func listServices(_ request: ControlRequest) throws(ControlError) -> ControlReply {
        let pageRequest = try PageRequest(query: request.query)
        let ordered = broker.allServices().map { (key: Self.listKey($0), service: $0) }
            .sorted { ($0.key, $0.service.sid) < ($1.key, $1.service.sid) }
        let page = Page(of: ordered, request: pageRequest, key: \.key)
        return .json(.ok) { json in
            json.objects("services", page.items) { $0.service($1.service, urls: request.urls) }
            json.pagingMeta(listKey: "services", listURL: request.urls.services(), request: pageRequest, page: page)
        }
    }

    func fetchService(sid: String, _ request: ControlRequest) throws(ControlError) -> ControlReply {
        guard let service = broker.service(sid: sid) else { throw .notFound(request.resourcePath) }
        return .json(.ok) { $0.service(service, urls: request.urls) }
    }

    /// Only `FriendlyName` changes anything; an update without it answers the service as it is.
    func updateService(sid: String, _ request: ControlRequest) throws(ControlError) -> ControlReply {
        guard let service = broker.service(sid: sid) else { throw .notFound(request.resourcePath) }
        guard let friendlyName = try Self.friendlyName(in: request.form) else {
            return .json(.ok) { $0.service(service, urls: request.urls) }
        }
        let updated = try brokerCall(request) { () throws(BrokerError) in
            try broker.updateService(sid: sid, friendlyName: friendlyName)
        }
        return .json(.ok) { $0.service(updated, urls: request.urls) }
    }

    /// 204; every stream of the service ends (subscribers get STREAM_ENDED reason DELETED).
    func deleteService(sid: String, _ request: ControlRequest) throws(ControlError) -> ControlReply {
        guard broker.service(sid: sid) != nil else { throw .notFound(request.resourcePath) }
        guard sid != broker.defaultServiceSid else { throw .defaultServiceUndeletable(sid) }
        try brokerCall(request) { () throws(BrokerError) in try broker.deleteService(sid: sid) }
        return ControlReply(status: .noContent, body: nil)
    }

    /// `FriendlyName`: nil when absent, `.some(nil)` when empty (no name: JSON `null`).
    static func friendlyName(in form: FormFields) throws(ControlError) -> String?? {
        guard let text = form.text("FriendlyName") else { return nil }
        guard let text else { throw .invalidFriendlyName("must be UTF-8 text") }
        guard text.count <= maxFriendlyNameLength else {
            throw .invalidFriendlyName("longer than \(maxFriendlyNameLength) characters")
        }
        return .some(text.isEmpty ? nil : text)
    }

    /// The paging key of a service: creation time in milliseconds (44 bits, good until the year
    /// 2527), then the first 20 random bits of its sid. It never changes and does not depend on
    /// which other services exist, so a page token stays a valid cursor while services come and
    /// go; two services share a key only if made in the same millisecond with the same 20 bits.
    static func listKey(_ service: SyncService) -> UInt64 {
        let milliseconds = UInt64(max(0, service.dateCreated.milliseconds)) & ((1 << 44) - 1)
        let randomBits = service.sid.utf8.dropFirst(2).prefix(5).reduce(UInt64(0)) { bits, digit in
            bits << 4 | UInt64(hexValue(digit))
        }
        return milliseconds << 20 | randomBits
    }

    private static func hexValue(_ digit: UInt8) -> UInt8 {
        switch digit {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return digit - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return digit - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return digit - UInt8(ascii: "A") + 10
        default: return 0
        }
    }
}
