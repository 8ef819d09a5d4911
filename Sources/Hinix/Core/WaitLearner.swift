import Synchronization

/// How long one descriptor's (or ring side's) waits have lasted lately: what the
/// ``WaitStrategy/adaptive`` strategy decides each wait's spin by.
///
/// The learner keeps an exponentially weighted mean (each sample weighs a quarter) of how soon
/// an answer came **while spinning**: a wait that ended within its spin counts its length; a
/// spin that ran out counts as ``missedSpin``, longer than any spin, whatever the sleep after it
/// lasted (so one idle hour does not take hours of answers to forget). Waits that did not spin
/// count nothing: their length is the answer's time plus this side's wake-up, which says nothing
/// about what a spin would have caught.
///
/// A wait spins while the mean is below ``spinLimit``, about a sleep and a cross-core wake-up,
/// for twice the mean (``shortestSpin`` to ``longestSpin``): an answer expected sooner than a
/// wake-up is spun for. Otherwise the wait sleeps at once, but one wait in ``probeInterval``
/// probes with the longest spin, which notices a peer that answers fast again — even one that
/// itself sleeps until its own probe meets this side's.
final class WaitLearner: Sendable {
  /// Waits whose answers usually come sooner than this are spun for.
  static let spinLimit: Int64 = 30_000
  /// The longest spin, whatever the history; also a probe's.
  static let longestSpin: Int64 = 50_000
  /// The shortest spin: a history of instant answers still spins long enough for some jitter.
  static let shortestSpin: Int64 = 10_000
  /// One wait in this many probes while the history says sleep.
  static let probeInterval: UInt32 = 32
  /// What a spin that ran out counts as.
  static let missedSpin: Int64 = 2 * longestSpin

  /// The mean, in nanoseconds; a new learner starts at the limit's half, so its first waits spin.
  private let mean = Atomic<Int64>(spinLimit / 2)
  private let waits = Atomic<UInt32>(0)

  /// How long the wait that starts now should spin, in nanoseconds (0: sleep at once).
  func spinBudget() -> Int64 {
    let mean = self.mean.load(ordering: .relaxed)
    if mean < Self.spinLimit { return min(max(2 * mean, Self.shortestSpin), Self.longestSpin) }
    let count = waits.wrappingAdd(1, ordering: .relaxed).newValue
    return count % Self.probeInterval == 0 ? Self.longestSpin : 0
  }

  /// Counts a wait that lasted `nanoseconds` after a spin of at most `budget` nanoseconds
  /// (``spinBudget()``'s), which `caught` says ended it.
  func record(_ nanoseconds: Int64, budget: Int64, caught: Bool) {
    guard budget > 0 else { return }
    let sample = caught ? min(max(nanoseconds, 0), Self.missedSpin) : Self.missedSpin
    // Lost updates between racing waiters only drop a sample: the mean stays a mean of samples.
    let old = mean.load(ordering: .relaxed)
    mean.store(old + (sample - old) / 4, ordering: .relaxed)
  }

  /// The mean, in nanoseconds (``WaitHistory/recentAnswerTime``, and tests).
  var meanNanoseconds: Int64 { mean.load(ordering: .relaxed) }
}

/// The history of one object's waits that ``WaitStrategy/adaptive`` spins by.
///
/// Hinix's descriptors and ring ends each keep their own. A type of yours that conforms to
/// ``ByteReader`` or ``ByteWriter`` may keep one in a stored property (``init()``) for its
/// adaptive waits to learn from; without one (the protocols' default, ``none``) its adaptive
/// waits sleep at once, as ``WaitStrategy/sleep`` does.
public struct WaitHistory: Sendable {
  /// The learner, nil for none.
  let learner: WaitLearner?

  /// A new history: the first waits spin briefly, then each wait teaches it.
  public init() {
    learner = WaitLearner()
  }

  init(_ learner: WaitLearner?) {
    self.learner = learner
  }

  /// No history: adaptive waits sleep at once.
  public static var none: WaitHistory { WaitHistory(nil) }

  /// How soon answers have come lately while this object's waits spun (a weighted mean, in
  /// which a spin that ran out counts as 100 µs); nil for ``none``. What
  /// ``WaitStrategy/adaptive`` decides by: its waits spin while this is under 30 µs.
  public var recentAnswerTime: Duration? {
    learner.map { .nanoseconds($0.meanNanoseconds) }
  }
}
