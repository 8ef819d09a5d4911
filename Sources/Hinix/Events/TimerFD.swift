import Glibc
import SystemPackage

/// A timerfd: a timer whose expirations are read from a descriptor, so it can be awaited like
/// any other Hinix descriptor or watched in a ``Poller``.
///
/// ```swift
/// let timer = try TimerFD(clock: .monotonic)
/// try timer.schedule(after: .milliseconds(10), repeating: .milliseconds(10))
/// for try await tick in timer.ticks {
///   if case .expired(let count) = tick, count > 1 { print("\(count - 1) ticks missed") }
/// }
/// ```
///
/// **Expirations are counted, never lost.** Each read returns how many times the timer expired
/// since the last read (``Event/expired(_:)``), so a reader that was late learns how many
/// periods it missed.
///
/// **Clock changes.** A timer scheduled at an absolute time on a realtime clock with
/// `cancelOnClockChange` reports a discontinuous change of that clock (someone set the time) as
/// ``Event/clockChanged``, a value rather than an error: once per change, which drops the
/// expirations not read yet. The timer stays armed for the same time on the changed clock.
///
/// Reads come in the four Hinix forms, and ``ticks`` is their async sequence. The descriptor
/// is close-on-exec and blocking, so the blocking read waits in the kernel's read, where the
/// kernel lets the other forms read without blocking (`RWF_NOWAIT`); where it does not, the
/// descriptor is non-blocking and every form polls before it reads.
public final class TimerFD: Sendable {
  /// The clock a timer measures time on.
  public enum Clock: Sendable, Hashable, CustomStringConvertible {
    /// Time since an unspecified start that never jumps; stops while the system is suspended
    /// (`CLOCK_MONOTONIC`).
    case monotonic
    /// Wall-clock time, which can be set (`CLOCK_REALTIME`).
    case realtime
    /// Like `monotonic`, but counts time while the system is suspended (`CLOCK_BOOTTIME`).
    case boottime
    /// `realtime` that wakes a suspended system; needs `CAP_WAKE_ALARM`
    /// (`CLOCK_REALTIME_ALARM`).
    case realtimeAlarm
    /// `boottime` that wakes a suspended system; needs `CAP_WAKE_ALARM`
    /// (`CLOCK_BOOTTIME_ALARM`).
    case boottimeAlarm

    /// The clock's id for the kernel.
    var id: Int32 {
      switch self {
      case .monotonic: Sys.clockMonotonic
      case .realtime: Sys.clockRealtime
      case .boottime: Sys.clockBoottime
      case .realtimeAlarm: Sys.clockRealtimeAlarm
      case .boottimeAlarm: Sys.clockBoottimeAlarm
      }
    }

    /// The C name of the clock.
    public var description: String {
      switch self {
      case .monotonic: "CLOCK_MONOTONIC"
      case .realtime: "CLOCK_REALTIME"
      case .boottime: "CLOCK_BOOTTIME"
      case .realtimeAlarm: "CLOCK_REALTIME_ALARM"
      case .boottimeAlarm: "CLOCK_BOOTTIME_ALARM"
      }
    }

    /// Whether the clock follows the wall clock, which can be set (and so can change).
    public var isRealtime: Bool { self == .realtime || self == .realtimeAlarm }

    /// The clock's time now, since its epoch (1970 for the realtime clocks, an unspecified
    /// start for the others): what ``TimerFD/schedule(at:repeating:cancelOnClockChange:)``
    /// takes.
    ///
    /// The corresponding C function is `clock_gettime`.
    public func now() throws(HinixError) -> Duration {
      switch Sys.clockNow(id) {
      case .success(let nanoseconds): return .nanoseconds(nanoseconds)
      case .failure(let error): throw HinixError.system(error, "clock_gettime", subject: description)
      }
    }
  }

  /// What one read of the timer reports.
  public enum Event: Sendable, Hashable {
    /// The timer expired this many times (at least 1) since the last read.
    case expired(UInt64)
    /// The realtime clock was set while a timer scheduled with `cancelOnClockChange` was
    /// armed; reported once per change.
    case clockChanged
  }

