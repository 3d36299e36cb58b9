import Hummingbird
import Logging
import NIOHTTP1

/// Hummingbird's entry point: turns every request into a `ControlReply`, errors included.
///
/// Routing is done here rather than with Hummingbird's `Router` because the router answers an
/// unknown path or a wrong method with its own bodies; Twilio clients expect the Twilio error
/// body for those too (404/20404, 405/20004).
struct ControlResponder: HTTPResponder {
    typealias Context = BasicRequestContext

    let api: ControlAPI

    func respond(to request: Request, context: Context) async throws -> Response {
        let started = ContinuousClock.now
        let route = ControlRoute(path: request.uri.path)
        let reply: ControlReply
        do {
            reply = try await self.reply(to: request, route: route)
        } catch let error as ControlError {
            reply = .error(error)
        } catch {
            api.logger.error("control request failed", metadata: ["path": "\(request.uri.path)", "error": "\(error)"])
            reply = .error(.internalError)
        }
        RequestMetrics.record(
            route: route,
            method: request.method,
            status: reply.status,
            duration: ContinuousClock.now - started
        )
        return reply.response
    }

    private func reply(to request: Request, route: ControlRoute?) async throws -> ControlReply {
        let path = request.uri.path
        let resourcePath = path.hasPrefix("/v1/") ? String(path.dropFirst(3)) : path
        // Credentials first, so that without them even the shape of the API (which paths exist,
        // which methods they take) stays hidden; only the health check is open to all.
        var principal = ControlAPI.Principal.anonymous
        if route != .health { principal = try api.authenticate(authorization: request.headers[.authorization]) }
        guard let route else { throw ControlError.notFound(resourcePath) }
        if case .apiKey(let sid) = principal, route.needsAccountCredentials { throw ControlError.keyForbidden(sid) }
        guard route.allowedMethods.contains(request.method) else {
            var reply = ControlReply.error(.methodNotAllowed(request.method))
            reply.allow = route.allowedMethods
            return reply
        }
        // Only POSTs carry parameters in their body; other bodies are left unread.
        let body = request.method == .post ? try await readBody(request, route: route) : []
        let controlRequest = ControlRequest(
            method: request.method,
            route: route,
            resourcePath: resourcePath,
            query: FormFields(query: request.uri.query),
            form: FormFields(encoded: body),
            urls: ResourceURLs(base: baseURL(for: request))
        )
        return try await api.handle(controlRequest)
    }

    /// The whole body, refused past `ControlAPI.bodyLimit` (54006 for a message, else 20413).
    /// A `Content-Length` over the limit is refused before a byte of the body is read.
    private func readBody(_ request: Request, route: ControlRoute) async throws -> [UInt8] {
        let limit = api.bodyLimit
        let tooLarge =
            route.carriesMessageData
            ? ControlError.messageTooLarge(limit: api.broker.limits.maxPayload)
            : ControlError.bodyTooLarge(limit: limit)
        if let declared = request.headers[.contentLength].flatMap({ Int($0) }), declared > limit { throw tooLarge }
        var bytes: [UInt8] = []
        do {
            for try await buffer in request.body {
                guard bytes.count + buffer.readableBytes <= limit else { throw tooLarge }
                bytes.append(contentsOf: buffer.readableBytesView)
            }
        } catch let error as HTTPParserError {
            // E.g. the client half-closed before sending all of its Content-Length: its fault.
            throw ControlError.malformedRequest("\(error)")
        }
        return bytes
    }

    /// The configured public URL, else `http://` plus the Host the client used.
    private func baseURL(for request: Request) -> String {
        if let configured = api.configuration.publicBaseURL {
            return configured.hasSuffix("/") ? String(configured.dropLast()) : configured
        }
        if let authority = request.head.authority, !authority.isEmpty { return "http://\(authority)" }
        return "http://\(api.configuration.host):\(api.configuration.port)"
    }
}
