import TernCore
import TernWire
import Testing

@testable import TernReactor

/// The session state machine with a fake clock: HELLO first, timers, fatal errors, and a close
/// counted exactly once however it happens.
@Suite("Data-port session")
struct SessionTests {
    @Test func anythingButHelloFirstIsFatal() throws {
        let harness = try EmbeddedDataPlane()
        let client = harness.connect()
        client.send(.ping(7))
        guard case .error(let error)? = try client.received().first else {
            Issue.record("no ERROR")
            return
        }
        #expect(error.code == .helloRequired && error.fatal && error.requestID == 0)
        #expect(client.isClosed, "the ERROR was written, so the connection closes at once")
        #expect(harness.shared.openConnections.load(ordering: .relaxed) == 0)
    }

    /// The ERROR's own write finds the peer gone: the connection is closed (and counted) once,
    /// not again by the fatal path after it.
    @Test func aFatalErrorToAVanishedPeerIsCountedOnce() throws {
        let harness = try EmbeddedDataPlane()
        let clients = (0..<20).map { _ in harness.connect() }
        for client in clients {
            client.io.failure = "write failed: Broken pipe"
            client.send([0, 0, 0, 0, 0x7e, 0, 0, 0])
            #expect(client.isClosed)
        }
        #expect(harness.shared.openConnections.load(ordering: .relaxed) == 0)
        #expect(harness.mailbox.counters.value(.connectionsClosed) == 20)
        #expect(harness.plane.recentlyClosed.count == 20)
    }

    @Test func handshakeTimeoutWithAFakeClock() throws {
        let harness = try EmbeddedDataPlane { $0.handshakeTimeoutMilliseconds = 5_000 }
        let client = harness.connect()
        harness.advance(milliseconds: 4_999, connections: [client])
        #expect(try client.received().isEmpty)
        harness.advance(milliseconds: 1, connections: [client])
        guard case .error(let error)? = try client.received().first else {
            Issue.record("no ERROR")
            return
        }
        #expect(error.code == .handshakeTimeout && error.fatal)
        #expect(client.isClosed)
    }

    @Test func pingThenIdleTimeout() throws {
        let harness = try EmbeddedDataPlane { $0.pingIntervalMilliseconds = 1_000 }
        let client = harness.connect()
        try client.handshake()
        harness.advance(milliseconds: 1_000, connections: [client])
        guard case .ping? = try client.received().first else {
            Issue.record("no PING after the interval")
            return
        }
        harness.advance(milliseconds: 999, connections: [client])
        #expect(!client.isClosed)
        harness.advance(milliseconds: 1, connections: [client])
        guard case .error(let error)? = try client.received().first else {
            Issue.record("no ERROR")
            return
        }
        #expect(error.code == .idleTimeout)
    }

    /// A fatal ERROR to a client that does not read: the connection stays `closing` for the
    /// grace period, then closes regardless.
    @Test func closingConnectionIsCutAfterItsGrace() throws {
        let harness = try EmbeddedDataPlane()
        let client = harness.connect()
        client.stall()
        client.send(.ping(1))
        #expect(client.connection.state == .closing)
        harness.advance(milliseconds: DataPortSession.fatalCloseGraceMilliseconds - 1, connections: [client])
        #expect(client.connection.state == .closing)
        harness.advance(milliseconds: 1, connections: [client])
        #expect(client.isClosed && client.io.closed)
    }

    @Test func framesMaySpanReads() throws {
        let harness = try EmbeddedDataPlane()
        let client = harness.connect()
        let hello = Frame.hello(.init(clientName: "split")).encoded()
        for byte in hello { client.send([byte]) }
        guard case .welcome? = try client.received().first else {
            Issue.record("no WELCOME after a byte-by-byte HELLO")
            return
        }
    }
}
