import Foundation
import Glibc
import Testing

/// The control port cannot be held by clients that are slow, idle, numerous or oversized: each
/// limit answers with its HTTP status and a Twilio-shaped body, and the daemon serves others.
@Suite(.serialized)
struct ControlPortLimitTests {
    /// Slowloris: a request head trickled a byte at a time gets 408/20408 at the header timeout.
    @Test func slowHeadGetsRequestTimeout() throws {
        let daemon = try TernDaemon.start(extraArguments: ["--control-header-timeout", "1"])
        defer { daemon.stop() }
        let fd = try TestSocket.connectTCP(port: daemon.controlPort)
        defer { close(fd) }
        let started = Date()
        // The server answers and closes mid-trickle, so a write may fail: that ends the trickle.
        for byte in Array("GET /healthz HTTP/1.1\r\nHost: x\r\n".utf8).prefix(12) {
            guard (try? TestSocket.writeAll(fd, [byte])) != nil else { break }
            usleep(150_000)
        }
        let raw = try TestSocket.readToEnd(fd, timeout: 5)
        let elapsed = Date().timeIntervalSince(started)
        let response = try HTTP.parse(raw)
        #expect(response.status == 408)
        #expect(response.object["code"] as? Int == 20408)
        #expect(response.object["status"] as? Int == 408)
        #expect(elapsed < 3, "closed after \(elapsed) s")
        #expect(try HTTP.request(port: daemon.controlPort, method: "GET", path: "/healthz").status == 200)
    }

    /// A connection that never sends a byte is answered 408 and closed at the header timeout.
    @Test func silentConnectionIsClosedAtTheHeaderTimeout() throws {
        let daemon = try TernDaemon.start(extraArguments: ["--control-header-timeout", "1"])
        defer { daemon.stop() }
        let fd = try TestSocket.connectTCP(port: daemon.controlPort)
        defer { close(fd) }
        let response = try HTTP.parse(try TestSocket.readToEnd(fd, timeout: 5))
        #expect(response.status == 408)
    }

