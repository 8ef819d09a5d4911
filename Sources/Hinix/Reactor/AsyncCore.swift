import SystemPackage

/// The one async core: every async form of every mechanism runs through ``Reactor/perform(_:on:strategy:history:_:)``
/// or its hooked form, so the loop "try, spin in slices, yield, check cancellation, then wait in
/// the reactor" exists once.
extension Reactor {
  /// Runs `attempt` (which must never wait) until it returns a value: spinning as `strategy`
  /// says (an adaptive one as `history` says, and teaching it how the wait went), in slices of
  /// ``WaitStrategy/sliceNanoseconds`` between which the task yields and checks cancellation,
  /// and then suspending until `descriptor` reports `events`.
  ///
  /// Readiness is a hint: `attempt` runs again after every wake-up.
  @inline(__always)
  nonisolated(nonsending) func perform<T>(
    _ events: IOEvents, on descriptor: FileDescriptor, strategy: WaitStrategy, history: WaitHistory,
    _ attempt: () throws(HinixError) -> T?
  ) async throws -> T {
    try await perform(
      events, on: descriptor, strategy: strategy, history: history, attempt: attempt,
      spin: { end throws(HinixError) in try WaitStrategy.spin(until: end, attempt) },
      beforeSuspending: { nil }, afterSuspending: { _ in nil })
  }

  /// ``perform(_:on:strategy:history:_:)`` for operations with a protocol of their own around a
  /// suspension (the ring's sleep announcement):
  /// - `spin(end)` spins until the monotonic instant `end` (nanoseconds); `nil` if it ran out;
  /// - `beforeSuspending` runs just before the task suspends and may settle the operation;
  /// - `afterSuspending(woke)` runs after every suspension, also one that threw (`woke` false,
  ///   the error is thrown after it), and may settle the operation.
  @inline(__always)
  nonisolated(nonsending) func perform<T>(
    _ events: IOEvents, on descriptor: FileDescriptor, strategy: WaitStrategy, history: WaitHistory,
    attempt: () throws(HinixError) -> T?,
    spin: (_ end: Int64) throws(HinixError) -> T?,
    beforeSuspending: () throws(HinixError) -> T?,
    afterSuspending: (_ woke: Bool) throws(HinixError) -> T?
  ) async throws -> T {
    // Set at the first "not ready": the spin covers the whole operation, not each wake-up.
    var spinEnd: Int64?
    // For the history: when the wait began (the first "not ready"), its spin, whether it slept.
    var waitStart: Int64 = 0
    var budget: Int64 = 0
    var slept = false
    @inline(__always) func waited(_ value: T) -> T {
      if spinEnd != nil, strategy.isAdaptive, let learner = history.learner {
        learner.record(Deadline.Instant.now.nanoseconds &- waitStart, budget: budget, caught: !slept)
      }
      return value
    }
    while true {
      if let value = try attempt() { return waited(value) }
      if strategy.spins {
        let now = Deadline.Instant.now.nanoseconds
        if spinEnd == nil {
          waitStart = now
          budget = strategy.spinBudget(history)
        }
        let end = spinEnd ?? WaitStrategy.spinEnd(from: now, budget: budget)
        spinEnd = end
        if now < end {
          let slice = min(end, now &+ WaitStrategy.sliceNanoseconds)
          if let value = try spin(slice) { return waited(value) }
          if slice < end {
            try Task.checkCancellation()
            await Task.yield()
            continue
          }
        }
      }
      slept = true
      if let value = try beforeSuspending() { return waited(value) }
      do {
        _ = try await wait(for: events, on: descriptor)
      } catch {
        _ = try afterSuspending(false)
        throw error
      }
      if let value = try afterSuspending(true) { return waited(value) }
    }
  }
}

