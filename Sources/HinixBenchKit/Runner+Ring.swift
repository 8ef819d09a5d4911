import CHinixBaseline
import Hinix

/// How a ring measurement waits, as a spin time in nanoseconds shared with the C baseline:
/// negative spins forever, 0 sleeps at once.
enum RingWait: Int64, CaseIterable {
  case busySpin = -1
  case sleep = 0
  case spinThenSleep = 200_000

  var transport: String {
    switch self {
    case .busySpin: "ring-spin"
    case .sleep: "ring-sleep"
    case .spinThenSleep: "ring-spin200"
    }
  }

  var strategy: WaitStrategy {
    switch self {
    case .busySpin: .busySpin
    case .sleep: .sleep
    case .spinThenSleep: .spinThenSleep(.nanoseconds(rawValue))
    }
  }

  /// The wait named by `transport` (how the peer is told: a negative number would read as an
  /// option).
  static func named(_ name: String) throws -> RingWait {
    guard let wait = allCases.first(where: { $0.transport == name }) else {
      throw BenchError.usage("unknown ring wait \(name)")
    }
    return wait
  }
}

extension Runner {
  /// The throughput ring's size: 4 MiB. Measured here, 64 KiB messages moved about 6.5 GB/s
  /// through a 256 KiB ring, 11 through 1 MiB and 13 through 4 MiB, in C as in Hinix.
  static let ringCapacity = 1 << 22

  /// One-way throughput of `size`-byte messages through a message ring to a peer that copies
  /// each one out, both sides spinning 200 µs before they sleep; the C side is the ring of the
  /// same design in ring.c, with its own forked peer.
  func ringThroughput(size: Int) throws -> Figure {
    let count = max(1_000, plan.streamedBytes / size)
    let wait = RingWait.spinThenSleep
    let seconds = try alternating(0.0, +) { implementation in
      var elapsed: Int64 = 0
      switch implementation {
      case .c:
        try check(
          hinix_c_ring_throughput(Self.ringCapacity, size, count, wait.rawValue, Int32(peerCPU), &elapsed))
      case .hinix:
        let ring = try MessageSender.createForChild(capacity: Self.ringCapacity)
        let done = try EventFD()
        let child = ring.child
        var passing = child.passing(from: 3)
        passing[done.descriptor] = 7
        let peer = try spawnPeer(
          ["ring-sink", "hinix", child.argument(from: 3), "\(count)", wait.transport], passing: passing)
        defer { peer.end() }
        child.close()
        let sender = ring.end
        sender.waitStrategy = wait.strategy
        let message = MessageBuffer(size: size)
        defer { message.free() }
        elapsed = try BenchLoops.ringSend(
          sender, UnsafeRawBufferPointer(message.bytes), count: count, done: done)
        try finish(peer)
      }
      return Double(elapsed) / 1e9
    }
    let bytes = Double(size * count * plan.rounds)
    return Figure(
      transport: "shm-ring", size: size, metric: "throughput_bytes_per_s", hinix: bytes / seconds[.hinix]!,
      baseline: bytes / seconds[.c]!)
  }

  /// Round trips of `size`-byte messages through two message rings and an echo peer, with both
  /// sides waiting as `wait` says. With `pingPong`, each round also measures the raw one-line
  /// ping-pong right after the rings, so that the two are compared under the same conditions
  /// (this machine's cross-core latency can change between one minute and the next).
  func ringRoundTrips(
    size: Int, wait: RingWait, pingPong: UnsafeMutablePointer<[Int64]>? = nil
  ) throws -> [Implementation: [Int64]] {
    let count = plan.warmUp + plan.roundTrips
    return try alternating([Int64](), +) { implementation in
      var recorded = [Int64](repeating: 0, count: count)
      defer {
        if implementation == .hinix, let pingPong {
          var samples = [Int64](repeating: 0, count: count)
          let status = samples.withUnsafeMutableBufferPointer { buffer in
            hinix_c_pingpong_rtt(count, Int32(peerCPU), buffer.baseAddress)
          }
          if status == 0 { pingPong.pointee += samples[plan.warmUp...] }
        }
      }
      switch implementation {
      case .c:
        try recorded.withUnsafeMutableBufferPointer { samples in
          try check(
            hinix_c_ring_rtt(
              1 << 16, size, count, wait.rawValue, Int32(peerCPU), samples.baseAddress))
        }
      case .hinix:
        let out = try MessageSender.createForChild(capacity: 1 << 16)
        let back = try MessageReceiver.createForChild(capacity: 1 << 16)
        let (outChild, backChild) = (out.child, back.child)
        var passing = outChild.passing(from: 3)
        passing.merge(backChild.passing(from: 7)) { first, _ in first }
        let peer = try spawnPeer(
          [
            "ring-echo", "hinix", outChild.argument(from: 3), backChild.argument(from: 7), "\(count)",
            wait.transport,
          ], passing: passing)
        defer { peer.end() }
        outChild.close()
        backChild.close()
        let sender = out.end
        let receiver = back.end
        let strategy = wait.strategy
        sender.waitStrategy = strategy
        receiver.waitStrategy = strategy
        let message = MessageBuffer(size: max(size, 1))
        defer { message.free() }
        try recorded.withUnsafeMutableBufferPointer { samples in
          try BenchLoops.ringRoundTrips(sender, receiver, buffer: message.bytes, size: size, samples: samples)
        }
        try finish(peer)
      }
      return Array(recorded[plan.warmUp...])
    }
  }

