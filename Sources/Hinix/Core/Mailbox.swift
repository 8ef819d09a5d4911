import Synchronization

/// A bounded FIFO of values handed from one thread to the tasks awaiting them: what
/// `AsyncStream` does, without its allocations. `AsyncStream`'s `yield` allocates on every
/// value (an unspecialized coroutine in its buffer), where a mailbox allocates only while its
/// buffer grows to the largest backlog it has held, and never when a task is already waiting.
///
/// Posting takes a lock and resumes at most one waiting task (outside the lock); awaiting
/// suspends on an unsafe continuation, which lives in the task's own frame.
final class Mailbox<Element: Sendable>: Sendable {
  /// What `post` did with a value.
  enum Posted: Equatable {
    /// Handed to a waiting task or buffered.
    case accepted
    /// Not kept: the buffer holds `limit` values already.
    case dropped
    /// Not kept: the mailbox is finished.
    case finished
  }

  private struct Waiter {
    let id: UInt64
    let continuation: UnsafeContinuation<Element?, Never>
  }

  private struct State {
    /// A ring of `slots.count` entries, `count` of them in use from `head`.
    var slots: [Element?] = Array(repeating: nil, count: 16)
    var head = 0
    var count = 0
    /// Tasks awaiting a value, in the order they came.
    var waiters: [Waiter] = []
    var isFinished = false

    mutating func append(_ value: Element) {
      if count == slots.count {
        var grown = [Element?](repeating: nil, count: slots.count * 2)
        for offset in 0..<count { grown[offset] = slots[(head + offset) % slots.count] }
        slots = grown
        head = 0
      }
      slots[(head + count) % slots.count] = value
      count += 1
    }

    mutating func removeFirst() -> Element? {
      guard count > 0 else { return nil }
      let value = slots[head]
      slots[head] = nil
      head = (head + 1) % slots.count
      count -= 1
      return value
    }
  }

  /// How many values the mailbox buffers before `post` drops them.
  let limit: Int
  private let state: Mutex<State>
  /// Names each wait, so a cancelled one finds its waiter; an atomic, not the lock, so an
  /// await takes the lock once.
  private let nextID = Atomic<UInt64>(0)

  /// A mailbox buffering at most `limit` values (at least 1).
  init(limit: Int) {
    self.limit = max(limit, 1)
    var initial = State()
    initial.waiters.reserveCapacity(4)
    state = Mutex(initial)
  }

  /// How many tasks are waiting for a value.
  var waiting: Int { state.withLock { $0.waiters.count } }

  /// Hands `value` to the longest-waiting task, or buffers it.
  func post(_ value: Element) -> Posted {
    let outcome = state.withLock { state -> (Posted, UnsafeContinuation<Element?, Never>?) in
      if state.isFinished { return (.finished, nil) }
      if !state.waiters.isEmpty { return (.accepted, state.waiters.removeFirst().continuation) }
      if state.count >= limit { return (.dropped, nil) }
      state.append(value)
      return (.accepted, nil)
    }
    outcome.1?.resume(returning: value)
    return outcome.0
  }

  /// Ends the mailbox: waiting tasks get nil; values already buffered are still delivered.
  func finish() {
    let waiters = state.withLock { state -> [Waiter] in
      state.isFinished = true
      defer { state.waiters.removeAll() }
      return state.waiters
    }
    for waiter in waiters { waiter.continuation.resume(returning: nil) }
  }

  /// The next value; nil once the mailbox is finished and empty. When the task is cancelled
  /// while it waits, `onCancel` runs (it should finish the mailbox, which ends the wait).
  func next(onCancel: @Sendable () -> Void) async -> Element? {
    let id = nextID.wrappingAdd(1, ordering: .relaxed).newValue
    return await withTaskCancellationHandler {
      await withUnsafeContinuation { continuation in
        let ready = state.withLock { state -> Element?? in
          if let value = state.removeFirst() { return .some(value) }
          // onCancel ran before this closure when the task was cancelled already.
          if state.isFinished || Task.isCancelled { return .some(nil) }
          state.waiters.append(Waiter(id: id, continuation: continuation))
          return .none
        }
        if let ready { continuation.resume(returning: ready) }
      }
    } onCancel: {
      onCancel()
      // In case `onCancel` did not finish the mailbox: this wait ends anyway.
      let waiter = state.withLock { state -> Waiter? in
        guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
        return state.waiters.remove(at: index)
      }
      waiter?.continuation.resume(returning: nil)
    }
  }
}
