import Foundation
import Glibc
import Testing

/// Shared by the control-port suites (services, auth, rate limits, expiry, the Twilio library).

extension TernDaemon {
    /// The auth token ternd generated on its first start. ternd shows it exactly once, in its log
    /// (`generated credentials: account AC… auth token <32 hex>; shown once`).
    func generatedAuthToken() throws -> String {
        let marker = "auth token "
        guard let range = log.range(of: marker) else {
            throw HarnessError("ternd's log does not show a generated auth token:\n\(log)")
        }
        let token = String(log[range.upperBound...].prefix(32))
        guard token.utf8.count == 32, token.allSatisfy(\.isHexDigit) else {
            throw HarnessError("unexpected auth token '\(token)' in ternd's log")
        }
        return token
    }

    /// A request to this daemon's control port, with HTTP Basic credentials when given.
    func request(
        _ method: String,
        _ path: String,
        form: [(String, String)]? = nil,
        account: String? = nil,
        token: String? = nil,
        headers: [String: String] = [:]
    ) throws -> HTTP.Response {
        var headers = headers
        if let token { headers["Authorization"] = HTTP.basic(user: account ?? accountSid, password: token) }
        return try HTTP.request(port: controlPort, method: method, path: path, form: form, headers: headers)
    }
}

extension HTTP {
    /// `Basic <base64(user:password)>`.
    static func basic(user: String, password: String) -> String {
        "Basic " + Data("\(user):\(password)".utf8).base64EncodedString()
    }
}

/// Asserts a Twilio error body: exactly code, message, more_info and status.
func expectTwilioError(
    _ response: HTTP.Response,
    status: Int,
    code: Int,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    #expect(response.status == status, "\(response.text)", sourceLocation: sourceLocation)
    let body = response.object
    #expect(
        Set(body.keys) == ["code", "message", "more_info", "status"],
        "\(response.text)",
        sourceLocation: sourceLocation
    )
    #expect(body["code"] as? Int == code, "\(response.text)", sourceLocation: sourceLocation)
    #expect(body["status"] as? Int == status, sourceLocation: sourceLocation)
    #expect(
        body["more_info"] as? String == "https://www.twilio.com/docs/errors/\(code)",
        sourceLocation: sourceLocation
    )
    #expect((body["message"] as? String)?.isEmpty == false, sourceLocation: sourceLocation)
    #expect(response.headers["content-type"]?.hasPrefix("application/json") == true, sourceLocation: sourceLocation)
}

/// The repository's root folder (this file is `Tests/TernEndToEndTests/ControlTestSupport.swift`).
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().path
