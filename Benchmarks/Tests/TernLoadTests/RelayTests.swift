import Foundation
import Testing

@testable import TernLoad

/// The ideal relay and the fan-out workload against it, in process: no external server.
@Suite struct RelayTests {
    @Test(.timeLimit(.minutes(1))) func fanoutThroughTheRelayDeliversEverything() throws {
        let relay = RelayOnItsThread(
            try BenchRelay(listen: "127.0.0.1:0", batchBytes: 256 << 10, maxPendingBytes: 1 << 20)
        )
        let address = relay.relay.boundAddress
        Thread { relay.relay.run(forSeconds: 8) }.start()

        var plan = BenchRun(workload: "fanout")
        plan.subscribersPerStream = 3
        plan.payloadSize = 64
        plan.durationSeconds = 1
        plan.rate = 20_000
        let target = LoadTarget(broker: .relay, address: address, tern: TernEndpoint(controlURL: "http://127.0.0.1:1"))
        let report = try target.run(plan)
        #expect(report.published > 15_000)
        // The relay never drops: no subscriber sees a gap. The last messages of the run may still
        // be in flight when the generator stops counting (a loaded CI machine left 12 of 60,000),
        // so the total is checked to within 1 %.
        #expect(report.sampledGaps == 0)
        #expect(report.delivered <= report.published * 3)
        #expect(report.delivered * 100 >= report.published * 3 * 99, "\(report.delivered) of \(report.published * 3)")
        #expect(report.latency.totalCount > 0)
        let json = try JSONSerialization.jsonObject(with: Data(report.json.utf8)) as? [String: Any]
        #expect(json?["broker"] as? String == "relay")
        #expect((json?["delivery_ratio"] as? Double ?? 0) >= 0.99)
    }
}

/// Hands the relay to the one thread that runs it (the test only read its address before).
private final class RelayOnItsThread: @unchecked Sendable {
    let relay: BenchRelay
    init(_ relay: BenchRelay) { self.relay = relay }
}
