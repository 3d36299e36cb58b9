import TernCore

#if canImport(Glibc)
import Glibc
#endif

/// `/2010-04-01/Accounts/{AccountSid}/Keys[/{Sid}].json`: Twilio's API Key resource, field for
/// field (`client.new_keys.create`, `client.keys(sid).fetch/update/delete`, `client.keys.list`).
/// Dates are RFC 2822, as everywhere in Twilio's 2010 API; lists use its classic paging
/// (`next_page_uri` relative to the API's base).
extension ControlAPI {
    func requireAccount(_ accountSid: String, _ request: ControlRequest) throws(ControlError) {
        guard accountSid == broker.accountSid else { throw .notFound(request.resourcePath) }
    }

    /// 201 with the secret: the only time it is shown.
    func createKey(_ request: ControlRequest) throws(ControlError) -> ControlReply {
        let friendlyName = try Self.keyFriendlyName(in: request.form) ?? nil
        let (key, secret) = try brokerCall(request) { () throws(BrokerError) in
            try broker.createKey(friendlyName: friendlyName)
        }
        logger.notice("API key \(key.sid) created")
        return .json(.created) { json in
            json.key(key)
            json.field("secret", secret)
        }
    }

    func fetchKey(sid: String, _ request: ControlRequest) throws(ControlError) -> ControlReply {
        guard let key = broker.key(sid: sid) else { throw .notFound(request.resourcePath) }
        return .json(.ok) { $0.key(key) }
    }

    func updateKey(sid: String, _ request: ControlRequest) throws(ControlError) -> ControlReply {
        guard let key = broker.key(sid: sid) else { throw .notFound(request.resourcePath) }
        guard let friendlyName = try Self.keyFriendlyName(in: request.form) else { return .json(.ok) { $0.key(key) } }
        let updated = try brokerCall(request) { () throws(BrokerError) in
            try broker.updateKey(sid: sid, friendlyName: friendlyName)
        }
        return .json(.ok) { $0.key(updated) }
    }

    /// 204. Tokens the key signed stop working at once; its data-port connections are ended.
    func deleteKey(sid: String, _ request: ControlRequest) throws(ControlError) -> ControlReply {
        guard broker.key(sid: sid) != nil else { throw .notFound(request.resourcePath) }
        try brokerCall(request) { () throws(BrokerError) in try broker.deleteKey(sid: sid) }
        logger.notice("API key \(sid) deleted; its connections are ended")
        return ControlReply(status: .noContent, body: nil)
    }

    func listKeys(accountSid: String, _ request: ControlRequest) throws(ControlError) -> ControlReply {
        let pageRequest = try PageRequest(query: request.query)
        let ordered = broker.allKeys().map { (key: Self.listKey(created: $0.dateCreated, sid: $0.sid), apiKey: $0) }
            .sorted { ($0.key, $0.apiKey.sid) < ($1.key, $1.apiKey.sid) }
        let page = Page(of: ordered, request: pageRequest, key: \.key)
        let listURI = "/2010-04-01/Accounts/\(accountSid)/Keys.json"
        func pageURI(_ number: Int, _ token: PageToken?) -> String {
            var uri = "\(listURI)?PageSize=\(pageRequest.size)&Page=\(number)"
            if let token { uri += "&PageToken=\(token.text)" }
            return uri
        }
        let start = pageRequest.page.multipliedReportingOverflow(by: pageRequest.size)
        let first = start.overflow ? Int.max : start.partialValue
        return .json(.ok) { json in
            json.field("end", page.items.isEmpty ? first : first + page.items.count - 1)
            json.field("first_page_uri", pageURI(0, nil))
            json.objects("keys", page.items) { $0.key($1.apiKey) }
            json.field(
                "next_page_uri",
                page.next.map { pageURI(pageRequest.page == .max ? .max : pageRequest.page + 1, $0) }
            )
            json.field("page", pageRequest.page)
            json.field("page_size", pageRequest.size)
            json.field("previous_page_uri", page.previous.map { pageURI(max(pageRequest.page - 1, 0), $0) })
            json.field("start", first)
            json.field("uri", pageURI(pageRequest.page, pageRequest.token))
        }
    }

    /// A key's `FriendlyName` (Twilio: up to 64 characters): nil when absent, `.some(nil)` when empty.
    static func keyFriendlyName(in form: FormFields) throws(ControlError) -> String?? {
        guard let text = form.text("FriendlyName") else { return nil }
        guard let text else { throw .invalidFriendlyName("must be UTF-8 text") }
        guard text.count <= Broker.maxKeyFriendlyNameLength else {
            throw .invalidFriendlyName("longer than \(Broker.maxKeyFriendlyNameLength) characters")
        }
        return .some(text.isEmpty ? nil : text)
    }

    /// The paging key of a key, as `listKey(_:)` of a service: creation ms, then 20 sid bits.
    static func listKey(created: UnixTime, sid: String) -> UInt64 {
        listKey(SyncService(sid: sid, friendlyName: nil, accountSid: "", dateCreated: created, dateUpdated: created))
    }
}

extension JSONObject {
    /// A Key resource as Twilio's: sid, friendly_name, dates in RFC 2822.
    mutating func key(_ key: APIKey) {
        field("date_created", RFC2822Date.format(key.dateCreated))
        field("date_updated", RFC2822Date.format(key.dateUpdated))
        field("friendly_name", key.friendlyName)
        field("sid", key.sid)
    }
}

/// Twilio's 2010 API dates: `Mon, 13 Jun 2016 22:50:08 +0000`.
enum RFC2822Date {
    static func format(_ time: UnixTime) -> String {
        let imf = HTTPDate.format(secondsSince1970: time_t(time.milliseconds / 1000))
        return String(imf.dropLast(3)) + "+0000"
    }
}