  /// The ring's round trips with each wait strategy, and the busy-spinning one beside a raw
  /// one-cache-line ping-pong between the same two CPUs (the floor of any shared-memory round
  /// trip) and beside its own spin-then-sleep figure.
  func ringLatencies() throws -> [Figure] {
    var figures: [Figure] = []
    var medians: [RingWait: Double] = [:]
    var pingPong: [Int64] = []
    for wait in [RingWait.busySpin, .spinThenSleep, .sleep] {
      let samples = try withUnsafeMutablePointer(to: &pingPong) { pointer in
        try ringRoundTrips(size: 64, wait: wait, pingPong: wait == .busySpin ? pointer : nil)
      }
      let latency = Report.latency(transport: wait.transport, size: 64, samples, mean: wait != .sleep)
      medians[wait] = latency[0].hinix
      figures += latency
    }
    guard pingPong.count == plan.roundTrips * plan.rounds else {
      throw BenchError.failure("the one-line ping-pong failed")
    }
    let floor = Report.latency(transport: "", size: 8, [.c: pingPong])[0].baseline
    figures.append(
      Figure(
        transport: "spin/ping-pong", size: 64, metric: "rtt_median_ns", hinix: medians[.busySpin]!,
        baseline: floor))
    figures.append(
      Figure(
        transport: "spin200/spin", size: 64, metric: "rtt_median_ns", hinix: medians[.spinThenSleep]!,
        baseline: medians[.busySpin]!))
    // An 8-byte message and its 8-byte header share one cache line, as a 64-byte message and
    // its header cannot: how near the framed ring comes to the one-line floor when a message
    // fits in the line its header publishes, against a ping-pong measured beside it.
    var smallPingPong: [Int64] = []
    let small = try withUnsafeMutablePointer(to: &smallPingPong) { pointer in
      try ringRoundTrips(size: 8, wait: .busySpin, pingPong: pointer)
    }
    guard smallPingPong.count == plan.roundTrips * plan.rounds else {
      throw BenchError.failure("the one-line ping-pong failed")
    }
    let smallLatency = Report.latency(transport: RingWait.busySpin.transport, size: 8, small, mean: true)
    figures += smallLatency
    figures.append(
      Figure(
        transport: "spin/ping-pong", size: 8, metric: "rtt_median_ns", hinix: smallLatency[0].hinix,
        baseline: Report.latency(transport: "", size: 8, [.c: smallPingPong])[0].baseline))
    return figures
  }

  /// shmem-ipc's benchmark shape (its benches/sharedring1.rs): on this thread, copy a slice of
  /// `size` bytes of 64-bit values into a typed ring twice that size and sum them in place on
  /// the receiving side; Hinix beside the C ring doing the same. Both sums are checked.
  func ringSameThread(size: Int) throws -> Figure {
    let count = size / 8
    let iterations = max(200, min(200_000, plan.streamedBytes / 4 / size))
    // Untimed slices first, as shmem-ipc's criterion benchmark warms up: two fill every page of
    // the new ring, whose first-touch faults would otherwise add 2-3 µs to each 1 MiB slice.
    let warmUp = max(2, iterations / 100)
    let expected = UInt64(warmUp + iterations) &* UInt64((0..<count).reduce(0) { $0 &+ $1 &+ 5 })
    let nanoseconds = try alternating(0.0, +) { implementation in
      var elapsed: Int64 = 0
      var sum: UInt64 = 0
      switch implementation {
      case .c:
        try check(hinix_c_ring_same_thread(count, warmUp, iterations, &elapsed, &sum))
      case .hinix:
        let pair = try RingSender<UInt64>.makeRing(capacity: 2 * count)
        // 64-byte aligned, as the C baseline's: memcpy's speed depends on the alignment.
        let source = UnsafeMutableRawBufferPointer.allocate(byteCount: count * 8, alignment: 64)
          .bindMemory(to: UInt64.self)
        defer { source.deallocate() }
        for index in source.indices { source[index] = UInt64(index) + 5 }
        var start: Int64 = 0
        for iteration in 0..<(warmUp + iterations) {
          if iteration == warmUp { start = hinix_c_now_ns() }
          sum &+= try BenchLoops.ringSliceThrough(pair.sender, pair.receiver, UnsafeBufferPointer(source))
        }
        elapsed = hinix_c_now_ns() - start
      }
      guard sum == expected else {
        throw BenchError.failure(
          "the \(implementation) ring summed \(sum) over \(warmUp + iterations) slices, not \(expected)")
      }
      return Double(elapsed) / Double(iterations)
    }
    return Figure(
      transport: "ring-1thread", size: size, metric: "op_ns",
      hinix: nanoseconds[.hinix]! / Double(plan.rounds),
      baseline: nanoseconds[.c]! / Double(plan.rounds))
  }
}
