import Benchmark
import TernCore

/// The whole per-message path inside the server, minus the syscalls: `Broker.publish`
/// (validate, sequence, append the MESSAGE frame to the ring, wake), one reader copying the new
/// run of frames out, and that same run copied into each subscriber's out-buffer (what
/// `OutboundBuffer.append` does when a socket is not writable; `TernReactor` keeps its buffer
/// internal, so a plain preallocated buffer stands in for it).
///
/// The threshold is 0 mallocs: delivering a message allocates nothing in steady state.
func registerDeliveryBenchmarks() {
    for subscribers in [1, 16, 256] {
        Benchmark(
            "Delivery: publish 64 x 64 B, drain, copy to \(subscribers) out-buffer(s)",
            configuration: BenchSettings.allocationFree()
        ) { benchmark in
            let (broker, streams) = makeBrokerWithStreams(count: 1)
            let stream = streams[0]
            let start = stream.addReader(group: 0, ringCapacity: 1 << 20)
            defer { stream.removeReader(group: 0) }
            var cursor = start.cursor
            let batch = UnsafeMutableRawBufferPointer.allocate(byteCount: 256 << 10, alignment: 16)
            let outBuffers = (0..<subscribers).map { _ in
                UnsafeMutableRawPointer.allocate(byteCount: 64 << 10, alignment: 16)
            }
            defer {
                batch.deallocate()
                for buffer in outBuffers { buffer.deallocate() }
            }
            let payload = jsonPayload(size: 64)
            var delivered = 0
            payload.withUnsafeBytes { bytes in
                benchmark.startMeasurement()
                for _ in benchmark.scaledIterations {
                    for _ in 0..<64 { _ = try! broker.publish(to: stream, payload: bytes.bytes) }
                    let result = start.ring.read(from: cursor, into: batch)
                    cursor = result.cursor
                    for out in outBuffers {
                        out.copyMemory(from: batch.baseAddress!, byteCount: result.bytes)
                    }
                    delivered &+= result.bytes
                }
                benchmark.stopMeasurement()
            }
            blackHole(delivered)
        }
    }
}
