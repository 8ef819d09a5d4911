// Round trips between this process and a forked peer on the other core, each through Hinix and
// through raw C doing the same system calls, measured in the same run. The peer is the same raw
// C echo loop for both, so any difference is the cost of Hinix on this side.
//
// Goal (issue 2): Hinix's median at most 1.10x the C baseline's; 0 allocations per message on the
// receive-into-buffer path (read the mallocCountTotal column). Goal (issue 16): the async forms,
// with `.sleep` and with the default strategy, allocate nothing per round trip either, and an
// async round trip costs at most 1.25x the blocking one.
import Benchmark
import CHinixBaseline
import Glibc
import Hinix
import HinixBenchKit
import SystemPackage

/// The kernel objects and peer of one benchmark, made in setup and ended in teardown.
final class Fixture: @unchecked Sendable {
  let toPeer: MessageQueue
  let fromPeer: MessageQueue
  let ping: EventFD
  let pong: EventFD
  /// Two pipes to a byte echo peer: this side writes `toPipePeer` and reads `fromPipePeer`.
  let toPipePeer: PipeWriter
  let fromPipePeer: PipeReader
  let buffer: UnsafeMutableRawBufferPointer
  var peers: [pid_t] = []
  private let names: [String]

  init() throws {
    let stem = "/hinix-benchmarks-\(getpid())"
    names = [stem + "-to", stem + "-from"]
    let capacity = MessageQueue.Capacity(maxMessages: 10, maxMessageSize: 8192)
    toPeer = try MessageQueue(creating: names[0], capacity: capacity)
    fromPeer = try MessageQueue(creating: names[1], capacity: capacity)
    ping = try EventFD()
    pong = try EventFD()
    let out = try Pipe.create()
    let back = try Pipe.create()
    toPipePeer = out.writer
    fromPipePeer = back.reader
    // Blocking as the C side does, whatever the default strategy is.
    for queue in [toPeer, fromPeer] { queue.waitStrategy = .sleep }
    for event in [ping, pong] { event.waitStrategy = .sleep }
    toPipePeer.waitStrategy = .sleep
    fromPipePeer.waitStrategy = .sleep
    buffer = .allocate(byteCount: 8192, alignment: 64)
    buffer.initializeMemory(as: UInt8.self, repeating: 0)
    let peerCPU = try pinForPeer()
    peers.append(
      hinix_c_fork_echo(0, toPeer.descriptor.rawValue, fromPeer.descriptor.rawValue, 8192, peerCPU))
    peers.append(hinix_c_fork_echo(1, ping.descriptor.rawValue, pong.descriptor.rawValue, 8, peerCPU))
    // The forked peer keeps its own copies of its ends; this side's close with `out` and `back`.
    peers.append(
      hinix_c_fork_echo(2, out.reader.descriptor.rawValue, back.writer.descriptor.rawValue, 64, peerCPU))
    guard peers.allSatisfy({ $0 > 0 }) else {
      throw HinixError(.system, operation: "fork", detail: "\(peers)")
    }
  }

  func end() {
    endPeers(peers)
    for name in names { try? MessageQueue.unlink(name) }
    buffer.deallocate()
  }
}

/// Pins this process (every thread, and those started later) to the first allowed CPU and
/// returns the CPU for the peer: the second allowed one, or the same when only one is allowed.
/// Pinning only this thread let an async benchmark's pool thread run on the peer's CPU in some
/// runs (the async ring echo then took 20 µs instead of 1 µs).
func pinForPeer() throws -> Int32 {
  let cpus = allowedCPUs
  try pinProcess(toCPU: cpus.first ?? 0)
  return Int32(cpus.count > 1 ? cpus[1] : cpus.first ?? 0)
}

/// Kills and reaps forked peers.
func endPeers(_ pids: [pid_t]) {
  for pid in pids {
    kill(pid, SIGKILL)
    var status: Int32 = 0
    waitpid(pid, &status, 0)
  }
}

nonisolated(unsafe) var fixture: Fixture!

/// The configuration of the per-message benchmarks: each sample is 1,000 messages, so the
/// harness's own few allocations per sample vanish in the per-message figures that are reported
/// (marked *); `setup` and `teardown` make and end the benchmark's fixture.
func perMessage(
  setup: @escaping Benchmark.BenchmarkSetupHook, teardown: @escaping Benchmark.BenchmarkTeardownHook
) -> Benchmark.Configuration {
  Benchmark.Configuration(
    metrics: [.wallClock, .mallocCountTotal, .readSyscalls, .writeSyscalls],
    warmupIterations: 2,
    scalingFactor: .kilo,
    maxDuration: .seconds(3),
    maxIterations: 100,
    setup: setup,
    teardown: teardown
  )
}

