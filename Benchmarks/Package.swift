// swift-tools-version: 6.1
// The benchmarks live in their own package so that the library's build never pulls in
// benchmark tooling. Run them with `swift package benchmark` from this folder.
import PackageDescription

let package = Package(
  name: "HinixBenchmarks",
  platforms: [.macOS(.v13)],
  dependencies: [
    .package(name: "Hinix", path: "../"),
    .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.0", traits: ["MallocInterposer"]),
    // SwiftNIO: the peer a Swift user would otherwise pick, measured beside Hinix here only.
    .package(url: "https://github.com/apple/swift-nio", from: "2.101.0"),
  ],
  targets: [
    .executableTarget(
      name: "HinixBenchmarks",
      dependencies: [
        .product(name: "Benchmark", package: "benchmark"),
        .product(name: "Hinix", package: "Hinix"),
        .product(name: "HinixBaseline", package: "Hinix"),
        .product(name: "HinixBenchKit", package: "Hinix"),
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOPosix", package: "swift-nio"),
        // Built with the benchmarks, which spawn it from their own folder.
        "HinixBenchmarkPeer",
      ],
      path: "Benchmarks/HinixBenchmarks",
      plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
    ),
    // The echo peer of the library-to-library round trips (Hinix or SwiftNIO at both ends). Not
    // under Benchmarks/, where the benchmark plugin would run it as a benchmark.
    .executableTarget(
      name: "HinixBenchmarkPeer",
      dependencies: [
        .product(name: "Hinix", package: "Hinix"),
        .product(name: "HinixBenchKit", package: "Hinix"),
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOPosix", package: "swift-nio"),
      ],
      path: "Sources/HinixBenchmarkPeer"
    ),
  ],
  swiftLanguageModes: [.v6]
)
