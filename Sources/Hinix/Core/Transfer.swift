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
///   From a blocking call on a blocking socket it is the socket's own timeout (`SO_RCVTIMEO`),
///   which the socket's mapping names; elsewhere it waits in `poll`, as any `EAGAIN` does.
/// - For a mechanism whose calls are timed (`timedCalls`), `ETIMEDOUT` means "not now" too:
///   a try form's passed deadline, or a timed form that gave up.
/// - A try form's one call, and the one call of a blocking form that does not spin, are inline
///   (``first(_:strategy:timedCalls:_:)``), and so is an async form's attempt (a try call, or
///   ``attempt(timedCalls:_:failure:)`` in ``Reactor/transfer(_:on:strategy:history:timedCalls:_:failure:)``);
///   everything else (spinning, waiting in `poll`) is out of line, in `wait`.
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

  /// What a form's inline first step found.
  @usableFromInline
  enum First<T> {
    /// The call succeeded.
    case value(T)
    /// A try form's call found nothing to do: the form gives up.
    case notNow
    /// The call failed: go on from this failure in ``Transfer/wait(_:strategy:fd:events:timedCalls:kernelTimeouts:failed:operation:_:failure:subject:)``.
    case failed(Errno)
    /// No inline call for this form: go to `wait` at once.
    case none

    /// The failure to go on from, if any.
    @inline(__always)
    var error: Errno? {
      if case .failed(let error) = self { return error }
      return nil
    }
  }

  /// A form's inline first step: a try form's one non-blocking call (also an async form's
  /// attempt), or the one blocking call of a blocking form that does not spin; ``First/none``
  /// for every other form or strategy.
  ///
  /// A form returns a value, gives up at ``First/notNow``, and otherwise passes the failure on
  /// to `wait` as `failed`. The two steps are the form's, not one function's: the closures
  /// `wait` takes are then made only on the way there (made before the fast call, they cost a
  /// blocking pipe write and read 14 instructions, a queue's send and receive 38:
  /// Benchmarks/instructions.sh).
  @inline(__always)
  static func first<T>(
    _ waiting: Waiting, strategy: WaitStrategy, timedCalls: Bool = false,
    _ call: (CallMode) -> Result<T, Errno>
  ) -> First<T> {
    switch waiting {
    case .never:
      switch call(.nonBlocking) {
      case .success(let value): return .value(value)
      case .failure(.resourceTemporarilyUnavailable): return .notNow
      case .failure(.timedOut) where timedCalls: return .notNow
      case .failure(let error): return .failed(error)
      }
    case .forever where strategy.spinNanoseconds <= 0:
      switch call(.blocking) {
      case .success(let value): return .value(value)
      case .failure(let error): return .failed(error)
      }
    default:
      return .none
    }
  }

  /// Everything but the inline first step: the spin the strategy asks for, then calls in the
  /// form's mode, waiting in `poll` between them; or, when the first step `failed` already,
  /// going on from that failure (no call is made twice: a second blocking call could wait
  /// again). `kernelTimeouts`: the descriptor may have a timeout of its own (a socket's
  /// `SO_RCVTIMEO`), so `EAGAIN` from a blocking call on a blocking descriptor is that timeout,
  /// for the mapping to name; for the others it waits in `poll`, as any `EAGAIN` does.
  @inline(never)
  static func wait<T>(
    _ waiting: Waiting, strategy: WaitStrategy, fd: Int32, events: Int16, timedCalls: Bool = false,
    kernelTimeouts: Bool = false, failed: Errno?, operation: String, _ call: (CallMode) -> Result<T, Errno>,
    failure: (Errno) throws(HinixError) -> T, subject: () -> String
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
        if kernelTimeouts, case .blocking = mode,
          case .success(false) = FileDescriptor(rawValue: fd).isNonBlocking()
        {
          return try failure(.resourceTemporarilyUnavailable)
        }
        guard try waiting.poll(fd, for: events, operation: operation, subject: subject()) else { return nil }
      case .failure(.timedOut) where timedCalls:
        switch mode {
        case .nonBlocking: return nil
        case .until(let deadline): if deadline.remaining <= .zero { return nil }
        case .blocking: return try failure(.timedOut)
        }
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
