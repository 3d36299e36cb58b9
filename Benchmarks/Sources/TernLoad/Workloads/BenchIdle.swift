import Foundation

/// The idle workload: C subscribers that receive nothing, and what they cost the server in
/// resident memory (from /proc/<pid>/status, so the server must run on this machine).
public struct BenchIdleRun: Sendable {
    public var connections: Int
    public var holdSeconds: Double
    public var serverPID: Int32?

    public init(connections: Int, holdSeconds: Double, serverPID: Int32?) {
        self.connections = connections
        self.holdSeconds = holdSeconds
        self.serverPID = serverPID
    }

    func execute<Peer: BenchPeer>(_ peer: inout Peer, broker: BenchBrokerKind, address: String) throws -> IdleReport {
        try FileDescriptorLimit.require(connections + 64)
        let names = try peer.prepareStreams(count: 1)
        defer { peer.cleanup() }
        let before = serverPID.flatMap(Self.residentKilobytes)
        let receiver = try BenchReceiver<Peer.Parser>()
        let setupStart = MonotonicClock.nanoseconds()
        for _ in 0..<connections {
            try receiver.add(try peer.openSubscriber(stream: names[0], sampling: false), samples: false)
        }
        let setupSeconds = Double(MonotonicClock.nanoseconds() - setupStart) / 1e9
        // Hold, answering whatever the server sends (PINGs), for a bounded time.
        let holdEnd = MonotonicClock.nanoseconds() + UInt64(holdSeconds * 1e9)
        while MonotonicClock.nanoseconds() < holdEnd { receiver.pollOnce(timeoutMilliseconds: 50) }
        let after = serverPID.flatMap(Self.residentKilobytes)
        let stillOpen = receiver.openSubscribers
        receiver.closeAll()
        return IdleReport(
            broker: broker,
            address: address,
            connections: connections,
            holdSeconds: holdSeconds,
            setupSeconds: setupSeconds,
            serverPID: serverPID,
            rssBeforeKilobytes: before,
            rssAfterKilobytes: after,
            stillOpen: stillOpen,
            notices: receiver.notices
        )
    }

    /// VmRSS of `pid` in KiB, nil if it cannot be read.
    static func residentKilobytes(_ pid: Int32) -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") })
        else { return nil }
        return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "")
    }
}

public struct IdleReport {
    var broker: BenchBrokerKind
    var address: String
    var connections: Int
    var holdSeconds: Double
    var setupSeconds: Double
    var serverPID: Int32?
    var rssBeforeKilobytes: Int?
    var rssAfterKilobytes: Int?
    var stillOpen: Int
    var notices: [String]

    /// Resident bytes the server added per connection, nil without a server PID.
    var bytesPerConnection: Double? {
        guard let before = rssBeforeKilobytes, let after = rssAfterKilobytes, connections > 0 else { return nil }
        return Double(after - before) * 1024 / Double(connections)
    }

    public var text: String {
        var lines = [
            "idle: \(connections) subscribers on \(broker.rawValue) at \(address), "
                + "held \(String(format: "%.1f", holdSeconds)) s"
                + " (connected in \(String(format: "%.2f", setupSeconds)) s), \(stillOpen) still open"
        ]
        if let perConnection = bytesPerConnection, let before = rssBeforeKilobytes, let after = rssAfterKilobytes {
            lines.append(
                "server RSS      \(before) KiB before, \(after) KiB after: "
                    + "\(Int(perConnection.rounded())) bytes per connection"
            )
        } else {
            lines.append("server RSS      unknown (pass --server-pid)")
        }
        lines += notices.map { "note: \($0)" }
        return lines.joined(separator: "\n")
    }

    public var json: String {
        var object: [String: Any] = [
            "workload": "idle", "broker": broker.rawValue, "address": address, "connections": connections,
            "hold_s": holdSeconds, "setup_s": setupSeconds, "still_open": stillOpen,
        ]
        object["server_pid"] = serverPID.map { Int($0) as Any } ?? NSNull()
        object["rss_before_kb"] = rssBeforeKilobytes.map { $0 as Any } ?? NSNull()
        object["rss_after_kb"] = rssAfterKilobytes.map { $0 as Any } ?? NSNull()
        object["rss_per_connection_bytes"] = bytesPerConnection.map { $0 as Any } ?? NSNull()
        if !notices.isEmpty { object["notes"] = notices }
        return BenchReport.serialize(object)
    }
}