  /// The timer's setting, as the kernel reports it (`timerfd_gettime`).
  public struct Setting: Sendable, Hashable {
    /// The time until the next expiration; nil when the timer is disarmed.
    public var remaining: Duration?
    /// The period; nil for a one-shot timer.
    public var interval: Duration?
  }

  /// The clock this timer measures time on.
  public let clock: Clock
  private let handle: OwnedDescriptor

  /// The timerfd, still owned by this value.
  public var descriptor: FileDescriptor { handle.descriptor }

  /// Creates a disarmed timer on `clock` (close-on-exec).
  ///
  /// - Throws: `.permissionDenied` for an alarm clock without `CAP_WAKE_ALARM`; `.invalidArgument`
  ///   for a clock this kernel does not support; `.limitExceeded` when out of descriptors.
  /// The corresponding C function is `timerfd_create`.
  public init(clock: Clock = .monotonic) throws(HinixError) {
    switch Sys.timerFD(clock: clock.id) {
    case .success(let fd):
      self.clock = clock
      handle = OwnedDescriptor(adopting: FileDescriptor(rawValue: fd))
      nonBlocking = (try? FileDescriptor(rawValue: fd).isNonBlocking().get()) ?? true
    case .failure(let error):
      throw HinixError.system(error, "timerfd_create", subject: clock.description) { error in
        switch error {
        case .notPermitted, .permissionDenied:
          (.permissionDenied, "\(clock) needs CAP_WAKE_ALARM, which this process does not have")
        case .invalidArgument:
          (.invalidArgument, "this kernel has no timerfd for \(clock)")
        default: nil
        }
      }
    }
  }

  /// Takes ownership of a timerfd descriptor (one a parent handed down, for example) on `clock`.
  public init(adopting descriptor: FileDescriptor, clock: Clock) {
    self.clock = clock
    handle = OwnedDescriptor(adopting: descriptor)
    nonBlocking = (try? descriptor.isNonBlocking().get()) ?? true
  }

  /// Whether the description is non-blocking: where the kernel cannot read a timerfd with
  /// `RWF_NOWAIT`, Hinix makes it so, and every form but the blocking one polls first.
  private let nonBlocking: Bool

  private var subject: String { "timerfd \(descriptor.rawValue) (\(clock))" }

  // MARK: Scheduling

  /// Arms the timer to expire once `delay` from now, and then every `interval` if given.
  ///
  /// A delay of zero or below expires at once (the kernel's zero would disarm the timer
  /// instead), as a negative timeout elsewhere in Hinix is a wait that timed out at once.
  /// Scheduling replaces any earlier setting and resets the count of unread expirations.
  /// - Throws: `.invalidArgument` for a negative or zero interval.
  /// The corresponding C function is `timerfd_settime`.
  public func schedule(after delay: Duration, repeating interval: Duration? = nil) throws(HinixError) {
    let value = try nanoseconds(max(delay, .zero), "the delay", allowZero: true)
    try set(value: max(value, 1), interval: interval, absolute: false, cancelOnClockChange: false)
  }

  /// Arms the timer to expire when `clock` reads `time` (see ``Clock/now()``), and then every
  /// `interval` if given. A time already past expires at once.
  ///
  /// - Parameters:
  ///   - time: the reading of `clock` to expire at; a time already past (or negative) expires at once.
  ///   - interval: the period of later expirations, above zero; `nil` expires once.
  ///   - cancelOnClockChange: on a realtime clock, report a change of the clock
  ///     (someone set the time) as ``Event/clockChanged`` instead of expiring by the new time.
  /// - Throws: `.invalidArgument` for a negative or zero interval, or
  ///   `cancelOnClockChange` on a clock that is not a realtime one.
  /// The corresponding C function is `timerfd_settime` with `TFD_TIMER_ABSTIME`.
  public func schedule(
    at time: Duration, repeating interval: Duration? = nil, cancelOnClockChange: Bool = false
  )
    throws(HinixError)
  {
    if cancelOnClockChange && !clock.isRealtime {
      throw HinixError(
        .invalidArgument, operation: "timerfd_settime", subject: subject,
        detail: "cancelOnClockChange needs CLOCK_REALTIME or CLOCK_REALTIME_ALARM; \(clock) never changes")
    }
    let value = try nanoseconds(max(time, .zero), "the time", allowZero: true)
    // An absolute time of 0 would disarm: the epoch itself has passed, so 1 ns expires at once too.
    try set(
      value: max(value, 1), interval: interval, absolute: true, cancelOnClockChange: cancelOnClockChange)
  }

