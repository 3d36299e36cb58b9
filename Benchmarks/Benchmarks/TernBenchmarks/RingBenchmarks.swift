import Benchmark
import TernCore

/// The broadcast ring alone: one append per message, and readers copying runs of frames out
/// (one reader, and four readers following the same ring, as four reactor threads would).
func registerRingBenchmarks() {
    let payload = jsonPayload(size: 64)

    Benchmark("Ring: append (64 B)", configuration: BenchSettings.allocationFree(scaling: .mega)) { benchmark in
        let ring = BroadcastRing(capacity: 1 << 20)
        payload.withUnsafeBytes { bytes in
            benchmark.startMeasurement()
            for index in benchmark.scaledIterations {
                ring.appendMessage(streamID: 1, sequence: UInt64(index), payload: bytes)
            }
            benchmark.stopMeasurement()
        }
        blackHole(ring.tailPosition)
    }

    // The data port's publish runs: 256 frames per call, encoded in the writer's staging memory
    // and copied into the ring at once. Per message: compare with "Ring: append (64 B)".
    Benchmark("Ring: append a run of 256 (64 B)", configuration: BenchSettings.allocationFree(scaling: .kilo)) {
        benchmark in
        let ring = BroadcastRing(capacity: 1 << 20)
        let staging = UnsafeMutableRawBufferPointer.allocate(byteCount: 16 << 10, alignment: 16)
        defer { staging.deallocate() }
        payload.withUnsafeBytes { bytes in
            let run = [UnsafeRawBufferPointer](repeating: bytes, count: 256)
            run.withUnsafeBufferPointer { payloads in
                benchmark.startMeasurement()
                for index in benchmark.scaledIterations {
                    ring.appendMessages(
                        streamID: 1,
                        firstSequence: UInt64(index) * 256,
                        payloads: payloads,
                        staging: staging
                    )
                }
                benchmark.stopMeasurement()
            }
        }
        blackHole(ring.tailPosition)
    }

    for readers in [1, 4] {
        // One iteration: 256 appends, then every reader drains them in one read.
        Benchmark(
            "Ring: 256 appends + read by \(readers) reader(s) (64 B)",
            configuration: BenchSettings.allocationFree()
        ) { benchmark in
            let ring = BroadcastRing(capacity: 1 << 20)
            let batch = UnsafeMutableRawBufferPointer.allocate(byteCount: 256 << 10, alignment: 16)
            defer { batch.deallocate() }
            var cursors = [UInt64](repeating: ring.tailPosition, count: readers)
            var copied = 0
            payload.withUnsafeBytes { bytes in
                var sequence: UInt64 = 0
                benchmark.startMeasurement()
                for _ in benchmark.scaledIterations {
                    for _ in 0..<256 {
                        sequence += 1
                        ring.appendMessage(streamID: 1, sequence: sequence, payload: bytes)
                    }
                    for reader in 0..<readers {
                        let result = ring.read(from: cursors[reader], into: batch)
                        cursors[reader] = result.cursor
                        copied &+= result.bytes
                    }
                }
                benchmark.stopMeasurement()
            }
            blackHole(copied)
        }
    }
}
