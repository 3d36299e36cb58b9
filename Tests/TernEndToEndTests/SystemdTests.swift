import Foundation
import Glibc
import TernWire
import Testing

/// `ternd` as systemd runs it: socket activation with named descriptors (through the real
/// `systemd-socket-activate`), and `sd_notify` reports to a notify socket the test owns.
@Suite(.serialized)
struct SystemdTests {
    /// Seconds systemd would allow between pings in these tests (`WATCHDOG_USEC=600000`).
    static let watchdogTimeout = 0.6

    // MARK: - Socket activation

    @Test func activatedDataAndUnixSocketsServeClientsAndTheRestIsBoundFromFlags() throws {
        let dataPort = try ActivationAddress.freeLoopbackPort()
        let unixPath = try TernDaemon.makeTemporaryDirectory() + "/activated.sock"
        let activated = try SocketActivatedDaemon(
            listeners: [
                .init(address: "127.0.0.1:\(dataPort)", name: "data"),
                .init(address: unixPath, name: "data-unix"),
            ],
            arguments: ["--data-listen", "127.0.0.1:0", "--control-listen", "127.0.0.1:0", "--threads", "2"]
        )
        defer { activated.stop() }

        // This connection is queued on the activated socket before ternd exists, and starts it;
        // the daemon must serve it, not a socket of its own.
        let firstSubscriber = try RawDataClient(port: dataPort)
        let ready = try activated.readyLine()
        #expect(ready["data"] == "127.0.0.1:\(dataPort)")
        #expect(ready["unix"] == unixPath)
        // Not activated: bound from --control-listen.
        let controlPort = try #require(ready["control"].flatMap { Int($0.split(separator: ":").last ?? "") })
        #expect(controlPort != 0)
        let service = try #require(ready["service"])

        #expect(try firstSubscriber.handshake(name: "queued-before-start").serverName.hasPrefix("ternd/"))
        let created = try HTTP.request(
            port: controlPort,
            method: "POST",
            path: "/v1/Services/\(service)/Streams",
            form: [("UniqueName", "activated")]
        )
        #expect(created.status == 201)
        let tcpSubscribed = try firstSubscriber.subscribe("activated")

        let unixSubscriber = try RawDataClient(unixPath: unixPath)
        try unixSubscriber.handshake(name: "unix")
        let unixSubscribed = try unixSubscriber.subscribe("activated")
        #expect(unixSubscribed.streamSid == tcpSubscribed.streamSid)

        let payload = #"{"via":"activated sockets"}"#
        let published = try HTTP.request(
            port: controlPort,
            method: "POST",
            path: "/v1/Services/\(service)/Streams/activated/Messages",
            form: [("Data", payload)]
        )
        #expect(published.status == 201)
        for subscriber in [firstSubscriber, unixSubscriber] {
            guard case .message(let message)? = try subscriber.next() else {
                Issue.record("expected the REST message on an activated data socket")
                continue
            }
            #expect(message.payload == Array(payload.utf8))
        }

        #expect(activated.stop() == 0)
        // systemd owns an activated Unix socket and its path; it outlives the daemon for the next start.
        #expect(FileManager.default.fileExists(atPath: unixPath), "ternd removed the activated socket file")
    }

    @Test func controlPortServesRESTFromItsActivatedSocket() throws {
        let dataPort = try ActivationAddress.freeLoopbackPort()
        let controlPort = try ActivationAddress.freeLoopbackPort()
        let activated = try SocketActivatedDaemon(
            listeners: [
                .init(address: "127.0.0.1:\(dataPort)", name: "data"),
                .init(address: "127.0.0.1:\(controlPort)", name: "control"),
            ],
            arguments: [
                "--data-listen", "127.0.0.1:0", "--control-listen", "127.0.0.1:0", "--unix-socket", "none", "--threads",
                "1",
            ]
        )
        defer { activated.stop() }

        let client = try RawDataClient(port: dataPort)
        let ready = try activated.readyLine()
        #expect(ready["data"] == "127.0.0.1:\(dataPort)")
        #expect(ready["control"] == "127.0.0.1:\(controlPort)")
        let services = try HTTP.request(port: controlPort, method: "GET", path: "/v1/Services")
        #expect(services.status == 200)
        #expect(services.text.contains(try #require(ready["service"])))
        #expect(try client.handshake().serverName.hasPrefix("ternd/"))
        #expect(activated.stop() == 0)
    }