  /// Disarms the timer; expirations not read yet are dropped.
  ///
  /// The corresponding C function is `timerfd_settime` with a zero time.
  public func disarm() throws(HinixError) {
    try set(value: 0, interval: nil, absolute: false, cancelOnClockChange: false)
  }

  /// The time to the next expiration and the period, as the kernel reports them.
  ///
  /// The corresponding C function is `timerfd_gettime`.
  public func setting() throws(HinixError) -> Setting {
    switch Sys.timerSetting(descriptor.rawValue) {
    case .success(let (value, interval)):
      return Setting(
        remaining: value == 0 ? nil : .nanoseconds(value),
        interval: interval == 0 ? nil : .nanoseconds(interval))
    case .failure(let error):
      throw HinixError.system(error, "timerfd_gettime", subject: subject)
    }
  }

  private func nanoseconds(_ duration: Duration, _ what: String, allowZero: Bool) throws(HinixError) -> Int64
  {
    if duration < .zero || (!allowZero && duration == .zero) {
      throw HinixError(
        .invalidArgument, operation: "timerfd_settime", subject: subject,
        detail: "\(what) \(duration) is \(duration < .zero ? "negative" : "zero")")
    }
    let whole = Deadline.nanoseconds(of: duration)
    // A fraction of a nanosecond rounds up, so a positive duration never becomes the zero that disarms.
    return whole == 0 && duration > .zero ? 1 : whole
  }

  private func set(value: Int64, interval: Duration?, absolute: Bool, cancelOnClockChange: Bool)
    throws(HinixError)
  {
    let period = try interval.map { (interval) throws(HinixError) in
      try nanoseconds(interval, "the interval", allowZero: false)
    }
    let result = Sys.setTimer(
      descriptor.rawValue, value: value, interval: period ?? 0, absolute: absolute,
      cancelOnClockChange: cancelOnClockChange)
    if case .failure(let error) = result {
      throw HinixError.system(error, "timerfd_settime", subject: subject) { error in
        switch error {
        case .canceled:
          (.system, "the clock changed while the timer was being scheduled; schedule it again")
        case .invalidArgument:
          (.invalidArgument, "the kernel refused the setting (value \(value) ns, interval \(period ?? 0) ns)")
        default: nil
        }
      }
    }
  }

  // MARK: Reading

  /// Reads the expirations, blocking the thread until the timer has expired at least once.
  ///
  /// The corresponding C function is `read`.
  @available(*, noasync, message: "blocks its thread; use `await read()` in async code")
  public func blockingRead() throws(HinixError) -> Event {
    try read(waiting: .forever)!
  }

  /// Reads the expirations if there are any: ``Outcome/wouldBlock`` if none happened since
  /// the last read.
  public func tryRead() throws(HinixError) -> Outcome<Event> {
    Waiting.never.outcome(try read(waiting: .never))
  }

  /// Reads the expirations, blocking the thread at most `timeout`: ``Outcome/timedOut`` if the
  /// timer did not expire in that time.
  @available(*, noasync, message: "blocks its thread; use `await read()` in async code")
  public func blockingRead(timeout: Duration) throws(HinixError) -> Outcome<Event> {
    try Waiting.timed(timeout) { (waiting) throws(HinixError) in try read(waiting: waiting) }
  }

  /// Reads the expirations, suspending the task (not its thread) until the timer expires.
  ///
  /// Throws `CancellationError` if the task is cancelled while it waits.
  public func read(reactor: Reactor = .shared) async throws -> Event {
    try await reactor.perform(.readable, on: descriptor, strategy: .sleep, history: .none) {
      () throws(HinixError) in
      try read(waiting: .never)
    }
  }