/// An asynchronous sequence driven by a descriptor's readiness: each `next()` runs one
/// operation through the reactor's core (`Reactor.perform(_:on:strategy:history:_:)`). Queue
/// messages, accepted connections and later event sources are all this one type.
///
/// The sequence keeps the object that owns the descriptor alive. It ends (returns `nil`) when
/// the operation reports ``Outcome/ended``, and ends by throwing: `CancellationError` when its
/// task is cancelled, or a ``HinixError``.
public struct DescriptorSequence<Element: Sendable>: AsyncSequence, Sendable {
  /// The failure type: a ``HinixError`` or `CancellationError`.
  public typealias Failure = any Error

  let owner: any Sendable
  let descriptor: FileDescriptor
  let events: IOEvents
  let reactor: Reactor
  let strategy: @Sendable () -> WaitStrategy
  let history: WaitHistory
  let attempt: @Sendable () throws(HinixError) -> Outcome<Element>

  /// A sequence of what `attempt` yields each time `descriptor` is ready for `events`.
  init(
    owner: any Sendable, descriptor: FileDescriptor, events: IOEvents, reactor: Reactor,
    strategy: @escaping @Sendable () -> WaitStrategy, history: WaitHistory,
    attempt: @escaping @Sendable () throws(HinixError) -> Outcome<Element>
  ) {
    self.owner = owner
    self.descriptor = descriptor
    self.events = events
    self.reactor = reactor
    self.strategy = strategy
    self.history = history
    self.attempt = attempt
  }

  /// Creates the iterator.
  public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(sequence: self) }

  /// Runs one operation per call to ``next()``.
  public struct AsyncIterator: AsyncIteratorProtocol {
    let sequence: DescriptorSequence

    /// Waits for and returns the next element; `nil` once the stream ended.
    public mutating func next() async throws -> Element? {
      let sequence = self.sequence
      let next = try await sequence.reactor.perform(
        sequence.events, on: sequence.descriptor, strategy: sequence.strategy(), history: sequence.history
      ) { () throws(HinixError) -> Element?? in
        switch try sequence.attempt() {
        case .completed(let element): .some(element)
        case .ended: .some(nil)
        case .wouldBlock, .timedOut: nil
        }
      }
      return next
    }
  }
}

/// An asynchronous sequence of the elements that an async read returns in batches (the events
/// of a file watcher or a fanotify group), one at a time: a batch is read when the last one is
/// used up. The read closure keeps the object that reads alive; the sequence ends by
/// throwing, as the read does.
public struct BatchSequence<Element: Sendable>: AsyncSequence, Sendable {
  /// The failure type: a ``HinixError`` or `CancellationError`.
  public typealias Failure = any Error

  let read: @Sendable () async throws -> [Element]

  /// Creates the iterator.
  public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(sequence: self) }

  /// Reads a batch when the last one is used up.
  public struct AsyncIterator: AsyncIteratorProtocol {
    let sequence: BatchSequence
    var batch: [Element] = []
    var index = 0

    /// The next element, waiting for one.
    public mutating func next() async throws -> Element? {
      while index == batch.count {
        batch = try await sequence.read()
        index = 0
      }
      defer { index += 1 }
      return batch[index]
    }
  }
}

extension Reactor {
  /// Runs a blocking `body` on a thread of its own and suspends the task until it returns: for
  /// work that no readiness event can end (a serial line's break, a copy between files), which
  /// must not hold a thread of the cooperative pool.
  static func offThePool<Value: Sendable>(
    _ body: @escaping @Sendable () throws(HinixError) -> Value
  ) async throws(HinixError) -> Value {
    let result = await withCheckedContinuation {
      (continuation: CheckedContinuation<Result<Value, HinixError>, Never>) in
      let started = Sys.startThread {
        continuation.resume(returning: Result { () throws(HinixError) in try body() })
      }
      if case .failure(let error) = started {
        continuation.resume(returning: .failure(HinixError.system(error, "pthread_create")))
      }
    }
    return try result.get()
  }
}
