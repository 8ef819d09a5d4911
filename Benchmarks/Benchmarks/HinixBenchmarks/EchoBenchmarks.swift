// Library-to-library round trips: the same library at both ends of a Unix stream socket, the
// peer a separate process (HinixBenchmarkPeer) pinned to the other core. This is how a user
// compares Hinix with SwiftNIO for a request/reply protocol between two Swift processes.
//
// Goal (issue 3): Hinix's async round-trip rate at least 2x NIO's; (issue 16) with the adaptive
// wait strategy at both ends, at least 4x. With `.sleep` both libraries pay two cross-core
// wake-ups per round trip; spin-then-sleep, which NIO has no equivalent of, removes them while
// replies come fast, and the adaptive strategy spins only while they do.
import Benchmark
import Glibc
import Hinix
import HinixBenchKit
import NIOCore
import NIOPosix
import SystemPackage

/// One peer process and this side's end of its socket.
struct EchoPeer {
  let process: ChildProcess
  let socket: Socket
}

/// The echo peers of the library-to-library round trips, made in setup and ended in teardown.
final class EchoFixture: @unchecked Sendable {
  static let messageSize = 64
  /// The spin of the spin-then-sleep runs: longer than a round trip with a sleeping peer, so a
  /// side sleeps only when the other has stopped answering.
  static let spin = Duration.microseconds(200)
  /// ``spin`` as the peer's argument takes it.
  static let spinNanoseconds = 200_000

  let sleeping: EchoPeer
  let spinning: EchoPeer
  let adaptive: EchoPeer
  let nioPeer: EchoPeer
  let buffer: UnsafeMutableRawBufferPointer
  let group: MultiThreadedEventLoopGroup
  let nio: Channel
  let nioHandler: RoundTripHandler

  init() async throws {
    let peerCPU = try pinForPeer()
    let thisCPU = allowedCPUs.first ?? 0
    // Keep this side's reactor thread, which runs the async loops, off the peer's core.
    try await withTaskExecutorPreference(Reactor.shared) {
      try ChildProcess.pinCurrentThread(toCPU: thisCPU)
    }
    sleeping = try EchoFixture.spawn(["hinix", "0"], cpu: Int(peerCPU))
    sleeping.socket.waitStrategy = .sleep
    spinning = try EchoFixture.spawn(
      ["hinix", "\(EchoFixture.spinNanoseconds)"], cpu: Int(peerCPU))
    spinning.socket.waitStrategy = .spinThenSleep(EchoFixture.spin)
    adaptive = try EchoFixture.spawn(
      ["hinix", "-1"], cpu: Int(peerCPU))  // the peer's code for adaptive
    adaptive.socket.waitStrategy = .adaptive
    nioPeer = try EchoFixture.spawn(["nio"], cpu: Int(peerCPU))
    buffer = .allocate(byteCount: EchoFixture.messageSize, alignment: 64)
    buffer.initializeMemory(as: UInt8.self, repeating: 1)
    group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    try await group.next().submit { try ChildProcess.pinCurrentThread(toCPU: thisCPU) }.get()
    let handler = RoundTripHandler()
    nioHandler = handler
    nio = try await ClientBootstrap(group: group)
      .channelInitializer { channel in channel.pipeline.addHandler(handler) }
      .withConnectedSocket(dup(nioPeer.socket.descriptor.rawValue)).get()
  }

  /// Spawns the peer executable, which the benchmarks' build puts beside this one.
  private static func spawn(_ arguments: [String], cpu: Int) throws -> EchoPeer {
    let (mine, theirs) = try Socket.pair(.stream)
    let process = try ChildProcess.spawn(
      peerExecutable(), arguments: arguments, passing: [theirs.descriptor: 3], cpu: cpu)
    // `theirs` closes here, when it goes out of scope: the peer holds its own copy.
    return EchoPeer(process: process, socket: mine)
  }

  static func peerExecutable() throws -> FilePath {
    try ownExecutable().removingLastComponent().appending("HinixBenchmarkPeer")
  }

  func end() async throws {
    try await nio.close()
    try await group.shutdownGracefully()
    for peer in [sleeping, spinning, adaptive, nioPeer] {
      try? peer.socket.shutdown(.write)
      _ = try? await peer.process.wait()
    }
    buffer.deallocate()
  }
}

nonisolated(unsafe) var echoes: EchoFixture!

func echoBenchmarks() {
  let configuration = perMessage(
    setup: { echoes = try await EchoFixture() }, teardown: { try await echoes.end() })
  let size = EchoFixture.messageSize

  /// Hinix async round trips on the reactor's executor through `peer`.
  func hinix(_ peer: KeyPath<EchoFixture, EchoPeer>) -> (Benchmark) async throws -> Void {
    { benchmark in
      let socket = echoes[keyPath: peer].socket
      let message = UnsafeRawBufferPointer(echoes.buffer)
      let reply = echoes.buffer
      try await withTaskExecutorPreference(Reactor.shared) {
        for _ in benchmark.scaledIterations {
          try await socket.write(message)
          try await socket.readExactly(into: reply)
        }
      }
    }
  }

  Benchmark(
    "echo 64 B, both ends Hinix async, sleep", configuration: configuration, closure: hinix(\.sleeping))
  Benchmark(
    "echo 64 B, both ends Hinix async, spin then sleep", configuration: configuration,
    closure: hinix(\.spinning))
  Benchmark(
    "echo 64 B, both ends Hinix async, adaptive", configuration: configuration, closure: hinix(\.adaptive))
  Benchmark("echo 64 B, both ends SwiftNIO", configuration: configuration) { benchmark in
    let buffer = echoes.nio.allocator.buffer(repeating: 1, count: size)
    for _ in benchmark.scaledIterations {
      try await echoes.nio.roundTrip(buffer, expecting: size, handler: echoes.nioHandler)
    }
  }
}
