import Glibc
import SystemPackage

/// How one kernel call of a form may wait.
@usableFromInline
enum CallMode {
  /// It must not wait: `RWF_NOWAIT`, `MSG_DONTWAIT`, or a deadline that has passed.
  case nonBlocking
  /// It may wait in the kernel as long as it takes (on a blocking descriptor).
  case blocking
  /// It may wait in the kernel until the deadline: only a mechanism with a timed call of its
  /// own (`mq_timedsend`) makes it; the others make their non-blocking call, and the core
  /// waits in `poll`.
  case until(Deadline.Instant)
}

/// The one transfer core: every blocking, try, timed and async form of a kernel transfer (a
/// read, write, send, receive) follows from a mechanism's two parts, its call in a
/// ``CallMode`` and its error mapping.
///
/// The rules, kept here once:
/// - `EAGAIN` means "not now": a try form gives up, a timed or blocking form waits in `poll`
///   (a non-blocking description) for as long as it may, an async form waits in the reactor.
///   From a blocking call on a blocking descriptor it is the kernel's own timeout
///   (`SO_RCVTIMEO`): the mapping's to name.
/// - For a mechanism whose calls are timed (`timedCalls`), `ETIMEDOUT` means "not now" too:
///   a try form's passed deadline, or a timed form that gave up.
/// - A blocking form that does not spin makes its blocking call inline first (``first(_:strategy:_:)``);
///   everything else (a try form's call, spinning, waiting in `poll`) is out of line, in
///   ``wait(_:strategy:fd:events:timedCalls:failed:_:failure:names:)``; an async form's
///   attempt is ``attempt(timedCalls:_:failure:)``, inline in the reactor's core.
/// - Every other failure goes to the mapping, which throws a ``HinixError`` naming the call
///   and the subject, or turns it into a value (a terminal's hang-up reads as the end).
enum Transfer {
  /// One non-blocking attempt, for spinning and for the reactor: the value, or `nil` for "not
  /// now".
  @inline(__always)
  static func attempt<T>(
    timedCalls: Bool = false, _ call: (CallMode) -> Result<T, Errno>,
    failure: (Errno) throws(HinixError) -> T
  ) throws(HinixError) -> T? {
    switch call(.nonBlocking) {
    case .success(let value): return value
    case .failure(.resourceTemporarilyUnavailable): return nil
    case .failure(.timedOut) where timedCalls: return nil
    case .failure(let error): return try failure(error)
    }
  }

  /// The blocking form's common case, when it does not spin first: its one blocking call,
  /// inlined into the form; `nil` for every other form or strategy, which go to
  /// ``wait(_:strategy:fd:events:timedCalls:failed:_:failure:names:)`` at once.
  ///
  /// A form calls this, returns a success, and passes a failure on to `wait` as `failed`. The
  /// two steps are the form's, not one function's: the closures `wait` takes are then made
  /// only on the way there (made before the fast call, they cost a blocking pipe write and
  /// read 14 instructions, a queue's send and receive 38: Benchmarks/instructions.sh).
  @inline(__always)
  static func first<T>(
    _ waiting: Waiting, strategy: WaitStrategy, _ call: (CallMode) -> Result<T, Errno>
  ) -> Result<T, Errno>? {
    guard case .forever = waiting, strategy.spinNanoseconds <= 0 else { return nil }
    return call(.blocking)
  }

  /// Everything but the inline blocking call: the spin the strategy asks for, then calls in the
  /// form's mode, waiting in `poll` between them; or, when the caller's blocking call `failed`
  /// already, going on from that failure (no call is made twice: a second blocking call could
  /// wait again).
  @inline(never)
  static func wait<T>(
    _ waiting: Waiting, strategy: WaitStrategy, fd: Int32, events: Int16, timedCalls: Bool, failed: Errno?,
    _ call: (CallMode) -> Result<T, Errno>, failure: (Errno) throws(HinixError) -> T,
    names: () -> (operation: String, subject: String)
  ) throws(HinixError) -> T? {
    if failed == nil,
      let value = try strategy.spinFirst(
        waiting,
        { () throws(HinixError) -> T? in try attempt(timedCalls: timedCalls, call, failure: failure) })
    {
      return value
    }
    let mode: CallMode
    switch waiting {
    case .never: mode = .nonBlocking
    case .forever: mode = .blocking
    case .until(let deadline): mode = timedCalls ? .until(deadline) : .nonBlocking
    }
    var pending = failed
    while true {
      let result: Result<T, Errno>
      if let error = pending {
        pending = nil
        result = .failure(error)
      } else {
        result = call(mode)
      }
      switch result {
      case .success(let value):
        return value
      case .failure(.resourceTemporarilyUnavailable):
        if case .blocking = mode, case .success(false) = FileDescriptor(rawValue: fd).isNonBlocking() {
          return try failure(.resourceTemporarilyUnavailable)
        }
        let (operation, subject) = names()
        guard try waiting.poll(fd, for: events, operation: operation, subject: subject) else { return nil }
      case .failure(.timedOut) where timedCalls:
        if case .until(let deadline) = mode, deadline.remaining <= .zero { return nil }
        if case .nonBlocking = mode { return nil }
      case .failure(let error):
        return try failure(error)
      }
    }
  }
}

extension Reactor {
  /// The async form of a transfer: ``Transfer/attempt(timedCalls:_:failure:)`` through the
  /// reactor's core, with `strategy` and `history`, waiting for `events` on `descriptor`.
  @inline(__always)
  nonisolated(nonsending) func transfer<T>(
    _ events: IOEvents, on descriptor: FileDescriptor, strategy: WaitStrategy, history: WaitHistory,
    timedCalls: Bool = false, _ call: (CallMode) -> Result<T, Errno>, failure: (Errno) throws(HinixError) -> T
  ) async throws -> T {
    try await perform(events, on: descriptor, strategy: strategy, history: history) {
      () throws(HinixError) -> T? in
      try Transfer.attempt(timedCalls: timedCalls, call, failure: failure)
    }
  }
}

extension Result where Failure == Errno {
  /// The failure, if it is one.
  @inline(__always)
  var error: Errno? {
    if case .failure(let error) = self { return error }
    return nil
  }
}
