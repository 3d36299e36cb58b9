// swift-tools-version:6.2
import PackageDescription

/// Dependencies point one way, toward the core:
/// tern, ternd → TernClient / TernControl / TernReactor → TernCore → TernWire;
/// ternd → TernCluster → TernNATS (cluster mode only) and TernCore.
/// Tern's own targets: no warnings (a package depending on Tern does not inherit this setting).
let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .treatAllWarnings(as: .error),
]

let package = Package(
    name: "Tern",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "ternd", targets: ["ternd"]),
        .executable(name: "tern", targets: ["tern"]),
        .library(name: "TernWire", targets: ["TernWire"]),
        .library(name: "TernClient", targets: ["TernClient"]),
        // For the separate Benchmarks/ package's micro-benchmarks of the ring, registry and validator.
        .library(name: "TernCore", targets: ["TernCore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.0.0"),
        // The control port adopts a socket-activated fd through NIO's ServerBootstrap.
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.0"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.34.1"),
        // /metrics: swift-metrics API, Prometheus text backend.
        .package(url: "https://github.com/apple/swift-metrics", from: "2.9.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.0"),
        // HMAC-SHA256 for API key secrets and Access Tokens (JWT HS256).
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        // TLS to the NATS servers of cluster mode.
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.29.0"),
    ],
    targets: [
        // Syscalls Glibc does not export (epoll, eventfd, accept4) and the ring's word-atomic copies.
        .target(name: "CTernShims"),
        // Pure wire codec: frame layout, encode/decode, limits. No I/O.
        .target(name: "TernWire", swiftSettings: strict),
        // Credentials: API key secrets (hashed), Twilio Access Tokens (JWT HS256), per-stream grants.
        // Pure: no sockets, no files, no clock of its own.
        .target(
            name: "TernAuth",
            dependencies: [.product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strict
        ),
        // Streams, registry, broadcast rings, sids, limits. No sockets, no files.
        .target(name: "TernCore", dependencies: ["TernWire", "TernAuth", "CTernShims"], swiftSettings: strict),
        // epoll threads, listeners, connections, out-buffers.
        .target(
            name: "TernReactor",
            dependencies: [
                "TernCore", "TernWire", "TernAuth", "CTernShims", .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // Twilio-compatible REST API on Hummingbird.
        .target(
            name: "TernControl",
            dependencies: [
                "TernCore",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOExtras", package: "swift-nio-extras"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        // Durable state: services, streams, credentials in SQLite (WAL). Off the message path.
        .target(
            name: "TernStore",
            dependencies: ["TernCore", .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: strict
        ),
        // A small NATS client: pure protocol parser/encoder, a swift-nio connection, JetStream KV.
        .target(
            name: "TernNATS",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: strict
        ),
        // Cluster mode: the registry in a JetStream KV bucket, messages across nodes over NATS.
        // Only `--cluster` starts it; single-node ternd never touches it.
        .target(
            name: "TernCluster",
            dependencies: [
                "TernCore", "TernNATS", "TernWire", "TernAuth",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        // libsystemd: socket activation and sd_notify. Optional at run time.
        .systemLibrary(name: "CSystemd", pkgConfig: "libsystemd", providers: [.apt(["libsystemd-dev"])]),
        .target(name: "TernSystemd", dependencies: ["CSystemd"], swiftSettings: strict),
        // Client library: data-port connections and a small REST client.
        .target(
            name: "TernClient",
            dependencies: [
                "TernWire", "CTernShims",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "ternd",
            dependencies: [
                "TernCore", "TernReactor", "TernControl", "TernStore", "TernSystemd", "TernWire", "TernAuth",
                "TernCluster",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "tern",
            dependencies: [
                "TernClient", "TernWire", "TernAuth",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict
        ),
        .testTarget(name: "TernWireTests", dependencies: ["TernWire"]),
        .testTarget(name: "TernCoreTests", dependencies: ["TernCore", "TernWire"]),
        .testTarget(name: "TernAuthTests", dependencies: ["TernAuth"]),
        .testTarget(name: "TernNATSTests", dependencies: ["TernNATS"]),
        .testTarget(name: "TernEndToEndTests", dependencies: ["TernClient", "TernWire", "TernAuth", "CTernShims"]),
        .testTarget(name: "TernStoreTests", dependencies: ["TernStore", "TernCore"]),
        .testTarget(name: "TernReactorTests", dependencies: ["TernReactor", "TernCore", "TernWire", "TernAuth"]),
    ],
    swiftLanguageModes: [.v6]
)
