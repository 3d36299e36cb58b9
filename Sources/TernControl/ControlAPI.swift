import Logging
import TernCore

/// The endpoints of the control API over one broker. Stateless apart from the broker and the
/// credentials.
struct ControlAPI: Sendable {
    let broker: Broker
    let configuration: ControlAPIConfiguration
    let logger: Logger
    /// Nil when authentication is off: there is no token to rotate.
    let tokenRotation: AuthTokenRotation?

    init(broker: Broker, configuration: ControlAPIConfiguration, logger: Logger) {
        self.broker = broker
        self.configuration = configuration
        self.logger = logger
        tokenRotation = configuration.credentials.map {
            AuthTokenRotation(credentials: $0, persist: configuration.persistAuthToken)
        }
    }

    /// Largest request body read. A `Data` of max payload size may triple when percent-encoded;
    /// the rest is room for the other fields.
    var bodyLimit: Int { max(64 * 1024, broker.limits.maxPayload * 3 + 16 * 1024) }

    /// Answers a routed request whose method the route allows.
    func handle(_ request: ControlRequest) async throws(ControlError) -> ControlReply {
        switch request.route {
        case .health:
            guard let backbone = configuration.introspection?.backboneState() else {
                return .json(.ok) { $0.field("status", "ok") }
            }
            // Cluster mode: still 200 without the backbone (the data port serves local traffic),
            // but the state says so.
            return .json(.ok) {
                $0.field("status", backbone == "connected" ? "ok" : "degraded")
                $0.field("backbone", backbone)
            }
        case .cluster:
            guard let body = await configuration.introspection?.clusterView() else {
                throw .notFound(request.resourcePath)
            }
            return ControlReply(status: .ok, body: body, contentType: "application/json")
        case .services:
            return request.method == .post ? try createService(request) : try listServices(request)
        case .service(let sid):
            switch request.method {
            case .post: return try updateService(sid: sid, request)
            case .delete: return try deleteService(sid: sid, request)
            default: return try fetchService(sid: sid, request)
            }
        case .streams(let serviceSid):
            return request.method == .post
                ? try createStream(serviceSid: serviceSid, request) : try listStreams(serviceSid: serviceSid, request)
        case .stream(let serviceSid, let key):
            switch request.method {
            case .post: return try updateStream(serviceSid: serviceSid, key: key, request)
            case .delete: return try deleteStream(serviceSid: serviceSid, key: key, request)
            default: return try fetchStream(serviceSid: serviceSid, key: key, request)
            }
        case .messages(let serviceSid, let streamKey):
            return try publishMessage(serviceSid: serviceSid, streamKey: streamKey, request)
        case .authToken:
            return try rotateAuthToken(request)
        case .keys(let accountSid):
            try requireAccount(accountSid, request)
            return request.method == .post ? try createKey(request) : try listKeys(accountSid: accountSid, request)
        case .key(let accountSid, let sid):
            try requireAccount(accountSid, request)
            switch request.method {
            case .post: return try updateKey(sid: sid, request)
            case .delete: return try deleteKey(sid: sid, request)
            default: return try fetchKey(sid: sid, request)
            }
        case .metrics:
            return try await metrics(request)
        case .connections:
            return try await connections(request)
        }
    }

    /// Runs a broker call, turning its refusal into the REST error for `request`'s resource.
    func brokerCall<Value>(
        _ request: ControlRequest,
        _ body: () throws(BrokerError) -> Value
    ) throws(ControlError)
        -> Value
    {
        do {
            return try body()
        } catch {
            throw ControlError(error, resourcePath: request.resourcePath, maxPayload: broker.limits.maxPayload)
        }
    }
}
