// swift-tools-version: 6.1
import PackageDescription

let package = Package(
  name: "Hinix",
  products: [
    .library(name: "Hinix", targets: ["Hinix"]),
    .executable(name: "hinix", targets: ["hinix"]),
    .executable(name: "mqsend", targets: ["mqsend"]),
    .executable(name: "mqrecv", targets: ["mqrecv"]),
    // Raw C loops doing the same syscalls as Hinix: the baselines of the Benchmarks package.
    .library(name: "HinixBaseline", targets: ["CHinixBaseline"]),
    // The measurements of `hinix bench`, which the Benchmarks package shares.
    .library(name: "HinixBenchKit", targets: ["HinixBenchKit"]),
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-system", from: "1.4.0"),
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    // `swift package generate-documentation --target Hinix`: the DocC catalog (CI builds it).
    .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.4.0"),
  ],
  targets: [
    // The C shim: what Swift's Glibc module cannot reach (variadic mq_open, epoll, eventfd,
    // the fork-and-exec of a spawned child, sched_setaffinity).
    .target(name: "CHinix"),
    // The library.
    .target(
      name: "Hinix",
      dependencies: [
        "CHinix",
        .product(name: "SystemPackage", package: "swift-system"),
      ]
    ),
    // Raw C doing the same syscalls as Hinix, the baseline of `hinix bench`.
    .target(name: "CHinixBaseline"),
    // The measurements, peer, statistics and report of `hinix bench`, without its command line.
    .target(
      name: "HinixBenchKit",
      dependencies: ["Hinix", "CHinixBaseline", .product(name: "SystemPackage", package: "swift-system")]
    ),
    // Command-line front ends shared by `hinix`, `mqsend` and `mqrecv`.
    .target(
      name: "HinixCommands",
      dependencies: [
        "Hinix",
        "HinixBenchKit",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
        .product(name: "SystemPackage", package: "swift-system"),
      ]
    ),
    .executableTarget(name: "hinix", dependencies: ["HinixCommands"]),
    .executableTarget(name: "mqsend", dependencies: ["HinixCommands"]),
    .executableTarget(name: "mqrecv", dependencies: ["HinixCommands"]),
    // The peer process the tests spawn.
    .executableTarget(
      name: "hinix-test-peer",
      dependencies: [
        "Hinix",
        .product(name: "SystemPackage", package: "swift-system"),
      ],
      path: "Sources/HinixTestPeer"
    ),
    // Examples, one per mechanism family (`swift run NAME`): the shared-memory ring the README
    // shows, a message-queue worker pool, graceful shutdown on signals, a file watcher and a
    // serial terminal.
    .executableTarget(name: "ring-example", dependencies: ["Hinix"], path: "Examples/RingExample"),
    .executableTarget(name: "queue-workers", dependencies: ["Hinix"], path: "Examples/QueueWorkers"),
    .executableTarget(name: "graceful-shutdown", dependencies: ["Hinix"], path: "Examples/GracefulShutdown"),
    .executableTarget(name: "watch-folder", dependencies: ["Hinix"], path: "Examples/WatchFolder"),
    .executableTarget(name: "serial-terminal", dependencies: ["Hinix"], path: "Examples/SerialTerminal"),
    .testTarget(
      name: "HinixTests",
      dependencies: [
        "Hinix",
        "HinixBenchKit",
        .product(name: "SystemPackage", package: "swift-system"),
      ]
    ),
  ],
  swiftLanguageModes: [.v6]
)
