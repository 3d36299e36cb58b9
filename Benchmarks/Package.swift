// swift-tools-version:6.1
import PackageDescription

/// Micro-benchmarks of Tern's hot path, kept out of the main package (as swift-nio does) so the
/// main build never compiles package-benchmark. Run from this folder:
///
///     swift package --disable-sandbox benchmark
///
/// The MallocInterposer trait gives the malloc counters that prove the ring path allocates nothing
/// per message in steady state.
let package = Package(
    name: "TernBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "Tern", path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", exact: "1.38.1", traits: ["MallocInterposer"]),
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
        )
    ],
    swiftLanguageModes: [.v6]
)
