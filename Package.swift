// swift-tools-version:6.0
import PackageDescription

// Exclusivity is checked at compile time; the run-time checks cost ~6% of the hot path here.
let releaseSettings: [SwiftSetting] = [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]

// Dependencies point one way: spillway -> SpillwayConfiguration -> sinks, disk buffer -> SpillwayCore
// (docs/architecture.md draws the graph; scripts/check-imports enforces it).
let package = Package(
    name: "spillway",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "spillway", targets: ["spillway"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.6.0"),
    ],
    targets: [
        .target(name: "CSpillway", linkerSettings: [.linkedLibrary("seccomp")]),
        .target(name: "SpillwaySystem", dependencies: ["CSpillway", "SpillwayCore", "SpillwaySeccomp"]),
        .target(name: "SpillwaySeccomp", dependencies: ["SpillwayCore"]),
        .target(
            name: "SpillwayCore", dependencies: [.product(name: "DequeModule", package: "swift-collections")],
            swiftSettings: releaseSettings),
        .target(
            name: "SpillwayConfiguration",
            dependencies: [
                "SpillwayCore", "SpillwaySystem", "SpillwayForward", "SpillwayCloudWatch", "SpillwayDiskBuffer", "SpillwayMetrics",
            ]),
        .target(
            name: "SpillwayEventLoop",
            dependencies: [
                "SpillwayCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .target(
            name: "SpillwayForward",
            dependencies: [
                "SpillwayCore", "SpillwayEventLoop",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOTLS", package: "swift-nio"),
                "SpillwayDigest", "CSpillwayZlib",
            ]
        ),
        .target(
            name: "SpillwayCloudWatch",
            dependencies: [
                "SpillwayCore", "SpillwayEventLoop",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                "SpillwayDigest",
            ]
        ),
        .target(
            name: "SpillwayMetrics",
            dependencies: [
                "SpillwayCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        // NIOSSL's BoringSSL (its CNIOBoringSSL module) serves the digests too.
        .target(name: "SpillwayDigest", dependencies: [.product(name: "NIOSSL", package: "swift-nio-ssl")]),
        .target(name: "SpillwayDiskBuffer", dependencies: ["SpillwayCore", "SpillwaySystem"]),
        .systemLibrary(name: "CSpillwayZlib", path: "Sources/CSpillwayZlib"),
        .target(name: "SpillwayTestKit", dependencies: ["SpillwayCore"]),
        .target(
            name: "SpillwayLauncher",
            dependencies: [
                "SpillwaySystem", "SpillwayCore", "SpillwayConfiguration", "SpillwayForward",
                "SpillwayCloudWatch", "SpillwayDiskBuffer", "SpillwaySeccomp", "SpillwayMetrics",
            ]
        ),
        .executableTarget(name: "spillway", dependencies: ["SpillwayLauncher", "SpillwaySystem"]),
        // libFuzzer targets, one per parser of outside bytes (scripts/fuzz builds them with
        // -sanitize=fuzzer -DFUZZING; a plain build gives a stub that says so).
        .target(name: "SpillwayFuzzDriver"),
        .executableTarget(name: "FuzzMessagePack", dependencies: ["SpillwayForward", "SpillwayFuzzDriver"]),
        .executableTarget(name: "FuzzHTTPResponse", dependencies: ["SpillwayCloudWatch", "SpillwayFuzzDriver"]),
        .executableTarget(name: "FuzzJSON", dependencies: ["SpillwayCloudWatch", "SpillwayFuzzDriver"]),
        .executableTarget(name: "FuzzSharedConfig", dependencies: ["SpillwayCloudWatch", "SpillwayFuzzDriver"]),
        .executableTarget(name: "FuzzSegmentScanner", dependencies: ["SpillwayDiskBuffer", "SpillwayFuzzDriver"]),
        .executableTarget(name: "FuzzConfiguration", dependencies: ["SpillwayConfiguration", "SpillwayFuzzDriver"]),
        .testTarget(name: "SpillwaySystemTests", dependencies: ["SpillwaySystem"]),
        .testTarget(name: "SpillwayLauncherTests", dependencies: ["SpillwayLauncher", "SpillwayTestKit"]),
        .testTarget(name: "SpillwaySeccompTests", dependencies: ["SpillwaySeccomp", "SpillwaySystem"]),
        .testTarget(name: "SpillwayCoreTests", dependencies: ["SpillwayCore", "SpillwayTestKit"]),
        .testTarget(name: "SpillwayMetricsTests", dependencies: ["SpillwayMetrics", "SpillwayCore", "SpillwayTestKit"]),
        .testTarget(name: "SpillwayConfigurationTests", dependencies: ["SpillwayConfiguration", "SpillwayMetrics"]),
        .testTarget(name: "SpillwayForwardTests", dependencies: ["SpillwayForward", "SpillwayTestKit", "SpillwayDigest"]),
        .testTarget(name: "SpillwayDigestTests", dependencies: ["SpillwayDigest"]),
        .testTarget(
            name: "SpillwayCloudWatchTests",
            dependencies: [
                "SpillwayCloudWatch", "SpillwayTestKit",
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "SpillwayDiskBufferTests", dependencies: ["SpillwayDiskBuffer", "SpillwaySystem", "SpillwayCore", "SpillwayTestKit"]),
    ]
)
