import Glibc

/// Time arithmetic shared by every timed operation.
enum Deadline {
  /// A `CLOCK_REALTIME` instant that has always passed: a timed call given it never blocks.
  static let expired = timespec(tv_sec: 0, tv_nsec: 0)

  /// The `CLOCK_REALTIME` instant `duration` from now, as the timed message-queue calls want it.
  static func realtime(after duration: Duration) -> timespec {
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    let clamped = max(duration, .zero)
    let (seconds, attoseconds) = clamped.components
    var result = now
    let (sum, overflow) = result.tv_sec.addingReportingOverflow(Int(seconds))
    result.tv_sec = overflow ? Int.max - 1 : sum
    result.tv_nsec += Int(attoseconds / 1_000_000_000)
    if result.tv_nsec >= 1_000_000_000 {
      result.tv_sec += 1
      result.tv_nsec -= 1_000_000_000
    }
    return result
  }

  /// The time left until `deadline`, never negative.
  static func remaining(until deadline: ContinuousClock.Instant) -> Duration {
    max(deadline - ContinuousClock.now, .zero)
  }

  /// Milliseconds for `poll`, rounded up so a wait never ends before the deadline.
  static func pollMilliseconds(until deadline: ContinuousClock.Instant) -> Int32 {
    let (seconds, attoseconds) = remaining(until: deadline).components
    let milliseconds = seconds * 1000 + (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000
    return Int32(clamping: milliseconds)
  }
}