  /// Each read's ``Event``, as an async sequence through `reactor`; it keeps the timer alive.
  /// A disarmed timer's sequence waits until the timer is scheduled again.
  public func ticks(reactor: Reactor = .shared) -> DescriptorSequence<Event> {
    DescriptorSequence(
      owner: self, descriptor: descriptor, events: .readable, reactor: reactor, strategy: { .sleep },
      history: .none
    ) { [self] () throws(HinixError) in try tryRead() }
  }

  /// Each read's ``Event``, through the shared reactor (see ``ticks(reactor:)``).
  public var ticks: DescriptorSequence<Event> { ticks() }

  private func read(waiting: Waiting) throws(HinixError) -> Event? {
    var count: UInt64 = 0
    while true {
      // The blocking form waits in the read itself (one system call after the wake-up); the
      // others never block in it (RWF_NOWAIT, or a poll first on kernels without it).
      let result = withUnsafeMutableBytes(of: &count) { buffer in
        if case .forever = waiting {
          Sys.read(descriptor.rawValue, buffer)
        } else if nonBlocking {
          Sys.read(descriptor.rawValue, buffer)
        } else {
          Sys.readNoWait(descriptor.rawValue, buffer)
        }
      }
      switch result {
      case .success(8):
        return .expired(count)
      case .success(let length):
        throw HinixError(
          .system, operation: "read", subject: subject, detail: "read \(length) bytes instead of 8")
      case .failure(.canceled):
        return .clockChanged
      case .failure(.resourceTemporarilyUnavailable):
        guard try waiting.poll(descriptor.rawValue, for: Int16(POLLIN), operation: "read", subject: subject)
        else {
          return nil
        }
      case .failure(let error):
        throw HinixError.system(error, "read", subject: subject)
      }
    }
  }

  // MARK: The kernel's view

  /// The timer as the kernel shows it in `/proc/self/fdinfo`: for checking what was set.
  public struct KernelState: Sendable, Hashable {
    /// The clock id (`clockid`).
    public var clockID: Int32
    /// Expirations not read yet (`ticks`).
    public var ticks: UInt64
    /// The flags of the last `timerfd_settime` (`settime flags`: 1 absolute, 2 cancel-on-set).
    public var settimeFlags: Int32
    /// The time to the next expiration (`it_value`); zero when disarmed.
    public var value: Duration
    /// The period (`it_interval`); zero for a one-shot timer.
    public var interval: Duration
  }

  /// The timer's state in `/proc/self/fdinfo/FD`.
  public func kernelState() throws(HinixError) -> KernelState {
    let path = "/proc/self/fdinfo/\(descriptor.rawValue)"
    let text = try readProcFile(FilePath(path))
    var state = KernelState(clockID: -1, ticks: 0, settimeFlags: 0, value: .zero, interval: .zero)
    var found = 0
    for line in text.split(separator: "\n") {
      let parts = line.split(separator: ":", maxSplits: 1)
      guard parts.count == 2 else { continue }
      let key = parts[0].trimmingWhitespace()
      let field = parts[1].trimmingWhitespace()
      switch key {
      case "clockid": if let value = Int32(field) { state.clockID = value; found += 1 }
      case "ticks": if let value = UInt64(field) { state.ticks = value; found += 1 }
      case "settime flags":
        if let value = Int32(field, radix: 8) { state.settimeFlags = value; found += 1 }
      case "it_value": if let value = TimerFD.pair(field) { state.value = value; found += 1 }
      case "it_interval": if let value = TimerFD.pair(field) { state.interval = value; found += 1 }
      default: break
      }
    }
    guard found == 5 else {
      throw HinixError(.system, operation: "read", subject: path, detail: "not the fdinfo of a timerfd")
    }
    return state
  }

  /// A `(seconds, nanoseconds)` pair of fdinfo as a duration.
  private static func pair(_ text: Substring) -> Duration? {
    let numbers = text.filter { $0 != "(" && $0 != ")" && $0 != " " }.split(separator: ",")
    guard numbers.count == 2, let seconds = Int64(numbers[0]), let nanoseconds = Int64(numbers[1]) else {
      return nil
    }
    return .seconds(seconds) + .nanoseconds(nanoseconds)
  }
}
