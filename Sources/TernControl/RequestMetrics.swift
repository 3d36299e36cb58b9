import Hummingbird
import Metrics

/// REST requests counted and timed through swift-metrics, so whichever backend the process
/// bootstraps (`ternd`: Prometheus) exports them; without one they cost next to nothing.
///
/// Labels are bounded: the route is a template (`/v1/Services/{ServiceSid}/Streams`, never a
/// path with sids in it), an unknown path is `unmatched`, and a method outside HTTP's standard
/// ones is `OTHER`. So a client probing random paths cannot grow the series without bound.
enum RequestMetrics {
    /// Counter: `route`, `method`, `status`.
    static let requestsTotal = "tern_http_requests_total"
    /// Histogram in seconds: `route`, `method`.
    static let requestDuration = "tern_http_request_duration_seconds"
    /// The route label of a path that names no resource.
    static let unmatchedRoute = "unmatched"

    private static let standardMethods: Set<HTTPRequest.Method> = [
        .get, .head, .post, .put, .delete, .connect, .options, .trace, .patch,
    ]

    static func record(
        route: ControlRoute?,
        method: HTTPRequest.Method,
        status: HTTPResponse.Status,
        duration: Duration
    ) {
        let routeLabel = route?.template ?? unmatchedRoute
        let methodLabel = standardMethods.contains(method) ? method.rawValue : "OTHER"
        Counter(
            label: requestsTotal,
            dimensions: [("route", routeLabel), ("method", methodLabel), ("status", String(status.code))]
        ).increment()
        let (seconds, attoseconds) = duration.components
        Metrics.Timer(label: requestDuration, dimensions: [("route", routeLabel), ("method", methodLabel)])
            .recordNanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}
