import Glibc
import Hinix
import Synchronization
import SystemPackage

/// How many iterations a run makes.
public struct Plan: Sendable {
  /// Round trips timed per measurement and round, after `warmUp` untimed ones.
  public var roundTrips: Int
  /// Messages sent one way per throughput measurement and round (at most).
  public var streamed: Int
  /// Bytes sent one way per throughput measurement and round (at most).
  public var streamedBytes: Int
  /// How many times each measurement alternates C and Hinix.
  public var rounds: Int
  /// Children started per round for the pidfd exit latency (each sample is a process start,
  /// the slowest part of a run), after 3 untimed ones.
  public var exitSamples: Int
  /// File storms decoded per round for the inotify decoding figures.
  public var storms: Int
  /// Folders per level of the three-level tree watched recursively (32: 33,825 folders).
  public var treeFanout: Int
  var warmUp: Int { max(roundTrips / 10, 100) }

  /// A plan of `rounds` rounds of these sizes.
  public init(
    roundTrips: Int, streamed: Int, streamedBytes: Int, rounds: Int, exitSamples: Int = 300, storms: Int = 4,
    treeFanout: Int = 32
  ) {
    self.roundTrips = roundTrips
    self.streamed = streamed
    self.streamedBytes = streamedBytes
    self.rounds = rounds
    self.exitSamples = exitSamples
    self.storms = storms
    self.treeFanout = treeFanout
  }

  /// `hinix bench --quick`: under 10 s on two cores, one round; a check that every figure runs.
  public static let quick = Plan(
    roundTrips: 500, streamed: 2_000, streamedBytes: 8 << 20, rounds: 1, exitSamples: 15, storms: 1,
    treeFanout: 8)

  /// `hinix bench`: under two minutes on two cores, three rounds.
  public static let standard = Plan(
    roundTrips: 2_000, streamed: 10_000, streamedBytes: 64 << 20, rounds: 3, exitSamples: 40, storms: 2)

  /// `hinix bench --full`: five rounds of longer measurements, for figures to quote (several minutes).
  public static let full = Plan(
    roundTrips: 6_000, streamed: 30_000, streamedBytes: 256 << 20, rounds: 5, exitSamples: 300, storms: 4)
}

/// The groups of measurements a run can be limited to, in the order they run.
public enum BenchGroup: String, CaseIterable, Sendable {
  /// POSIX message queues: round trips and throughput.
  case mq
  /// eventfd round trips.
  case eventfd
  /// Pipes, FIFOs and Unix sockets: round trips and throughput.
  case stream
  /// Descriptor passing round trips.
  case fdpass
  /// Pseudo-terminals in raw mode: round trips and throughput through the line discipline.
  case terminal
  /// Signal delivery round trips (kill, a watcher's sequence, a kill back), and the latency
  /// of waiting for a child's exit through its pidfd.
  case signal
  /// The shared-memory rings: throughput, round trips with each wait, and one-thread slices.
  case ring
  /// Event sources: inotify decoding and latency, timer wake-ups, the poller's wait.
  case events
}

/// The CPUs of a run: this process's first allowed CPU, and the peer's (the second allowed one
/// unless both share a core).
public struct Placement: Sendable, CustomStringConvertible {
  /// The CPU this process is pinned to.
  public var parentCPU: Int
  /// The CPU the peer is pinned to.
  public var peerCPU: Int
  /// Whether only one CPU is allowed.
  var onlyOneCPU: Bool

  /// Pins this process (every thread, and the threads started later) to the first allowed CPU
  /// and places the peer on the second, or on the same one with `sameCore` or when only one is
  /// allowed.
  public static func pinned(sameCore: Bool) throws -> Placement {
    let cpus = allowedCPUs
    let parentCPU = cpus.first ?? 0
    let peerCPU = sameCore || cpus.count < 2 ? parentCPU : cpus[1]
    try pinProcess(toCPU: parentCPU)
    return Placement(parentCPU: parentCPU, peerCPU: peerCPU, onlyOneCPU: cpus.count < 2)
  }

