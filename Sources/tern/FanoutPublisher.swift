import Foundation
import TernClient

/// The bench's single publisher: its own connection on its own thread, writing coalesced batches
/// of PUBLISH frames as fast as the server takes them, or evenly paced at `rate`.
///
/// Each batch is stamped once, just before it is written: messages written together leave
/// together, so one timestamp per batch measures the same thing as one per message, for less work.
struct FanoutPublisher: Sendable {
    var dataAddress: String
    var streamSid: String
    var payloadSize: Int
    var durationNanoseconds: UInt64
    /// Messages per second; nil publishes as fast as possible.
    var rate: Double?
    /// Bytes of frames per write when unpaced.
    var batchBytes = 128 << 10
    /// How long one flush may block before the bench gives up on the server.
    var flushTimeout: Duration = .seconds(10)

    func start(progress: FanoutProgress) {
        let thread = Thread { run(progress: progress) }
        thread.name = "tern-publisher"
        thread.start()
    }

    private func run(progress: FanoutProgress) {
        defer {
            progress.publishEndNanoseconds.store(MonotonicClock.nanoseconds(), ordering: .relaxed)
            progress.publisherFinished.store(true, ordering: .releasing)
        }
        do {
            let connection = try DataConnection(dataAddress, clientName: "tern bench publisher")
            defer { connection.close() }
            connection.autoFlushBytes = Int.max  // batches are flushed explicitly, right after stamping
            let streamID = try connection.subscribe(streamSid, attachOnly: true).streamID
            try publish(on: connection, streamID: streamID, progress: progress)
        } catch {
            progress.publisherFailure.withLock { $0 = "\(error)" }
        }
    }

    private func publish(on connection: DataConnection, streamID: UInt32, progress: FanoutProgress) throws {
        var payload = FanoutPayload(size: payloadSize)
        let frameBytes = payload.bytes.count + 16
        let maxBatch = max(1, batchBytes / frameBytes)
        let start = MonotonicClock.nanoseconds()
        let end = start + durationNanoseconds
        progress.publishStartNanoseconds.store(start, ordering: .relaxed)
        var sent: UInt64 = 0
        while !progress.stopRequested.load(ordering: .relaxed) {
            let now = MonotonicClock.nanoseconds()
            if now >= end { break }
            var batch = maxBatch
            if let rate {
                let due = UInt64(Double(now - start) / 1e9 * rate) + 1
                if due <= sent {
                    // Sleep until the next message is due (at most 1 ms, to notice the end).
                    let nextDue = start + UInt64(Double(sent) / rate * 1e9)
                    MonotonicClock.sleep(nanoseconds: min(max(nextDue &- now, 1_000), 1_000_000))
                    continue
                }
                batch = min(maxBatch, Int(due - sent))
            }
            payload.stamp(now)
            try payload.bytes.withUnsafeBytes { bytes in
                for _ in 0..<batch { try connection.publish(streamID: streamID, payload: bytes) }
            }
            try connection.flush(timeout: flushTimeout)
            sent += UInt64(batch)
            progress.published.store(sent, ordering: .relaxed)
            try countErrors(on: connection, progress: progress)
        }
    }

    /// Drains what the server sent the publisher (ERRORs for refused publishes) without waiting.
    private func countErrors(on connection: DataConnection, progress: FanoutProgress) throws {
        while let frame = try connection.nextFrame(timeout: .zero) {
            if case .error = frame { progress.publishErrors.add(1, ordering: .relaxed) }
        }
    }
}