    @Test func unknownFdNameStopsTheStartNamingWhatWasReceivedAndWhatIsAccepted() throws {
        let dataPort = try ActivationAddress.freeLoopbackPort()
        let strayPort = try ActivationAddress.freeLoopbackPort()
        let activated = try SocketActivatedDaemon(
            listeners: [
                .init(address: "127.0.0.1:\(dataPort)", name: "data"),
                .init(address: "127.0.0.1:\(strayPort)", name: "metrics"),
            ],
            arguments: ["--data-listen", "127.0.0.1:0", "--control-listen", "127.0.0.1:0", "--unix-socket", "none"]
        )
        defer { activated.stop() }

        // The first connection starts ternd; kept open until it has exited.
        let trigger = try RawDataClient(port: dataPort)
        let status = withExtendedLifetime(trigger) { activated.exitStatus(within: 20) }
        #expect(status != nil && status != 0, "ternd must refuse an unknown socket name")
        let log = activated.log
        #expect(log.contains("metrics"), "the error names the unknown socket: \(log)")
        #expect(log.contains("data-unix") && log.contains("control"), "the error lists the accepted names: \(log)")
        #expect(!log.contains("ternd ready"))
    }

    @Test func unixSocketPassedAsTCPDataListenerIsRefused() throws {
        let path = try TernDaemon.makeTemporaryDirectory() + "/wrong-kind.sock"
        let activated = try SocketActivatedDaemon(
            listeners: [.init(address: path, name: "data")],
            arguments: ["--data-listen", "127.0.0.1:0", "--control-listen", "127.0.0.1:0", "--unix-socket", "none"]
        )
        defer { activated.stop() }

        let trigger = try RawDataClient(unixPath: path)
        let status = withExtendedLifetime(trigger) { activated.exitStatus(within: 20) }
        #expect(status != nil && status != 0, "ternd must refuse a Unix socket named 'data'")
        #expect(activated.log.contains("AF_UNIX"), "the error says what the socket was: \(activated.log)")
        #expect(activated.log.contains("TCP"), "the error says what 'data' must be: \(activated.log)")
    }

    // MARK: - sd_notify