let benchmarks: @Sendable () -> Void = {
  socketBenchmarks()
  echoBenchmarks()
  ringBenchmarks()
  signalBenchmarks()
  eventBenchmarks()
  terminalBenchmarks()

  let configuration = perMessage(setup: { fixture = try Fixture() }, teardown: { fixture.end() })

  for size in [64, 1024, 8192] {
    Benchmark("mq round trip \(size) B: Hinix receive(into:)", configuration: configuration) { benchmark in
      let message = UnsafeRawBufferPointer(rebasing: fixture.buffer[..<size])
      for _ in benchmark.scaledIterations {
        try fixture.toPeer.blockingSend(message)
        blackHole(try fixture.fromPeer.blockingReceive(into: fixture.buffer))
      }
    }

    Benchmark("mq round trip \(size) B: C", configuration: configuration) { benchmark in
      let out = fixture.toPeer.descriptor.rawValue
      let back = fixture.fromPeer.descriptor.rawValue
      for _ in benchmark.scaledIterations {
        let result = hinix_c_mq_rtt(out, back, fixture.buffer.baseAddress, 8192, size, 1, nil)
        precondition(result == 0, "mq round trip failed: \(result)")
      }
    }
  }

  // The async forms, with each strategy set on both of this side's objects for the benchmark.
  for strategy in [WaitStrategy.sleep, .adaptive] {
    Benchmark("mq round trip 64 B: Hinix async, \(strategy)", configuration: configuration) { benchmark in
      let message = UnsafeRawBufferPointer(rebasing: fixture.buffer[..<64])
      for queue in [fixture.toPeer, fixture.fromPeer] { queue.waitStrategy = strategy }
      defer { for queue in [fixture.toPeer, fixture.fromPeer] { queue.waitStrategy = .sleep } }
      for _ in benchmark.scaledIterations {
        try await fixture.toPeer.send(message)
        blackHole(try await fixture.fromPeer.receive(into: fixture.buffer))
      }
    }

    Benchmark("eventfd round trip: Hinix async, \(strategy)", configuration: configuration) { benchmark in
      for event in [fixture.ping, fixture.pong] { event.waitStrategy = strategy }
      defer { for event in [fixture.ping, fixture.pong] { event.waitStrategy = .sleep } }
      for _ in benchmark.scaledIterations {
        try await fixture.ping.add(1)
        blackHole(try await fixture.pong.read())
      }
    }
  }

  Benchmark("pipe round trip 64 B: Hinix", configuration: configuration) { benchmark in
    let message = UnsafeRawBufferPointer(rebasing: fixture.buffer[..<64])
    let reply = UnsafeMutableRawBufferPointer(rebasing: fixture.buffer[..<64])
    for _ in benchmark.scaledIterations {
      try fixture.toPipePeer.blockingWrite(message)
      var done = 0
      while done < 64 {
        let count = try fixture.fromPipePeer.blockingRead(
          into: UnsafeMutableRawBufferPointer(rebasing: reply[done...]))
        precondition(count > 0, "the pipe peer ended its stream")
        done += count
      }
    }
  }

  Benchmark("pipe round trip 64 B: C", configuration: configuration) { benchmark in
    let out = fixture.toPipePeer.descriptor.rawValue
    let back = fixture.fromPipePeer.descriptor.rawValue
    for _ in benchmark.scaledIterations {
      let result = hinix_c_stream_rtt(out, back, fixture.buffer.baseAddress, 64, 1, nil)
      precondition(result == 0, "pipe round trip failed: \(result)")
    }
  }

  for strategy in [WaitStrategy.sleep, .adaptive] {
    Benchmark("pipe round trip 64 B: Hinix async, \(strategy)", configuration: configuration) { benchmark in
      let message = UnsafeRawBufferPointer(rebasing: fixture.buffer[..<64])
      let reply = UnsafeMutableRawBufferPointer(rebasing: fixture.buffer[..<64])
      fixture.toPipePeer.waitStrategy = strategy
      fixture.fromPipePeer.waitStrategy = strategy
      defer {
        fixture.toPipePeer.waitStrategy = .sleep
        fixture.fromPipePeer.waitStrategy = .sleep
      }
      for _ in benchmark.scaledIterations {
        try await fixture.toPipePeer.write(message)
        var done = 0
        while done < 64 {
          let count = try await fixture.fromPipePeer.read(
            into: UnsafeMutableRawBufferPointer(rebasing: reply[done...]))
          precondition(count > 0, "the pipe peer ended its stream")
          done += count
        }
      }
    }
  }

  Benchmark("eventfd round trip: Hinix", configuration: configuration) { benchmark in
    for _ in benchmark.scaledIterations {
      try fixture.ping.blockingAdd(1)
      blackHole(try fixture.pong.blockingRead())
    }
  }

  Benchmark("eventfd round trip: C", configuration: configuration) { benchmark in
    let ping = fixture.ping.descriptor.rawValue
    let pong = fixture.pong.descriptor.rawValue
    for _ in benchmark.scaledIterations {
      let result = hinix_c_eventfd_rtt(ping, pong, 1, nil)
      precondition(result == 0, "eventfd round trip failed: \(result)")
    }
  }
}
