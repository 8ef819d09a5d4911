import Glibc
import SystemPackage

/// A process held by a pidfd: a descriptor that names one process for as long as it is open,
/// so that a signal sent or an exit awaited through it can never reach another process that
/// was given the same pid later.
///
/// Open one for any pid with ``init(opening:)`` (only race-free for an unreaped child of this
/// process: any other pid may already belong to a new process by the time it is opened),
/// take the one of a child Hinix spawned (``ChildProcess/process``, opened before anything
/// could reap it), or adopt one received from elsewhere (``Socket/peerProcessDescriptor()``).
///
/// It becomes readable when the process exits: wait for that in any of the four forms, or
/// register ``descriptor`` with a poller. Only the parent reaps its child and reads the exit
/// status (``ChildProcess/wait(onCancellation:reactor:)``). Needs Linux 5.3 (`pidfd_open`); sending a signal 5.1,
/// ``duplicateDescriptor(_:)`` 5.6.
public final class ProcessDescriptor: Sendable {
  /// The process id the descriptor was opened for.
  public let pid: pid_t
  private let handle: OwnedDescriptor

  /// The pidfd, still owned by this value.
  public var descriptor: FileDescriptor { handle.descriptor }

  var subject: String { "pid \(pid)" }

  /// Opens a pidfd for the process `pid` (close-on-exec).
  ///
  /// - Throws: `.notFound` when no such process exists (`ESRCH`); `.system` naming Linux 5.3
  ///   when the kernel lacks `pidfd_open`.
  /// The corresponding C function is `pidfd_open`.
  public init(opening pid: pid_t) throws(HinixError) {
    guard pid > 0 else {
      throw HinixError(
        .invalidArgument, operation: "pidfd_open", subject: "pid \(pid)", detail: "a process id is positive")
    }
    switch Sys.pidfdOpen(pid) {
    case .success(let fd):
      self.pid = pid
      handle = OwnedDescriptor(adopting: FileDescriptor(rawValue: fd))
    case .failure(let error):
      throw HinixError.system(error, "pidfd_open", subject: "pid \(pid)") { error in
        switch error {
        case .noSuchProcess: (.notFound, "no such process")
        case .noFunction: (.system, "this kernel has no pidfd_open (Linux 5.3 or later needed)")
        default: nil
        }
      }
    }
  }

  /// Owns `descriptor`, a pidfd Hinix opened for `pid`.
  init(adoptingOpened descriptor: FileDescriptor, pid: pid_t) {
    self.pid = pid
    handle = OwnedDescriptor(adopting: descriptor)
  }

  /// Takes ownership of a pidfd (for example one received over a socket); its pid is read
  /// from `/proc/self/fdinfo`.
  ///
  /// - Throws: `.incompatible` when the descriptor is not a pidfd (it is closed then).
  public init(adopting descriptor: FileDescriptor) throws(HinixError) {
    let handle = OwnedDescriptor(adopting: descriptor)
    let path = "/proc/self/fdinfo/\(descriptor.rawValue)"
    let info = try readProcFile(FilePath(path))
    guard let line = info.split(separator: "\n").first(where: { $0.hasPrefix("Pid:") }),
      let pid = pid_t(line.dropFirst(4).trimmingWhitespace())
    else {
      throw HinixError(
        .incompatible, operation: "adopt pidfd", subject: "descriptor \(descriptor.rawValue)",
        detail: "not a pidfd (\(path) has no Pid line)")
    }
    guard pid > 0 else {
      throw HinixError(
        .notFound, operation: "adopt pidfd", subject: "descriptor \(descriptor.rawValue)",
        detail: pid == 0
          ? "the process is in another pid namespace (fdinfo Pid 0)"
          : "the process has exited and been reaped")
    }
    self.pid = pid
    self.handle = handle
  }

  // MARK: Signals

  /// Sends `signal` to the process, with `value` as from `sigqueue` when it is given.
  ///
  /// - Throws: `.notFound` once the process has exited (`ESRCH`), `.permissionDenied` when
  ///   this process may not signal it.
  /// The corresponding C function is `pidfd_send_signal`.
  public func send(_ signal: Signal, value: Int? = nil) throws(HinixError) {
    let result = Sys.pidfdSendSignal(descriptor.rawValue, signal.rawValue, value: value.map(Int64.init))
    try signal.check(result, "pidfd_send_signal", subject)
  }

