import Glibc

/// What a side does when the data it waits for is not there yet: sleep at once, spin for a
/// bounded time and then sleep, or never sleep — the wait strategies of Aeron and the LMAX
/// disruptor.
///
/// Sleeping costs nothing while idle but each wake-up is a trip through the scheduler; on a
/// virtual machine a cross-core wake-up through any kernel object costs tens of microseconds.
/// Spinning answers within a fraction of a microsecond but keeps a core busy. Spin-then-sleep
/// keeps the fast path while messages flow and gives the core back when they stop.
///
/// Spinning retries the operation's non-blocking form (a system call for sockets), so a spin is
/// cheap only where the peer answers quickly. An async operation that spins holds its thread for
/// at most one spin slice (`sliceNanoseconds`) before it yields to other tasks and checks for
/// cancellation.
public struct WaitStrategy: Sendable, Hashable, CustomStringConvertible {
  /// How long to spin before sleeping, in nanoseconds; `Int64.max` spins forever;
  /// ``adaptiveMark`` for ``adaptive``, whose spin changes from one wait to the next.
  @usableFromInline let spinNanoseconds: Int64
  /// A strategy of this spin.
  init(spinNanoseconds: Int64) {
    self.spinNanoseconds = spinNanoseconds
  }

  /// ``spinNanoseconds`` of ``adaptive``.
  static let adaptiveMark: Int64 = -1

  /// The default. Spin only when the peer has lately answered sooner than a sleep and a
  /// wake-up would take (30 µs), for about twice as long as it took (10–50 µs); sleep at once
  /// otherwise. Each descriptor (or ring end) keeps its own ``WaitHistory`` of how soon answers
  /// came while it spun, so a request/reply connection whose peer answers within microseconds
  /// spins through its waits, while an idle connection or a slow peer costs what ``sleep``
  /// costs but for one 50 µs probe spin in 32 waits, which notices a peer that has become fast.
  /// It spins in async forms and in a shared-memory ring's waits; the blocking forms of kernel
  /// descriptors (sockets, pipes, queues, eventfds, terminals) sleep at once with it, and so
  /// does a descriptor with no history (``WaitHistory/none``).
  public static let adaptive = WaitStrategy(spinNanoseconds: adaptiveMark)

  /// Sleep at once: never spends CPU on a wait, and pays a wake-up on each one.
  public static let sleep = WaitStrategy(spinNanoseconds: 0)

  /// Never sleep: retry until the operation succeeds, the deadline of a timed form passes, or
  /// the task is cancelled. Occupies a core for the whole wait.
  public static let busySpin = WaitStrategy(spinNanoseconds: .max)

  /// Spin for at most `duration`, then sleep as ``sleep`` does. A negative or zero duration is
  /// ``sleep``.
  public static func spinThenSleep(_ duration: Duration) -> WaitStrategy {
    WaitStrategy(spinNanoseconds: Deadline.nanoseconds(of: duration))
  }

  /// How long an async spin holds its thread before it yields to other tasks.
  static let sliceNanoseconds: Int64 = 50_000

  /// Whether this is ``adaptive``, whose waits teach a history.
  var isAdaptive: Bool { spinNanoseconds == Self.adaptiveMark }

  /// How long a wait spins before it sleeps: zero for ``sleep``, the longest `Duration` of
  /// nanoseconds for ``busySpin``, and `nil` for ``adaptive``, whose spin changes from one wait
  /// to the next.
  public var spin: Duration? {
    spinNanoseconds == Self.adaptiveMark ? nil : .nanoseconds(spinNanoseconds)
  }

  /// Whether this strategy may spin (``adaptive`` may).
  public var spins: Bool { spinNanoseconds != 0 }

  /// A readable name for logs and benchmark reports.
  public var description: String {
    switch spinNanoseconds {
    case 0: "sleep"
    case .max: "busy-spin"
    case Self.adaptiveMark: "adaptive"
    default: "spin \(Duration.nanoseconds(spinNanoseconds)) then sleep"
    }
  }

  /// How long a wait that starts now spins, in nanoseconds: this strategy's spin, or for
  /// ``adaptive`` what `history` says (nothing without one). Asked once per wait: an adaptive
  /// history counts its probes by it.
  func spinBudget(_ history: WaitHistory) -> Int64 {
    spinNanoseconds >= 0 ? spinNanoseconds : history.learner?.spinBudget() ?? 0
  }

  /// When a spin of `budget` nanoseconds that begins at `start` (CLOCK_MONOTONIC nanoseconds)
  /// must stop, never later than `limit`.
  static func spinEnd(from start: Int64, budget: Int64, limit: Deadline.Instant? = nil) -> Int64 {
    let (sum, overflow) = start.addingReportingOverflow(budget)
    let end = overflow ? Int64.max : sum
    return limit.map { min(end, $0.nanoseconds) } ?? end
  }

  /// Retries `attempt` until it returns a value or the clock reaches `end`; `nil` when it did.
  ///
  /// The clock is read every `checkEvery` attempts: 1 suits an attempt that is a system call
  /// (a vDSO `clock_gettime` is a small fraction of it), a larger power of two suits an attempt
  /// that only reads memory.
  @inline(__always)
  static func spin<T, E: Error>(
    until end: Int64, checkEvery: Int = 1, _ attempt: () throws(E) -> T?
  ) throws(E) -> T? {
    var round = 0
    while true {
      if let value = try attempt() { return value }
      round &+= 1
      if round % checkEvery == 0, Deadline.Instant.now.nanoseconds >= end { return nil }
      relax()
    }
  }

  /// The spin a blocking or timed form makes before it parks its thread: retries `attempt`
  /// (which never waits) for the spin time, never past a timed form's deadline; `nil` when the
  /// spin ran out, or at once when the strategy sleeps or the form is a try form. ``adaptive``
  /// spins in async forms and ring waits only: a blocking form of a kernel descriptor sleeps
  /// at once with it, as with ``sleep``.
  @inline(__always)
  func spinFirst<T>(_ waiting: Waiting, _ attempt: () throws(HinixError) -> T?) throws(HinixError) -> T? {
    guard spinNanoseconds > 0 else { return nil }
    let now = Deadline.Instant.now.nanoseconds
    let end: Int64
    switch waiting {
    case .never: return nil
    case .forever: end = WaitStrategy.spinEnd(from: now, budget: spinNanoseconds)
    case .until(let deadline): end = WaitStrategy.spinEnd(from: now, budget: spinNanoseconds, limit: deadline)
    }
    return try WaitStrategy.spin(until: end, attempt)
  }

  /// A hint to the processor that this thread is spinning (x86 `pause`, Arm `yield`).
  @inline(__always)
  static func relax() {
    Sys.cpuRelax()
  }
}
