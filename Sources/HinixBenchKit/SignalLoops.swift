import CHinixBaseline
import Glibc
import Hinix
import Synchronization

/// The Hinix side of the signal measurements: a `SignalWatcher` receives, `Signal.send` answers.
extension BenchLoops {
  /// Waits for the peer's first signal (it is ready), then times round trips: send the peer
  /// `signal`, await its reply on `watcher`. With `onReactor`, the loop runs as a task that
  /// prefers the reactor's executor, so a delivery resumes it on the reactor's own thread;
  /// without, on the default pool, as a plain `for await` does.
  static func signalRoundTrips(
    peer: pid_t, signal: Signal, watcher: SignalWatcher, onReactor: Bool,
    samples: UnsafeMutableBufferPointer<Int64>
  ) throws {
    let recorded = Mutex<[Int64]>([])
    let count = samples.count
    try waitForAsync(onReactor: onReactor) {
      var deliveries = watcher.makeAsyncIterator()
      guard await deliveries.next() != nil else { throw BenchError.failure("the signal watcher ended") }
      var times = [Int64](repeating: 0, count: count)
      for index in 0..<count {
        let start = hinix_c_now_ns()
        try signal.send(to: peer)
        guard await deliveries.next() != nil else { throw BenchError.failure("the signal watcher ended") }
        times[index] = hinix_c_now_ns() - start
      }
      recorded.withLock { $0 = times }
    }
    recorded.withLock { times in
      for index in samples.indices { samples[index] = times[index] }
    }
  }

  /// The peer: watches `signal`, tells its parent it is ready, and answers each delivery with
  /// `signal` to its sender.
  static func signalEcho(signal: Signal, count: Int, onReactor: Bool) throws {
    let watcher = try SignalWatcher([signal])
    try waitForAsync(onReactor: onReactor) {
      try signal.send(to: getppid())
      var answered = 0
      for await delivery in watcher {
        try signal.send(to: delivery.senderPID)
        answered += 1
        if answered == count { break }
      }
    }
  }

  /// Sends a real-time signal to this process `count` times, each awaited by a task on the
  /// reactor's executor before the next is sent: the instruction-counted signal path. Not
  /// inlined into its caller, so that it cannot change how the other counted paths compile.
  @inline(never)
  static func signalsToSelf(count: Int) throws {
    guard let signal = Signal.realtime(1) else { throw BenchError.failure("no real-time signals") }
    let watcher = try SignalWatcher([signal])
    let me = Sys.processID
    try waitForAsync(onReactor: true) {
      var deliveries = watcher.makeAsyncIterator()
      for _ in 0..<count {
        try signal.send(to: me)
        guard await deliveries.next() != nil else { throw BenchError.failure("the signal watcher ended") }
      }
    }
  }

  /// Awaits `child`'s exit (the async form, through the reactor) and returns when it returned.
  static func awaitExit(_ child: ChildProcess) throws -> Int64 {
    let ended = Mutex<Int64>(0)
    try waitForAsync(onReactor: false) {
      let termination = try await child.wait()
      let now = hinix_c_now_ns()
      guard termination == .exited(0) else {
        throw BenchError.failure("the exiting peer ended with \(termination)")
      }
      ended.withLock { $0 = now }
    }
    return ended.withLock { $0 }
  }

  /// Runs `body` in a task (preferring the reactor's executor with `onReactor`) and blocks this
  /// thread, which is not one of the pool's, until it ends; rethrows its error.
  static func waitForAsync(onReactor: Bool, _ body: @escaping @Sendable () async throws -> Void) throws {
    let done = try EventFD()
    let failure = Mutex<(any Error)?>(nil)
    let run: @Sendable () async -> Void = {
      do { try await body() } catch { failure.withLock { $0 = error } }
      _ = try? done.tryAdd(1)
    }
    if onReactor {
      Task(executorPreference: Reactor.shared) { await run() }
    } else {
      Task { await run() }
    }
    _ = try done.blockingRead()
    if let error = failure.withLock({ $0 }) { throw error }
  }
}