    /// An idle keep-alive connection is closed after the idle timeout, without an answer.
    @Test func idleKeepAliveConnectionIsClosed() throws {
        let daemon = try TernDaemon.start(extraArguments: ["--control-idle-timeout", "1"])
        defer { daemon.stop() }
        let fd = try TestSocket.connectTCP(port: daemon.controlPort)
        defer { close(fd) }
        try TestSocket.writeAll(fd, Array("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
        let started = Date()
        let raw = try TestSocket.readToEnd(fd, timeout: 5)
        #expect(Date().timeIntervalSince(started) > 0.8)
        let response = try HTTP.parse(raw)
        #expect(response.status == 200)
        #expect(!response.text.contains("20408"), "an idle connection is closed without a second answer")
    }

    /// Past --control-max-connections, a new connection gets 503/20503 at once; the data port
    /// is unaffected, and freed slots serve again.
    @Test func connectionCapRefusesAndRecovers() throws {
        let daemon = try TernDaemon.start(extraArguments: ["--control-max-connections", "4"])
        defer { daemon.stop() }
        var idle: [Int32] = []
        defer { for fd in idle { close(fd) } }
        for _ in 0..<4 { idle.append(try TestSocket.connectTCP(port: daemon.controlPort)) }
        usleep(200_000)
        let refused = try HTTP.request(port: daemon.controlPort, method: "GET", path: "/healthz")
        #expect(refused.status == 503)
        #expect(refused.object["code"] as? Int == 20503)
        let client = try RawDataClient(port: daemon.dataPort)
        try client.handshake(name: "data-port-still-serves")
        for fd in idle { close(fd) }
        idle.removeAll()
        var status = 0
        for _ in 0..<50 {
            status = try HTTP.request(port: daemon.controlPort, method: "GET", path: "/healthz").status
            if status == 200 { break }
            usleep(50_000)
        }
        #expect(status == 200)
    }

    /// Headers past --control-max-header: 431/20431.
    @Test func oversizeHeadersGet431() throws {
        let daemon = try TernDaemon.start()
        defer { daemon.stop() }
        let response = try HTTP.request(
            port: daemon.controlPort,
            method: "GET",
            path: "/healthz",
            headers: ["X-Padding": String(repeating: "a", count: 64 * 1024)]
        )
        #expect(response.status == 431)
        #expect(response.object["code"] as? Int == 20431)
        let longPath = try HTTP.request(
            port: daemon.controlPort,
            method: "GET",
            path: "/v1/Services/" + String(repeating: "b", count: 32 * 1024)
        )
        #expect(longPath.status == 431 || longPath.status == 414, "a 32 KiB request line got \(longPath.status)")
        #expect(try HTTP.request(port: daemon.controlPort, method: "GET", path: "/healthz").status == 200)
    }

    /// A 10 MiB body is answered 413/20413 before it is read, and the client can read the answer.
    @Test func hugeBodyGetsReadable413() throws {
        let daemon = try TernDaemon.start()
        defer { daemon.stop() }
        let started = Date()
        let response = try HTTP.request(
            port: daemon.controlPort,
            method: "POST",
            path: "/v1/Services",
            headers: ["Content-Type": "application/x-www-form-urlencoded"],
            rawBody: Array(("FriendlyName=" + String(repeating: "x", count: 10 << 20)).utf8)
        )
        #expect(response.status == 413)
        #expect(response.object["code"] as? Int == 20413)
        #expect(Date().timeIntervalSince(started) < 5)
        let message = try HTTP.request(
            port: daemon.controlPort,
            method: "POST",
            path: "/v1/Services/\(daemon.serviceSid)/Streams/x/Messages",
            headers: ["Content-Type": "application/x-www-form-urlencoded"],
            rawBody: Array(("Data=" + String(repeating: "x", count: 10 << 20)).utf8)
        )
        #expect(message.status == 413)
        #expect(message.object["code"] as? Int == 54006)
    }

    /// A body shorter than its Content-Length, then a half-close, is the client's error: 400/20400.
    @Test func truncatedBodyThenHalfCloseIs400() throws {
        let daemon = try TernDaemon.start()
        defer { daemon.stop() }
        let fd = try TestSocket.connectTCP(port: daemon.controlPort)
        defer { close(fd) }
        try TestSocket.writeAll(
            fd,
            Array(
                ("POST /v1/Services HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                    + "Content-Length: 100\r\n\r\nFriendlyName=short").utf8
            )
        )
        shutdown(fd, Int32(SHUT_WR))
        let response = try HTTP.parse(try TestSocket.readToEnd(fd, timeout: 5))
        #expect(response.status == 400)
        #expect(response.object["code"] as? Int == 20400)
        let services = try HTTP.request(port: daemon.controlPort, method: "GET", path: "/v1/Services")
        let names = (services.object["services"] as? [[String: Any]] ?? []).compactMap {
            $0["friendly_name"] as? String
        }
        #expect(!names.contains("short"), "a truncated request must not create anything")
    }

    /// Found by the forms fuzzer: `Page=Int.max` with a next page overflowed building
    /// `next_page_url` and crashed the daemon.
    @Test func largestPageNumberIsAnsweredNotACrash() throws {
        let daemon = try TernDaemon.start()
        defer { daemon.stop() }
        for index in 0..<3 { _ = try daemon.createStream(uniqueName: "page-\(index)") }
        let response = try HTTP.request(
            port: daemon.controlPort,
            method: "GET",
            path: "/v1/Services/\(daemon.serviceSid)/Streams?PageSize=1&Page=9223372036854775807"
        )
        #expect(response.status == 200)
        #expect(try HTTP.request(port: daemon.controlPort, method: "GET", path: "/healthz").status == 200)
    }
}
