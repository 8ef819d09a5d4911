/// What a try or timed form did, told by the value alone: the one result type of every
/// mechanism's non-blocking (`try…`) and timed (`blocking…(timeout:)`) forms.
///
/// A try form never waits: it is ``completed(_:)``, ``wouldBlock`` or ``ended``. A timed form
/// waits at most its time: it is ``completed(_:)``, ``timedOut`` or ``ended``. ``ended`` is for
/// receiving sides only, when the other side ended the stream and nothing more will come (every
/// writer of a pipe closed, a stream socket's peer shut down, a ring's sender closed); a
/// sending side whose reader went away throws instead (`.brokenPipe`, `.peerGone`). Failures are
/// thrown as ``HinixError``, never folded in here.
///
/// ```swift
/// switch try queue.tryReceive() {
/// case .completed(let message): handle(message)
/// case .wouldBlock: break  // nothing yet
/// case .timedOut, .ended: break  // a try form on a queue reports neither
/// }
/// if let count = try wake.tryRead().value { … }  // an EventFD's counter, if it was set
/// ```
@frozen
public enum Outcome<Value> {
  /// The operation completed, with its value.
  case completed(Value)
  /// A try form found nothing to do without waiting (nothing to receive, no room to send).
  case wouldBlock
  /// A timed form waited until its deadline without completing.
  case timedOut
  /// The other side ended the stream: nothing more will come.
  case ended

  /// The value when the operation completed, else `nil`.
  @inlinable
  public var value: Value? {
    if case .completed(let value) = self { return value }
    return nil
  }

  /// Whether the operation completed.
  @inlinable public var isCompleted: Bool { value != nil }

  /// Whether a try form found nothing to do without waiting.
  @inlinable public var isWouldBlock: Bool { map { _ in () } == .wouldBlock }

  /// Whether a timed form reached its deadline.
  @inlinable public var isTimedOut: Bool { map { _ in () } == .timedOut }

  /// Whether the other side ended the stream.
  @inlinable public var isEnded: Bool { map { _ in () } == .ended }

  /// The outcome with its value transformed.
  @inlinable
  public func map<New, E: Error>(_ transform: (Value) throws(E) -> New) throws(E) -> Outcome<New> {
    switch self {
    case .completed(let value): .completed(try transform(value))
    case .wouldBlock: .wouldBlock
    case .timedOut: .timedOut
    case .ended: .ended
    }
  }
}

extension Outcome where Value == Void {
  /// A send or add that completed (`.completed(())`).
  public static var completed: Outcome<Void> { .completed(()) }

  /// Whether two outcomes of sends or adds are the same case (`Void` is not `Equatable`).
  @inlinable
  public static func == (lhs: Outcome<Void>, rhs: Outcome<Void>) -> Bool {
    switch (lhs, rhs) {
    case (.completed, .completed), (.wouldBlock, .wouldBlock), (.timedOut, .timedOut), (.ended, .ended): true
    default: false
    }
  }
}

extension Outcome: Sendable where Value: Sendable {}
extension Outcome: Equatable where Value: Equatable {}

extension Outcome: CustomStringConvertible {
  /// `completed(…)`, `wouldBlock`, `timedOut` or `ended`.
  public var description: String {
    switch self {
    case .completed(let value): "completed(\(value))"
    case .wouldBlock: "wouldBlock"
    case .timedOut: "timedOut"
    case .ended: "ended"
    }
  }
}

extension Waiting {
  /// The outcome of a form that waited as `self` says and got `value`, `nil` when it gave up:
  /// a try form would have blocked, a timed one timed out.
  @inline(__always)
  func outcome<Value>(_ value: Value?) -> Outcome<Value> {
    if let value { return .completed(value) }
    if case .never = self { return .wouldBlock }
    return .timedOut
  }

  /// The timed form of a wait: runs `body` with a deadline `timeout` from now and returns
  /// ``Outcome/completed(_:)`` with what it got, or ``Outcome/timedOut`` when it gave up (nil).
  @inline(__always)
  static func timed<Value>(
    _ timeout: Duration, _ body: (Waiting) throws(HinixError) -> Value?
  ) throws(HinixError) -> Outcome<Value> {
    let waiting = Waiting.until(.after(timeout))
    return waiting.outcome(try body(waiting))
  }
}
