import Foundation
import Testing

/// An acknowledged delete stays deleted and an acknowledged create stays created, however the
/// requests interleave: each control-plane change is checked and stored as one step.
@Suite(.serialized)
struct StoreRaceTests {
    /// A Ttl update racing the DELETE of the same stream once stored the deleted stream again
    /// (117 of 500 came back after a restart).
    @Test func updateRacingDeleteDoesNotResurrect() throws {
        let daemon = try TernDaemon.start()
        let count = 150
        let sids = try (0..<count).map { try daemon.createStream(uniqueName: "race-\($0)") }
        let deleted = RaceResults(count: count)
        let base = "/v1/Services/\(daemon.serviceSid)/Streams/"
        DispatchQueue.concurrentPerform(iterations: count * 2) { job in
            let index = job / 2
            if job % 2 == 0 {
                for attempt in 0..<3 {
                    _ = try? HTTP.request(
                        port: daemon.controlPort,
                        method: "POST",
                        path: base + sids[index],
                        form: [("Ttl", String(3600 + attempt))]
                    )
                }
            } else {
                if let response = try? daemon.deleteStream(sids[index]), response.status == 204 { deleted.mark(index) }
            }
        }
        #expect(deleted.marked.count == count, "every DELETE should have found its stream")
        #expect(daemon.stop() == 0)
        let restarted = try daemon.restart()
        defer { restarted.stop() }
        var resurrected: [String] = []
        for index in deleted.marked {
            let response = try HTTP.request(port: restarted.controlPort, method: "GET", path: base + sids[index])
            if response.status != 404 { resurrected.append(sids[index]) }
        }
        #expect(resurrected.isEmpty, "\(resurrected.count) streams whose DELETE answered 204 came back after a restart")
    }

    /// A create racing a delete by name: when the DELETE answered 204 the create came first, so
    /// the stream must stay gone; when the create answered 201 after a 404 DELETE it must stay.
    @Test func createRacingDeleteByNameKeepsTheAcknowledgedOutcome() throws {
        let daemon = try TernDaemon.start()
        let count = 200
        let created = RaceResults(count: count)
        let deleted = RaceResults(count: count)
        let base = "/v1/Services/\(daemon.serviceSid)/Streams"
        DispatchQueue.concurrentPerform(iterations: count * 2) { job in
            let name = "name-race-\(job / 2)"
            if job % 2 == 0 {
                if let response = try? HTTP.request(
                    port: daemon.controlPort,
                    method: "POST",
                    path: base,
                    form: [("UniqueName", name)]
                ), response.status == 201 {
                    created.mark(job / 2)
                }
            } else {
                if let response = try? daemon.deleteStream(name), response.status == 204 { deleted.mark(job / 2) }
            }
        }
        #expect(created.marked.count == count)
        #expect(daemon.stop() == 0)
        let restarted = try daemon.restart()
        defer { restarted.stop() }
        for index in 0..<count {
            let response = try HTTP.request(
                port: restarted.controlPort,
                method: "GET",
                path: base + "/name-race-\(index)"
            )
            if deleted.marked.contains(index) {
                #expect(response.status == 404, "name-race-\(index): DELETE answered 204, but the stream is back")
            } else {
                #expect(response.status == 200, "name-race-\(index): created (201) and never deleted, but it is gone")
            }
        }
    }

    /// A service rename racing the service's delete must not bring the service back.
    @Test func serviceUpdateRacingDeleteDoesNotResurrect() throws {
        let daemon = try TernDaemon.start()
        let count = 40
        let sids = try (0..<count).map { index in
            let response = try HTTP.request(
                port: daemon.controlPort,
                method: "POST",
                path: "/v1/Services",
                form: [("FriendlyName", "svc-\(index)")]
            )
            return try #require(response.object["sid"] as? String)
        }
        let deleted = RaceResults(count: count)
        DispatchQueue.concurrentPerform(iterations: count * 2) { job in
            let path = "/v1/Services/\(sids[job / 2])"
            if job % 2 == 0 {
                for attempt in 0..<3 {
                    _ = try? HTTP.request(
                        port: daemon.controlPort,
                        method: "POST",
                        path: path,
                        form: [("FriendlyName", "renamed-\(attempt)")]
                    )
                }
            } else if let response = try? HTTP.request(port: daemon.controlPort, method: "DELETE", path: path),
                response.status == 204
            {
                deleted.mark(job / 2)
            }
        }
        #expect(deleted.marked.count == count)
        #expect(daemon.stop() == 0)
        let restarted = try daemon.restart()
        defer { restarted.stop() }
        for index in deleted.marked {
            let response = try HTTP.request(
                port: restarted.controlPort,
                method: "GET",
                path: "/v1/Services/\(sids[index])"
            )
            #expect(response.status == 404, "service \(sids[index]) came back after its DELETE answered 204")
        }
    }
}

/// Indexes marked from concurrent jobs.
final class RaceResults: @unchecked Sendable {
    private let lock = NSLock()
    private var set: Set<Int> = []

    init(count: Int) { set.reserveCapacity(count) }

    func mark(_ index: Int) {
        lock.lock()
        set.insert(index)
        lock.unlock()
    }

    var marked: Set<Int> {
        lock.lock()
        defer { lock.unlock() }
        return set
    }
}
