import Foundation

extension TernDaemon {
    /// `/metrics`, parsed.
    func metrics() throws -> PrometheusText {
        let response = try HTTP.request(port: controlPort, method: "GET", path: "/metrics")
        guard response.status == 200 else { throw HarnessError("/metrics answered \(response.status)") }
        return try PrometheusText(parsing: response.text)
    }

    /// Polls `/metrics` until `metric` (with `labels`) equals `expected`, for at most `timeout`
    /// seconds; returns the last value seen.
    func waitForMetric(
        _ metric: String,
        _ labels: [String: String] = [:],
        toBe expected: Double,
        timeout: Double = 5
    )
        throws -> Double?
    {
        let deadline = Date().addingTimeInterval(timeout)
        var value: Double?
        repeat {
            value = try metrics().value(metric, labels)
            if value == expected { return value }
            usleep(50_000)
        } while Date() < deadline
        return value
    }

    /// Lines of the daemon's log that contain `text`.
    func logLines(containing text: String) -> [Substring] {
        log.split(separator: "\n").filter { $0.contains(text) }
    }
}
