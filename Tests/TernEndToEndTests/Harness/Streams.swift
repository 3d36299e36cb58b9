import Foundation

extension TernDaemon {
    /// Creates a stream over REST; returns its sid.
    func createStream(uniqueName: String? = nil, ttl: Int? = nil) throws -> String {
        var form: [(String, String)] = []
        if let uniqueName { form.append(("UniqueName", uniqueName)) }
        if let ttl { form.append(("Ttl", String(ttl))) }
        let response = try HTTP.request(
            port: controlPort,
            method: "POST",
            path: "/v1/Services/\(serviceSid)/Streams",
            form: form
        )
        guard response.status == 201, let sid = response.object["sid"] as? String else {
            throw HarnessError("create stream failed: \(response.status) \(response.text)")
        }
        return sid
    }

    /// Publishes over REST; returns the response.
    func publishREST(stream: String, data: String) throws -> HTTP.Response {
        try HTTP.request(
            port: controlPort,
            method: "POST",
            path: "/v1/Services/\(serviceSid)/Streams/\(stream)/Messages",
            form: [("Data", data)]
        )
    }

    func deleteStream(_ stream: String) throws -> HTTP.Response {
        try HTTP.request(port: controlPort, method: "DELETE", path: "/v1/Services/\(serviceSid)/Streams/\(stream)")
    }
}
