// swift-tools-version:6.1
import PackageDescription

/// Everything that measures Tern, kept out of the main package (as swift-nio does) so the main
/// build never compiles package-benchmark and `make install` never ships a load generator.
///
/// - `TernBenchmarks`: micro-benchmarks of the hot path (package-benchmark). From this folder:
///   `swift package --disable-sandbox benchmark`. The MallocInterposer trait gives the malloc
///   counters that prove the ring path allocates nothing per message in steady state.
/// - `TernLoad`: the load generator as a library: workloads, the Tern/NATS/Redis/relay adapters on
///   one incremental scanner, the ideal relay, histograms, and its few POSIX calls.
/// - `tern-bench`: the load generator's command line (`tern-bench fanout|latency|…`), what
///   `Benchmarks/compare` runs.
let package = Package(
    name: "TernBenchmarks",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "tern-bench", targets: ["tern-bench"])
    ],
    dependencies: [
        .package(name: "Tern", path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", exact: "1.38.1", traits: ["MallocInterposer"]),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.1.0"),
    ],
    targets: [
        .executableTarget(
            name: "TernBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "TernWire", package: "Tern"),
                .product(name: "TernCore", package: "Tern"),
            ],
            path: "Benchmarks/TernBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        // epoll, which Swift's Glibc does not export.
        .target(name: "CLoadShims"),
        .target(
            name: "TernLoad",
            dependencies: [
                "CLoadShims",
                .product(name: "TernClient", package: "Tern"),
                .product(name: "TernWire", package: "Tern"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ],
            swiftSettings: [.enableUpcomingFeature("ExistentialAny")]
        ),
        .executableTarget(
            name: "tern-bench",
            dependencies: [
                "TernLoad",
                .product(name: "TernClient", package: "Tern"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: [.enableUpcomingFeature("ExistentialAny")]
        ),
        .testTarget(
            name: "TernLoadTests",
            dependencies: [
                "TernLoad",
                .product(name: "TernWire", package: "Tern"),
                .product(name: "TernClient", package: "Tern"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
