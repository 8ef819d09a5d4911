import Hinix
import Synchronization

/// What a run is doing, for a person watching it: which step of how many, which group and
/// figure, which round, and about how long is left. ``line`` renders it as one line.
public struct BenchProgress: Sendable, Equatable {
  /// The step running, from 1.
  public var step: Int
  /// How many steps the run has.
  public var steps: Int
  /// The group and figure being measured (`stream unix 4096`).
  public var label: String
  /// The round running, from 1, and how many there are; 0 before the first.
  public var round: Int
  /// How many rounds each figure has.
  public var rounds: Int
  /// The estimated time left, from the steps done so far; nil until one is done.
  public var remaining: Duration?

  /// `[12/57] stream unix 4096, round 3/5, about 1 min 20 s left`.
  public var line: String {
    var text = "[\(step)/\(steps)] \(label)"
    if round > 0 { text += ", round \(round)/\(rounds)" }
    if let remaining {
      let seconds = Int(remaining.components.seconds)
      text +=
        seconds >= 60 ? ", about \(seconds / 60) min \(seconds % 60) s left" : ", about \(seconds) s left"
    }
    return text
  }
}

/// Keeps the progress of a run and tells a reporter each time it moves.
final class ProgressMeter: Sendable {
  private struct State {
    var progress: BenchProgress
    let started = ContinuousClock.now
  }

  private let state: Mutex<State>
  private let report: @Sendable (BenchProgress) -> Void

  init(steps: Int, rounds: Int, report: @escaping @Sendable (BenchProgress) -> Void) {
    state = Mutex(
      State(
        progress: BenchProgress(step: 0, steps: steps, label: "", round: 0, rounds: rounds, remaining: nil)))
    self.report = report
  }

  /// A step begins.
  func begin(_ label: String) {
    update { progress, started in
      let done = progress.step
      progress.step += 1
      progress.label = label
      progress.round = 0
      if done > 0 {
        let elapsed = ContinuousClock.now - started
        progress.remaining = elapsed / done * (progress.steps - done)
      }
    }
  }

  /// A round of the current step begins (from 1).
  func round(_ index: Int) {
    update { progress, _ in progress.round = index }
  }

  private func update(_ change: (inout BenchProgress, ContinuousClock.Instant) -> Void) {
    let progress = state.withLock { state in
      change(&state.progress, state.started)
      return state.progress
    }
    report(progress)
  }
}
