import Synchronization

/// How soon the peer of one descriptor (or ring side) has answered lately: the history the
/// ``WaitStrategy/adaptive`` strategy spins by.
///
/// Each wait that the adaptive strategy runs reports how long it took, from the first attempt
/// that found nothing to the one that succeeded; the learner keeps an exponentially weighted
/// mean of those times (each new one weighs a quarter). A wait spins only while that mean is
/// below ``spinLimit``, about what a sleep and a cross-core wake-up cost, and then for twice
/// the mean, at most ``longestSpin``: an answer expected sooner than a wake-up is spun for, any
/// other is slept for at once. A peer that answers slowly, or a connection that idles, makes
/// the mean large after one or two waits, and waits then sleep at once but for one short probe
/// spin in every ``probeInterval`` waits, which notices a peer that answers fast again.
final class WaitLearner: Sendable {
  /// Waits that usually end sooner than this are spun for.
  static let spinLimit: Int64 = 30_000
  /// The longest spin, whatever the history.
  static let longestSpin: Int64 = 50_000
  /// The shortest spin, so that a history of instant answers still spins.
  static let shortestSpin: Int64 = 2_000
  /// The spin of a probe, made every ``probeInterval`` waits while the strategy sleeps.
  static let probeSpin: Int64 = 5_000
  static let probeInterval: UInt32 = 16
  /// Longer waits count as this long: one idle hour must not take hours of answers to forget.
  static let longestCounted: Int64 = 1_000_000_000

  /// The mean, in nanoseconds; a new learner starts at the limit's half, so its first waits spin.
  private let mean = Atomic<Int64>(spinLimit / 2)
  private let waits = Atomic<UInt32>(0)

  /// How long the wait that starts now should spin, in nanoseconds (0: sleep at once).
  func spinBudget() -> Int64 {
    let mean = self.mean.load(ordering: .relaxed)
    if mean < Self.spinLimit { return min(max(2 * mean, Self.shortestSpin), Self.longestSpin) }
    let count = waits.wrappingAdd(1, ordering: .relaxed).newValue
    return count % Self.probeInterval == 0 ? Self.probeSpin : 0
  }

  /// Counts a wait that lasted `nanoseconds`.
  func record(_ nanoseconds: Int64) {
    let sample = min(max(nanoseconds, 0), Self.longestCounted)
    // Lost updates between racing waiters only drop a sample: the mean stays a mean of samples.
    let old = mean.load(ordering: .relaxed)
    mean.store(old + (sample - old) / 4, ordering: .relaxed)
  }

  /// The mean, for tests.
  var meanNanoseconds: Int64 { mean.load(ordering: .relaxed) }
}