    @Test func notifySocketReceivesReadyStatusWatchdogAndStopping() throws {
        let notify = try NotifySocketListener()
        let daemon = try TernDaemon.start(
            extraArguments: ["--status-interval", "1"],
            environment: ["NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "600000"]
        )
        defer { daemon.stop() }

        let ready = try #require(notify.waitFor("READY", timeout: 10), "no READY=1")
        #expect(ready.fields["READY"] == "1")
        // READY=1 promises every listener accepts: connect to each at once.
        let client = try RawDataClient(port: daemon.dataPort)
        try client.handshake()
        _ = try RawDataClient(unixPath: daemon.unixSocketPath)
        #expect(try HTTP.request(port: daemon.controlPort, method: "GET", path: "/v1/Services").status == 200)

        // WATCHDOG=1 at half of WATCHDOG_USEC (0.3 s): never a gap systemd would kill for.
        let windowStart = Date()
        notify.receive(timeout: 3)
        let pings = notify.messages(setting: "WATCHDOG").filter { $0.arrival >= windowStart }
        #expect(pings.allSatisfy { $0.fields["WATCHDOG"] == "1" })
        #expect((6...20).contains(pings.count), "\(pings.count) watchdog pings in 3 s at a 0.3 s interval")
        let gaps = zip(pings.dropFirst(), pings).map { $0.arrival.timeIntervalSince($1.arrival) }
        #expect((gaps.max() ?? .infinity) < Self.watchdogTimeout, "largest gap between pings: \(gaps.max() ?? -1) s")

        // STATUS= every --status-interval seconds, with live numbers for `systemctl status`.
        let statusDeadline = Date().addingTimeInterval(5)
        while notify.messages(setting: "STATUS").count < 2 && Date() < statusDeadline { notify.receive(timeout: 0.5) }
        let statuses = notify.messages(setting: "STATUS").compactMap { $0.fields["STATUS"] }
        #expect(statuses.count >= 2, "STATUS lines: \(statuses)")
        #expect(statuses.allSatisfy { $0.contains(where: \.isNumber) }, "STATUS lines carry counts: \(statuses)")
        #expect(notify.messages(setting: "READY").count == 1, "READY=1 is sent once")

        kill(daemon.pid, SIGTERM)
        let stopping = notify.waitFor("STOPPING", timeout: 10)
        #expect(stopping?.fields["STOPPING"] == "1")
        #expect(daemon.waitForExit(timeout: 15) == 0)
    }

    @Test func sighupReportsReloadingThenReady() throws {
        let notify = try NotifySocketListener()
        let daemon = try TernDaemon.start(environment: ["NOTIFY_SOCKET": notify.path])
        defer { daemon.stop() }
        #expect(notify.waitFor("READY", timeout: 10) != nil)
        let readyBefore = notify.messages(setting: "READY").count

        kill(daemon.pid, SIGHUP)
        let reloading = try #require(notify.waitFor("RELOADING", timeout: 10), "no RELOADING=1 after SIGHUP")
        // systemd 253+ matches the reload by MONOTONIC_USEC, which must be CLOCK_MONOTONIC now.
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        let nowMicroseconds = UInt64(now.tv_sec) * 1_000_000 + UInt64(now.tv_nsec) / 1000
        let stamp = try #require(reloading.fields["MONOTONIC_USEC"].flatMap { UInt64($0) })
        #expect(stamp <= nowMicroseconds && nowMicroseconds - stamp < 10_000_000)

        let readyAgain = notify.receive(timeout: 10) { $0.fields["READY"] != nil }
        #expect(readyAgain != nil, "READY=1 after the reload")
        #expect(notify.messages(setting: "READY").count == readyBefore + 1)
        #expect(daemon.process.isRunning, "SIGHUP reloads, it does not stop")
        #expect(try HTTP.request(port: daemon.controlPort, method: "GET", path: "/v1/Services").status == 200)
        #expect(daemon.stop() == 0)
    }

    @Test func watchdogPingsStopWhileAReactorThreadIsStuck() throws {
        let notify = try NotifySocketListener()
        let daemon = try TernDaemon.start(
            extraArguments: ["--threads", "2", "--debug-stall-on-usr1"],
            environment: ["NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "600000"]
        )
        defer { daemon.stop() }
        #expect(notify.waitFor("WATCHDOG", timeout: 5) != nil, "pings before the stall")

        let reactors = ThreadStall.threads(of: daemon.pid, named: "tern-reactor")
        #expect(reactors.count == 2, "reactor threads: \(reactors)")
        let victim = try #require(reactors.first)
        // Preferred: stop the thread from outside with ptrace, no cooperation from the daemon.
        // Where ptrace is not permitted (Yama ptrace_scope without CAP_SYS_PTRACE), the daemon's
        // hidden hook stalls reactor thread 0 for 5 s instead.
        let stall: ThreadStall?
        do {
            stall = try ThreadStall(thread: victim, seconds: 10)
        } catch {
            stall = nil
            kill(daemon.pid, SIGUSR1)
        }
        let stalledAt = Date()
        // The liveness check may look back up to a second, so pings may go on that long; after
        // that (plus one ping interval), silence while the thread stays stopped.
        notify.receive(timeout: 3.5)
        let settled = stalledAt.addingTimeInterval(1.5)
        let pingsWhileStuck = notify.messages(setting: "WATCHDOG").filter { $0.arrival > settled }
        #expect(
            pingsWhileStuck.isEmpty,
            "\(pingsWhileStuck.count) pings while tern-reactor thread \(victim) was stopped"
        )
        #expect(daemon.process.isRunning)

        stall?.release()
        let resumed = notify.receive(timeout: 5) { $0.fields["WATCHDOG"] != nil }
        #expect(resumed != nil, "pings resume once the thread turns again")
        #expect(daemon.stop() == 0)
    }
}
