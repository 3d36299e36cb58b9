import TernCore

/// Absolute URLs of this API's resources, under one base (`http://host:port` or the configured
/// public URL).
struct ResourceURLs {
    let base: String

    func services() -> String { "\(base)/v1/Services" }
    func service(_ serviceSid: String) -> String { "\(base)/v1/Services/\(serviceSid)" }
    func streams(_ serviceSid: String) -> String { "\(service(serviceSid))/Streams" }
    func stream(_ serviceSid: String, _ streamSid: String) -> String { "\(streams(serviceSid))/\(streamSid)" }
}

extension JSONObject {
    /// A Sync Stream resource, keys in the order of Twilio's documented example.
    mutating func stream(_ stream: StreamSnapshot, urls: ResourceURLs) {
        let url = urls.stream(stream.serviceSid, stream.sid)
        field("account_sid", stream.accountSid)
        field("created_by", stream.createdBy)
        field("date_expires", stream.dateExpires?.iso8601)
        field("date_created", stream.dateCreated.iso8601)
        field("date_updated", stream.dateUpdated.iso8601)
        object("links") { $0.field("messages", url + "/Messages") }
        field("service_sid", stream.serviceSid)
        field("sid", stream.sid)
        field("unique_name", stream.uniqueName)
        field("url", url)
    }

    /// A Sync Service resource, field for field as Twilio's. Tern has no webhooks, ACLs or
    /// reachability events, so those fields carry Twilio's defaults (off). The links name all four
    /// of Twilio's nested lists so that clients find the keys they expect; documents, lists and
    /// maps do not exist here and answer 404/20404.
    mutating func service(_ service: SyncService, urls: ResourceURLs) {
        field("account_sid", service.accountSid)
        field("acl_enabled", false)
        field("date_created", service.dateCreated.iso8601)
        field("date_updated", service.dateUpdated.iso8601)
        field("friendly_name", service.friendlyName)
        object("links") { links in
            let serviceURL = urls.service(service.sid)
            links.field("documents", serviceURL + "/Documents")
            links.field("lists", serviceURL + "/Lists")
            links.field("maps", serviceURL + "/Maps")
            links.field("streams", urls.streams(service.sid))
        }
        field("reachability_debouncing_enabled", false)
        field("reachability_debouncing_window", 5000)
        field("reachability_webhooks_enabled", false)
        field("sid", service.sid)
        field("unique_name", nil as String?)
        field("url", urls.service(service.sid))
        field("webhook_url", nil as String?)
        field("webhooks_from_rest_enabled", false)
    }
}