  /// Where the two processes run, as the report's first line says.
  public var description: String {
    parentCPU == peerCPU
      ? "both processes on CPU \(parentCPU) (same core\(onlyOneCPU ? ": only one CPU allowed" : ""))"
      : "this process on CPU \(parentCPU), the peer on CPU \(peerCPU) (different cores)"
  }
}

/// This process's executable, from /proc/self/exe: `hinix bench` spawns itself as its peer, and
/// the benchmarks find their peer beside it.
public func ownExecutable() throws -> FilePath {
  switch Sys.executablePath() {
  case .success(let path): return path
  case .failure(let error):
    throw BenchError.failure("readlink(/proc/self/exe): \(error)")
  }
}

/// Runs each measurement against a freshly spawned peer, alternating Hinix and C in rounds.
public struct Runner: Sendable {
  var executable: FilePath
  var peerCPU: Int
  var plan: Plan
  /// Says on standard error that a peer died (the tool's way of reporting a problem).
  var report: @Sendable (String) -> Void
  /// Told of each step and round, when someone watches (see ``measure(_:progress:)``).
  private var meter: ProgressMeter?

  /// A runner that spawns `executable` with `bench-peer` and the peer's arguments on `peerCPU`,
  /// measures as `plan` says, and tells `report` when a peer dies (before it exits with
  /// status 1).
  public init(executable: FilePath, peerCPU: Int, plan: Plan, report: @escaping @Sendable (String) -> Void) {
    self.executable = executable
    self.peerCPU = peerCPU
    self.plan = plan
    self.report = report
  }

  /// One measurement of a run: its label and what it measures.
  private struct Step {
    var label: String
    var run: (Runner) throws -> [Figure]
  }

  /// The steps that measure `groups`, in the order of ``BenchGroup/allCases``.
  private func steps(_ groups: [BenchGroup]) throws -> [Step] {
    func measures(_ group: BenchGroup) -> Bool { groups.contains(group) }
    var steps: [Step] = []
    func add(_ label: String, _ run: @escaping (Runner) throws -> [Figure]) {
      steps.append(Step(label: label, run: run))
    }
    let limits = try MessageQueue.Limits.current()
    for size in [64, 1024, 8192] where size <= limits.maxMessageSize && measures(.mq) {
      add("mq \(size)") {
        try $0.messageQueueRoundTrips(size: size) + [$0.messageQueueThroughput(size: size)]
      }
    }
    if measures(.eventfd) {
      add("eventfd") { try $0.eventFDRoundTrips() }
    }
    for kind in StreamKind.allCases where kind != .pty && measures(.stream) {
      for size in [64, 4096, 65536] {
        add("stream \(kind.rawValue) \(size)") {
          try $0.streamRoundTrips(kind, size: size) + [$0.streamThroughput(kind, size: size)]
        }
      }
    }
    if measures(.fdpass) {
      add("fdpass") { try $0.descriptorPassingRoundTrips() }
    }
    for size in [64, 4096, 65536] where measures(.terminal) {
      add("terminal \(size)") {
        try $0.streamRoundTrips(.pty, size: size) + [$0.streamThroughput(.pty, size: size)]
      }
    }
    if measures(.signal) {
      add("signal (default pool)") { try $0.signalRoundTrips(onReactor: false) }
      add("signal (reactor)") { try $0.signalRoundTrips(onReactor: true) }
      add("signal (C event loop)") { try $0.signalRoundTrips(onReactor: true, loop: true) }
      add("pidfd exit") { try $0.exitWaitLatency() }
    }
    if measures(.events) {
      add("inotify decoding") { [try $0.inotifyDecoding()] }
      add("inotify raw") { [try $0.inotifyDecoding(raw: true)] }
      add("inotify latency") { try $0.inotifyLatency() }
      add("inotify tree") { [try $0.recursiveWatchSetUp()] }
      add("timer") { try $0.timerLateness() }
      add("poller") { [try $0.pollerWait()] }
    }
    if measures(.ring) {
      for size in [64, 4096, 65536] {
        add("ring throughput \(size)") { [try $0.ringThroughput(size: size)] }
      }
      add("ring latency") { try $0.ringLatencies() }
      for size in [64, 4096, 65536, 1 << 20] {
        add("ring one thread \(size)") { [try $0.ringSameThread(size: size)] }
      }
    }
    return steps
  }

