import Synchronization

/// Async forms of the few calls that can only block: the kernel gives no readiness event that
/// says when they could go on (a FIFO's `open` waiting for the other end; later `TIOCMIWAIT`).
///
/// The call runs on a thread of its own, never on a thread of the cooperative pool, and the
/// task suspends until it returns. Cancelling the task runs `interrupt` once, which must make the
/// blocked call return soon (a FIFO opens its other end); the task then throws
/// `CancellationError` and whatever the call returned is dropped, which closes what it owns.
enum Offload {
  /// Runs `call` on a new thread and suspends the task until it returns; see ``Offload``.
  static func run<Value: Sendable>(
    _ operation: String, subject: String,
    _ call: @escaping @Sendable () throws(HinixError) -> Value,
    interrupt: @escaping @Sendable () -> Void
  ) async throws -> Value {
    try Task.checkCancellation()
    let cancelled = Atomic<Bool>(false)
    let result = await withTaskCancellationHandler {
      await withCheckedContinuation { (continuation: CheckedContinuation<Result<Value, HinixError>, Never>) in
        let started = Sys.startThread {
          continuation.resume(returning: Result { () throws(HinixError) in try call() })
        }
        if case .failure(let error) = started {
          continuation.resume(
            returning: .failure(HinixError.system(error, "\(operation) (pthread_create)", subject: subject)))
        }
      }
    } onCancel: {
      if !cancelled.exchange(true, ordering: .acquiringAndReleasing) { interrupt() }
    }
    // Whatever the call returned after an interrupt is dropped here, which closes what it owns.
    if cancelled.load(ordering: .acquiring) { throw CancellationError() }
    return try result.get()
  }
}
