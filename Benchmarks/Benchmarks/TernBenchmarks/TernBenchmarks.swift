import Benchmark

/// Entry point package-benchmark looks for. Each group lives in its own file.
///
/// Metrics: wall clock and throughput for speed, `mallocCountTotal` for the allocation budget.
/// Benchmarks of the per-message ring path carry a threshold of 0 mallocs, so
/// `swift package --disable-sandbox benchmark baseline check --check-absolute` fails if one starts allocating.
let benchmarks: @Sendable () -> Void = {
    registerWireBenchmarks()
    registerRingBenchmarks()
    registerValidatorBenchmarks()
    registerRegistryBenchmarks()
    registerDeliveryBenchmarks()
}

/// Shared settings: short runs (the machine is small and shared), counters that matter here.
enum BenchSettings {
    static let metrics: [BenchmarkMetric] = [.wallClock, .throughput, .mallocCountTotal]

    /// For benchmarks that must not allocate per message in steady state.
    static func allocationFree(scaling: BenchmarkScalingFactor = .kilo) -> Benchmark.Configuration {
        .init(
            metrics: metrics,
            scalingFactor: scaling,
            maxDuration: .seconds(2),
            maxIterations: 1_000,
            thresholds: [.mallocCountTotal: .init(absolute: [.p90: 0])]
        )
    }

    /// For benchmarks that allocate by design (owned `Frame` values); the count is shown, not enforced.
    static func measured(scaling: BenchmarkScalingFactor = .kilo) -> Benchmark.Configuration {
        .init(metrics: metrics, scalingFactor: scaling, maxDuration: .seconds(2), maxIterations: 1_000)
    }
}

/// A JSON object of exactly `size` bytes, like the load generator's payloads.
func jsonPayload(size: Int) -> [UInt8] {
    precondition(size >= 12)
    let head = Array(#"{"seq":1,"p":""#.utf8)
    return head + [UInt8](repeating: UInt8(ascii: "x"), count: size - head.count - 2) + Array(#""}"#.utf8)
}