  /// The figures of `groups`, measured in the order of ``BenchGroup/allCases``; `progress` is
  /// told as each step and round begins.
  public func measure(
    _ groups: [BenchGroup], progress: (@Sendable (BenchProgress) -> Void)? = nil
  ) throws -> [Figure] {
    let steps = try steps(groups)
    var runner = self
    let meter = progress.map { ProgressMeter(steps: steps.count, rounds: plan.rounds, report: $0) }
    runner.meter = meter
    var figures: [Figure] = []
    for step in steps {
      meter?.begin(step.label)
      figures += try step.run(runner)
    }
    return figures
  }

  /// Runs `measure` for C and then Hinix, `plan.rounds` times, so that drift over the run hits
  /// both alike, and adds up each side's results with `add`.
  func alternating<T>(
    _ zero: T, _ add: (T, T) -> T, _ measure: (Implementation) throws -> T
  ) rethrows -> [Implementation: T] {
    var results: [Implementation: T] = [:]
    for round in 0..<plan.rounds {
      meter?.round(round + 1)
      for implementation in [Implementation.c, .hinix] {
        results[implementation] = add(results[implementation] ?? zero, try measure(implementation))
      }
    }
    return results
  }

  /// Runs `measure` with room for `count` samples and returns those after the warm-up.
  func timedSamples(_ count: Int, _ measure: (UnsafeMutableBufferPointer<Int64>) throws -> Void) rethrows
    -> [Int64]
  {
    var recorded = [Int64](repeating: 0, count: count)
    try recorded.withUnsafeMutableBufferPointer { try measure($0) }
    return Array(recorded[plan.warmUp...])
  }

  func spawnPeer(
    _ arguments: [String], passing: [FileDescriptor: Int32] = [:], queues: [String] = []
  ) throws -> PeerWatch {
    let peer = try ChildProcess.spawn(
      executable, arguments: ["bench-peer"] + arguments, passing: passing, cpu: peerCPU)
    return try PeerWatch(peer, queues: queues, report: report)
  }

  func finish(_ peer: PeerWatch) throws {
    let termination = peer.join()
    guard termination == .exited(0) else {
      throw BenchError.failure("the benchmark peer ended with \(termination)")
    }
  }
}

/// Watches a benchmark peer from a thread of its own: if the peer dies while this process waits
/// for it in a blocking call, the bench reports it, removes its queues and exits with status 1
/// instead of waiting forever.
final class PeerWatch: @unchecked Sendable {
  private let peer: ChildProcess
  private let queues: [String]
  private let report: @Sendable (String) -> Void
  private var termination: ChildProcess.Termination = .exited(0)
  private var joined = false
  private let stopping = Atomic<Bool>(false)
  /// Counts 1 once the watching thread has reaped the peer.
  private let done: EventFD

  init(_ peer: ChildProcess, queues: [String], report: @escaping @Sendable (String) -> Void) throws {
    self.peer = peer
    self.queues = queues
    self.report = report
    done = try EventFD()
    if case .failure(let error) = Sys.startThread({ self.watch() }) {
      throw BenchError.failure("pthread_create: \(error)")
    }
  }

  private func watch() {
    termination = (try? peer.blockingWait()) ?? .exited(-1)
    defer { try? done.blockingAdd(1) }
    if termination != .exited(0) && !stopping.load(ordering: .acquiring) {
      report("the benchmark peer (pid \(peer.pid)) ended with \(termination)")
      for name in queues { try? MessageQueue.unlink(name) }
      exit(1)
    }
  }

  /// The peer's process id.
  var pid: pid_t { peer.pid }

  /// Waits for the peer to end and returns how it ended.
  func join() -> ChildProcess.Termination {
    if !joined {
      _ = try? done.blockingRead()
      joined = true
    }
    return termination
  }

  /// Stops a peer that is still running (after an error on this side) and reaps it.
  func end() {
    if !joined {
      stopping.store(true, ordering: .releasing)
      try? peer.kill(.kill)
      _ = join()
    }
  }
}
