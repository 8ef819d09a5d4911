import Glibc

extension Signal {
  /// Sends this signal to the process `pid`.
  ///
  /// - Throws: `.notFound` when no such process exists (`ESRCH`); `.permissionDenied` when this
  ///   process's uid may not signal it (`EPERM`).
  /// The corresponding C function is `kill`.
  public func send(to pid: pid_t) throws(HinixError) {
    guard pid > 0 else {
      throw HinixError(
        .invalidArgument, operation: "kill", subject: "pid \(pid)",
        detail: "a process id is positive; use send(toGroup:) or sendToAll()")
    }
    try check(Sys.kill(pid, rawValue), "kill", "pid \(pid)")
  }

  /// Sends this signal to every process of the process group `group`.
  ///
  /// The corresponding C function is `kill` with `-group`.
  public func send(toGroup group: pid_t) throws(HinixError) {
    guard group > 0 else {
      throw HinixError(
        .invalidArgument, operation: "kill", subject: "process group \(group)",
        detail: "a process group id is positive")
    }
    try check(Sys.kill(-group, rawValue), "kill", "process group \(group)")
  }

  /// Sends this signal to every process this process may signal, except itself and init.
  ///
  /// The corresponding C function is `kill` with -1.
  public func sendToAll() throws(HinixError) {
    try check(Sys.kill(-1, rawValue), "kill", "all processes")
  }

  /// Queues this signal for `pid` with `value`, which its receiver reads as
  /// ``SignalInfo/value`` (`si_value`: an integer, or a pointer's bits). Real-time signals
  /// queue, each delivered with its own value; a standard signal still coalesces.
  ///
  /// - Throws: also `.limitExceeded` when the receiver's queue of pending signals is full
  ///   (`EAGAIN`: `RLIMIT_SIGPENDING`).
  /// The corresponding C function is `sigqueue`.
  public func send(to pid: pid_t, value: Int) throws(HinixError) {
    guard pid > 0 else {
      throw HinixError(
        .invalidArgument, operation: "sigqueue", subject: "pid \(pid)", detail: "a process id is positive")
    }
    try check(Sys.signalQueue(pid, rawValue, value: Int64(value)), "sigqueue", "pid \(pid)")
  }

  /// Sends this signal to the calling thread (as `raise` does).
  ///
  /// The corresponding C function is `tgkill`.
  public func raise() throws(HinixError) {
    try check(Sys.signalThisThread(rawValue), "tgkill", "this thread")
  }

  /// Throws the error of a failed send, naming the target and the signal.
  ///
  /// `target` is built only on failure: a successful send formats nothing.
  func check(
    _ result: Result<Void, Errno>, _ operation: String, _ target: @autoclosure () -> String
  ) throws(HinixError) {
    guard case .failure(let error) = result else { return }
    throw HinixError.system(error, operation, subject: target()) { error in
      switch error {
      case .noSuchProcess: (.notFound, "no such process for \(self)")
      case .notPermitted:
        (.permissionDenied, "uid \(Sys.userID) may not send \(self) there (not its owner, no CAP_KILL)")
      case .resourceTemporarilyUnavailable:
        (.limitExceeded, "the receiver's queue of pending signals is full (RLIMIT_SIGPENDING) for \(self)")
      case .invalidArgument: (.invalidArgument, "the kernel refused \(self)")
      case .noFunction: (.system, "this kernel has no \(operation) (pidfd_send_signal needs Linux 5.1)")
      default: nil
      }
    }
  }
}
