import Foundation
import Glibc
import TernWire
import Testing

/// `--idle-spin`: a reactor thread polls without sleeping for a while after each turn. While it
/// spins it is not marked asleep, so a publisher on another thread writes no eventfd; the thread
/// must still see the mailbox's work. Checked with subscribers on both threads and a publisher
/// that pauses between messages, so every message finds the threads spinning or asleep.
@Suite(.serialized)
struct IdleSpinTests {
    @Test func spinningThreadsDeliverEveryMessageAcrossThreads() throws {
        let daemon = try TernDaemon.start(extraArguments: ["--threads", "2", "--idle-spin", "3000"])
        defer { daemon.stop() }
        let sid = try daemon.createStream()
        let subscribers = try (0..<8).map { _ in try RawDataClient(port: daemon.dataPort) }
        var streamID: UInt32 = 0
        var firstSequence: UInt64 = 0
        for subscriber in subscribers {
            try subscriber.handshake()
            let subscribed = try subscriber.subscribe(sid)
            streamID = subscribed.streamID
            firstSequence = subscribed.nextSequence
        }
        let publisher = try RawDataClient(port: daemon.dataPort)
        try publisher.handshake(name: "publisher")
        _ = try publisher.subscribe(sid, requestID: 9, attachOnly: true)
        let count = 40
        for index in 0..<count {
            // Gaps below, at and above the spin (3 ms), so messages find the threads both ways.
            usleep(UInt32([500, 3000, 8000][index % 3]))
            try publisher.send(
                .publish(.init(requestID: 0, streamID: streamID, payload: Array("{\"n\":\(index)}".utf8)))
            )
        }
        for subscriber in subscribers {
            for index in 0..<count {
                guard case .message(let message)? = try subscriber.next(timeout: 5) else {
                    Issue.record("expected MESSAGE \(index)")
                    return
                }
                #expect(message.sequence == firstSequence + UInt64(index))
                #expect(message.payload == Array("{\"n\":\(index)}".utf8))
            }
        }
    }

    /// A spinning thread never blocks after traffic (no voluntary context switch while the spin
    /// lasts, however loaded the machine); a default one sleeps in `epoll_wait`, waking for its
    /// 250 ms timer scan, so it blocks at least twice in 0.6 s.
    @Test func theThreadSpinsAfterTrafficOnlyWhenAskedTo() throws {
        func reactorBlocksAfterAPing(_ arguments: [String]) throws -> Int {
            let daemon = try TernDaemon.start(extraArguments: ["--threads", "1"] + arguments)
            defer { daemon.stop() }
            let client = try RawDataClient(port: daemon.dataPort)
            try client.handshake()
            try client.send(.ping(1))
            #expect(try client.next() == .pong(1))
            let before = try Self.reactorVoluntarySwitches(pid: daemon.pid)
            usleep(600_000)
            return try Self.reactorVoluntarySwitches(pid: daemon.pid) - before
        }
        let spinning = try reactorBlocksAfterAPing(["--idle-spin", "1000000"])
        let sleeping = try reactorBlocksAfterAPing([])
        #expect(spinning == 0, "a spinning reactor thread blocked \(spinning) times in 0.6 s")
        #expect(sleeping >= 2, "a sleeping reactor thread blocked \(sleeping) times in 0.6 s")
    }

    @Test func anIdleSpinOutOfRangeIsRefused() throws {
        for value in ["-1", "1000001"] {
            #expect(throws: HarnessError.self, "ternd --idle-spin \(value) must refuse to start") {
                _ = try TernDaemon.start(extraArguments: ["--idle-spin", value], timeout: 10)
            }
        }
    }

    /// Voluntary context switches (times it blocked) of the process's `tern-reactor-*` threads.
    static func reactorVoluntarySwitches(pid: Int32) throws -> Int {
        let tasks = "/proc/\(pid)/task"
        var total = 0
        for task in try FileManager.default.contentsOfDirectory(atPath: tasks) {
            guard let name = try? String(contentsOfFile: "\(tasks)/\(task)/comm", encoding: .utf8),
                name.hasPrefix("tern-reactor"),
                let status = try? String(contentsOfFile: "\(tasks)/\(task)/status", encoding: .utf8),
                let line = status.split(separator: "\n").first(where: { $0.hasPrefix("voluntary_ctxt_switches:") })
            else { continue }
            total += Int(line.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) ?? 0
        }
        return total
    }
}
