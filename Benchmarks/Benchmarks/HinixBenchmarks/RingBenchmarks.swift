// The shared-memory message ring (issue 4): round trips to a peer process (HinixBenchmarkPeer)
// pinned to the other core that echoes from one ring to another, and shmem-ipc's own benchmark
// shape (on one thread, a slice copied into a typed ring twice its size and summed in place).
//
// What to read here: mallocCountTotal (0 per message: the hot paths allocate nothing) and the
// read/write syscall counts (0 per message while neither side sleeps). The ratios against the raw
// C ring of the same design are measured by `hinix bench --only ring`, which runs both in one
// process with the same peer placement.
import Benchmark
import Glibc
import Hinix
import HinixBenchKit
import SystemPackage

/// Two rings to an echo peer, made by inheritance when the peer is spawned.
final class RingEchoFixture: @unchecked Sendable {
  let sender: MessageSender
  let receiver: MessageReceiver
  let process: ChildProcess
  let buffer: UnsafeMutableRawBufferPointer

  init(strategy: WaitStrategy) throws {
    let peerCPU = try pinForPeer()
    let out = try MessageSender.createForChild(capacity: 1 << 16)
    let back = try MessageReceiver.createForChild(capacity: 1 << 16)
    let (outChild, backChild) = (out.child, back.child)
    var passing = outChild.passing(from: 3)
    passing.merge(backChild.passing(from: 7)) { first, _ in first }
    let (seconds, attoseconds) = (strategy.spin ?? .zero).components
    let nanoseconds = seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    let spin = strategy == .adaptive ? "adaptive" : strategy == .busySpin ? "-1" : "\(nanoseconds)"
    process = try ChildProcess.spawn(
      EchoFixture.peerExecutable(),
      arguments: ["ring", outChild.argument(from: 3), backChild.argument(from: 7), spin],
      passing: passing, cpu: Int(peerCPU))
    outChild.close()
    backChild.close()
    sender = out.end
    receiver = back.end
    sender.waitStrategy = strategy
    receiver.waitStrategy = strategy
    buffer = .allocate(byteCount: 64, alignment: 64)
    buffer.initializeMemory(as: UInt8.self, repeating: 1)
  }

  func end() {
    try? process.kill(.kill)
    _ = try? process.blockingWait()
    buffer.deallocate()
  }
}

nonisolated(unsafe) var ringEcho: RingEchoFixture!

func ringBenchmarks() {
  func configuration(_ strategy: WaitStrategy) -> Benchmark.Configuration {
    perMessage(setup: { ringEcho = try RingEchoFixture(strategy: strategy) }, teardown: { ringEcho.end() })
  }

  for (name, strategy) in [
    ("busy-spin", WaitStrategy.busySpin), ("spin then sleep", .spinThenSleep(.microseconds(200))),
    ("sleep", .sleep), ("adaptive", .adaptive),
  ] {
    Benchmark("ring echo 64 B, Hinix both ends, \(name)", configuration: configuration(strategy)) {
      benchmark in
      let message = UnsafeRawBufferPointer(ringEcho.buffer)
      for _ in benchmark.scaledIterations {
        try ringEcho.sender.blockingSend(message)
        blackHole(try ringEcho.receiver.blockingReceive(into: ringEcho.buffer))
      }
    }
  }

  Benchmark(
    "ring echo 64 B, Hinix both ends, async, spin then sleep",
    configuration: configuration(.spinThenSleep(.microseconds(200)))
  ) { benchmark in
    let message = UnsafeRawBufferPointer(ringEcho.buffer)
    for _ in benchmark.scaledIterations {
      try await ringEcho.sender.send(message)
      blackHole(try await ringEcho.receiver.receive(into: ringEcho.buffer))
    }
  }

  // The async forms with the default strategy and with `.sleep` (the peer waits likewise).
  for strategy in [WaitStrategy.adaptive, .sleep] {
    Benchmark("ring echo 64 B, Hinix both ends, async, \(strategy)", configuration: configuration(strategy)) {
      benchmark in
      let message = UnsafeRawBufferPointer(ringEcho.buffer)
      for _ in benchmark.scaledIterations {
        try await ringEcho.sender.send(message)
        blackHole(try await ringEcho.receiver.receive(into: ringEcho.buffer))
      }
    }
  }

  // shmem-ipc's own benchmark (benches/sharedring1.rs): on one thread, copy a slice of 64-bit
  // values into a typed ring twice its size and sum it in place on the receiving side.
  // shmem-ipc 0.3 on this machine kind: 243 ns, 532 ns, 2.20 µs and 40.7 µs for these sizes.
  let sameThread = Benchmark.Configuration(
    metrics: [.wallClock, .mallocCountTotal], warmupIterations: 2, scalingFactor: .kilo,
    maxDuration: .seconds(2), maxIterations: 100)
  for size in [64, 4096, 65536, 1 << 20] {
    Benchmark("ring slice through on one thread \(size) B: Hinix", configuration: sameThread) { benchmark in
      let count = size / 8
      let pair = try RingSender<UInt64>.makeRing(capacity: 2 * count)
      let sender = pair.sender
      let receiver = pair.receiver
      // 64-byte aligned, as the C baseline's: memcpy's speed depends on the alignment.
      let source = UnsafeMutableRawBufferPointer.allocate(byteCount: count * 8, alignment: 64)
        .bindMemory(to: UInt64.self)
      defer { source.deallocate() }
      for index in source.indices { source[index] = UInt64(index) + 5 }
      let expected = source.reduce(0, &+)
      benchmark.startMeasurement()
      for _ in benchmark.scaledIterations {
        let sum = try BenchLoops.ringSliceThrough(sender, receiver, UnsafeBufferPointer(source))
        guard sum == expected else {
          throw HinixError(.corrupt, operation: "ring receive", detail: "summed \(sum), not \(expected)")
        }
      }
      benchmark.stopMeasurement()
    }
  }
}