  // MARK: Waiting for the exit

  /// Whether the process has exited (its pidfd is readable). Never waits.
  public var hasExited: Bool {
    get throws(HinixError) {
      try Waiting.until(.now).poll(
        descriptor.rawValue, for: Int16(POLLIN), operation: "poll", subject: subject)
    }
  }

  /// Waits until the process exits, blocking the thread.
  @available(*, noasync, message: "blocks its thread; use `await waitForExit()` in async code")
  public func blockingWaitForExit() throws(HinixError) {
    _ = try Waiting.forever.poll(descriptor.rawValue, for: Int16(POLLIN), operation: "poll", subject: subject)
  }

  /// Whether the process has exited: ``Outcome/completed(_:)`` if it has, else
  /// ``Outcome/wouldBlock``.
  public func tryWaitForExit() throws(HinixError) -> Outcome<Void> {
    try hasExited ? .completed : .wouldBlock
  }

  /// Waits at most `timeout` for the process to exit: ``Outcome/timedOut`` if it still runs.
  @available(*, noasync, message: "blocks its thread; use `await waitForExit()` in async code")
  public func blockingWaitForExit(timeout: Duration) throws(HinixError) -> Outcome<Void> {
    try Waiting.timed(timeout) { (waiting) throws(HinixError) in
      try waiting.poll(descriptor.rawValue, for: Int16(POLLIN), operation: "poll", subject: subject)
        ? () : nil
    }
  }

  /// Suspends the task (not its thread) until the process exits.
  public func waitForExit(reactor: Reactor = .shared) async throws {
    try await reactor.perform(.readable, on: descriptor, strategy: .sleep, history: .none) {
      () throws(HinixError) in
      try hasExited ? () : nil
    }
  }

  /// Reaps the process, which must be a child of this one, once it has exited: its
  /// termination, or nil while it runs. Reaps only this process, never another child.
  ///
  /// The corresponding C function is `waitid` with `P_PIDFD` (Linux 5.4).
  func reap(block: Bool) throws(HinixError) -> ChildProcess.Termination? {
    switch Sys.waitID(pidfd: descriptor.rawValue, options: WEXITED | (block ? 0 : WNOHANG)) {
    case .success(nil): return nil
    case .success(let record?):
      guard let termination = SignalInfo.childChange(code: record.code, status: record.status) else {
        throw HinixError(
          .system, operation: "waitid", subject: subject, detail: "unexpected child code \(record.code)")
      }
      return termination
    case .failure(let error):
      throw HinixError.system(error, "waitid(P_PIDFD)", subject: subject) { error in
        switch error {
        case .noChildProcess: (.invalidArgument, "not a child of this process, or already reaped")
        case .invalidArgument: (.system, "this kernel has no waitid(P_PIDFD) (Linux 5.4 or later needed)")
        default: nil
        }
      }
    }
  }

  // MARK: Borrowing descriptors

  /// A duplicate (close-on-exec) of the process's descriptor number `target`, as if it had
  /// sent it over a socket.
  ///
  /// - Throws: `.permissionDenied` when this process may not ptrace it (same uid and Yama's
  ///   `ptrace_scope` 0, or `CAP_SYS_PTRACE`); `.notFound` when it has no descriptor `target`
  ///   or has exited.
  /// The corresponding C function is `pidfd_getfd` (Linux 5.6).
  public func duplicateDescriptor(_ target: Int32) throws(HinixError) -> OwnedDescriptor {
    switch Sys.pidfdGetDescriptor(descriptor.rawValue, target) {
    case .success(let fd): return OwnedDescriptor(adopting: FileDescriptor(rawValue: fd))
    case .failure(let error):
      throw HinixError.system(error, "pidfd_getfd", subject: "\(subject), descriptor \(target)") { error in
        switch error {
        case .notPermitted:
          (
            .permissionDenied,
            "uid \(Sys.userID) may not ptrace the process (PTRACE_MODE_ATTACH_REALCREDS: same uid and "
              + "/proc/sys/kernel/yama/ptrace_scope 0, or CAP_SYS_PTRACE)"
          )
        case .badFileDescriptor: (.notFound, "the process has no descriptor \(target)")
        case .noSuchProcess: (.notFound, "the process has exited")
        case .noFunction: (.system, "this kernel has no pidfd_getfd (Linux 5.6 or later needed)")
        default: nil
        }
      }
    }
  }
}
