import Glibc

/// Time arithmetic shared by every timed operation.
///
/// Deadlines travel as ``Instant`` (CLOCK_MONOTONIC nanoseconds, a plain integer) rather than
/// `ContinuousClock.Instant`, whose resilient layout would make every hot-path copy of a
/// `Waiting` value go through runtime metadata.
@usableFromInline
enum Deadline {
  /// A point on `CLOCK_MONOTONIC`.
  @usableFromInline
  struct Instant: Comparable {
    @usableFromInline var nanoseconds: Int64

    static var now: Instant {
      Instant(nanoseconds: Sys.monotonicNanoseconds())
    }

    /// The instant `duration` from now.
    static func after(_ duration: Duration) -> Instant {
      let (sum, overflow) = now.nanoseconds.addingReportingOverflow(Deadline.nanoseconds(of: duration))
      return Instant(nanoseconds: overflow ? .max : sum)
    }

    /// The same moment as a `ContinuousClock` deadline.
    init(_ deadline: ContinuousClock.Instant) {
      self = .after(deadline - ContinuousClock.now)
    }

    init(nanoseconds: Int64) {
      self.nanoseconds = nanoseconds
    }

    @usableFromInline
    static func < (lhs: Instant, rhs: Instant) -> Bool { lhs.nanoseconds < rhs.nanoseconds }

    /// The time left until this instant, never negative.
    var remaining: Duration {
      .nanoseconds(max(nanoseconds - Instant.now.nanoseconds, 0))
    }

    /// Milliseconds for `poll`, rounded up so a wait never ends before the deadline.
    var pollMilliseconds: Int32 {
      let left = max(nanoseconds - Instant.now.nanoseconds, 0)
      return Int32(clamping: (left + 999_999) / 1_000_000)
    }
  }

  /// A `CLOCK_REALTIME` instant that has always passed: a timed call given it never blocks.
  static let expired = timespec(tv_sec: 0, tv_nsec: 0)

  /// Whole nanoseconds in `duration`, saturating; negative durations count as zero.
  static func nanoseconds(of duration: Duration) -> Int64 {
    let (seconds, attoseconds) = max(duration, .zero).components
    let (scaled, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
    if overflow { return .max }
    let (sum, overflow2) = scaled.addingReportingOverflow(attoseconds / 1_000_000_000)
    return overflow2 ? .max : sum
  }

  /// The `CLOCK_REALTIME` instant `duration` from now, as the timed message-queue calls want it.
  static func realtime(after duration: Duration) -> timespec {
    let now = Sys.realtimeNow()
    let nanoseconds = nanoseconds(of: duration)
    var result = now
    let (sum, overflow) = result.tv_sec.addingReportingOverflow(Int(nanoseconds / 1_000_000_000))
    result.tv_sec = overflow ? Int.max - 1 : sum
    result.tv_nsec += Int(nanoseconds % 1_000_000_000)
    if result.tv_nsec >= 1_000_000_000 {
      result.tv_sec += 1
      result.tv_nsec -= 1_000_000_000
    }
    return result
  }
}
