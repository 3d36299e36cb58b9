// swift-tools-version:5.4
// 5.4 on purpose: newer tools versions make SwiftPM link executables with a `main` alias for
// testable executables, which clashes with libFuzzer's own `main` (platform-notes.md).
import PackageDescription

/// libFuzzer targets for Tern's parsers, kept out of the main package so the main build never
/// sees the sanitizer flags. Build and run them with `scripts/fuzz.sh` (see Fuzz/README.md); the
/// flags `-sanitize=fuzzer,address` come from that script, so every target here, the code under
/// test included, gets coverage instrumentation and AddressSanitizer.
///
/// The code under test is compiled from the main package's own files through symlinks, not
/// through `.package(path: "..")`: that keeps this package free of the main package's
/// dependency graph (Hummingbird, GRDB, NIO: nothing to resolve or build under ASan), and lets
/// the REST decoding of TernControl be fuzzed without TernControl's Hummingbird import.
/// A fuzz target defines `LLVMFuzzerTestOneInput` and no `main` (libFuzzer brings it): without
/// this flag, a target of one file would be compiled as a script with its own `main`.
let fuzzTarget: [SwiftSetting] = [.unsafeFlags(["-parse-as-library"])]

/// The session target compiles the broker core and the data plane with `-enable-testing`, so it
/// can drive them through the test suite's embedded harness (`@testable import`), as the unit
/// tests do.
let testable: [SwiftSetting] = [.unsafeFlags(["-enable-testing"])]

let package = Package(
    name: "TernFuzz",
    dependencies: [
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
    ],
    targets: [
        // Sources/TernWire -> ../../Sources/TernWire: the whole wire codec, as a module.
        .target(name: "TernWire", path: "Sources/TernWire"),
        // Frame splitter and decoder on arbitrary byte streams; encoder on arbitrary fields.
        .executableTarget(name: "FuzzFrames", dependencies: ["TernWire"], swiftSettings: fuzzTarget),
        // JSONObjectValidator (symlinked from TernCore), with JSONSerialization as a second opinion.
        .executableTarget(name: "FuzzJSON", dependencies: ["CTernShims"], swiftSettings: fuzzTarget),
        // Form/query decoding, PageToken and paging (symlinked from TernControl), with the
        // client's form encoder (TernClient) and the JSON writer checked against the validator.
        .executableTarget(name: "FuzzForms", dependencies: ["CTernShims"], swiftSettings: fuzzTarget),
        // Sources/{CTernShims,TernAuth,TernCore,TernReactor} -> the main package's modules.
        .target(name: "CTernShims", path: "Sources/CTernShims"),
        .target(
            name: "TernAuth",
            dependencies: [.product(name: "Crypto", package: "swift-crypto")],
            path: "Sources/TernAuth"
        ),
        .target(
            name: "TernCore",
            dependencies: ["TernWire", "TernAuth", "CTernShims"],
            path: "Sources/TernCore",
            swiftSettings: testable
        ),
        .target(
            name: "TernReactor",
            dependencies: [
                "TernCore", "TernWire", "TernAuth", "CTernShims", .product(name: "Logging", package: "swift-log"),
            ],
            path: "Sources/TernReactor",
            swiftSettings: testable
        ),
        // The data-port session state machine and fan-out, driven by scripts of client frames,
        // raw bytes, clock moves, socket stalls, REST publishes and deletes, through the test
        // suite's EmbeddedDataPlane (symlinked from Tests/TernReactorTests/Harness).
        .executableTarget(
            name: "FuzzSession",
            dependencies: [
                "TernCore", "TernReactor", "TernWire", "TernAuth", .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: fuzzTarget
        ),
    ]
)
