import Benchmark
import TernCore

/// JSON-object validation runs once per publish, on every payload: it must not allocate.
func registerValidatorBenchmarks() {
    for size in [64, 1024, 4096] {
        Benchmark("Validator: JSON object \(size) B", configuration: BenchSettings.allocationFree()) { benchmark in
            let payload = nestedPayload(size: size)
            var valid = 0
            payload.withUnsafeBytes { bytes in
                benchmark.startMeasurement()
                for _ in benchmark.scaledIterations where JSONObjectValidator.isObject(bytes.bytes) {
                    valid += 1
                }
                benchmark.stopMeasurement()
            }
            precondition(valid > 0, "bench payload must validate")
            blackHole(valid)
        }
    }
}

/// A realistic object (numbers, booleans, and from 128 bytes on strings with escapes, a nested
/// array and object) padded to `size` bytes.
private func nestedPayload(size: Int) -> [UInt8] {
    var text =
        size >= 128
        ? #"{"id":12345,"px":101.25,"ok":true,"tags":["a","b\"c"],"n":{"q":null,"v":-1e3},"pad":""#
        : #"{"id":12345,"px":101.25,"ok":true,"pad":""#
    let tail = #""}"#
    precondition(text.utf8.count + tail.utf8.count <= size)
    text += String(repeating: "x", count: size - text.utf8.count - tail.utf8.count) + tail
    return Array(text.utf8)
}
