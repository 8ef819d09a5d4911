import Glibc
import SystemPackage

/// A child process started with an explicit set of inherited descriptors, held by a pidfd.
///
/// A child inherits nothing by accident: only the standard streams and the descriptors named in
/// `passing:`, each at the number it should have in the child (a copy, open across `execve`,
/// while the parent's descriptor keeps its flags). Every other descriptor is closed at exec,
/// even one that other code opened without close-on-exec, unless the spawn asks for
/// ``Inheritance/passedAndUnmarked``.
/// The child also starts clean: every signal at its default action and none blocked, whatever
/// this process caught, ignored or blocked.
///
/// Every wait and signal goes through the child's pidfd (``process``), opened right after
/// `fork`, before this process reaps anything (only a `SIGCHLD` set to be ignored, or another
/// thread waiting for any child, could take the child first; spawning then fails): a `ChildProcess` never reaps or signals any
/// other process, even one that later gets the same pid. Needs Linux 5.3 (`pidfd_open`) and,
/// to reap, 5.4 (`waitid` with `P_PIDFD`).
///
/// ```swift
/// let wake = try EventFD()
/// let child = try ChildProcess.spawn(
///   "/usr/local/bin/worker", arguments: ["--wake-fd", "3"], passing: [wake.descriptor: 3])
/// let ended = try await child.wait()
/// ```
public struct ChildProcess: Sendable, Hashable {
  /// The child's process id.
  public let pid: pid_t
  /// The child's pidfd: await its exit, or signal it, without any risk of reaching a process
  /// that reused the pid.
  public let process: ProcessDescriptor

  /// How a child ended.
  public enum Termination: Sendable, Hashable, CustomStringConvertible {
    /// It called `exit` with this status.
    case exited(Int32)
    /// A signal with this number ended it.
    case signalled(Int32)

    /// The signal that ended it, if one did.
    public var signal: Signal? {
      if case .signalled(let number) = self { return Signal(rawValue: number) }
      return nil
    }

    /// "exit status N" or "signal SIGNAME".
    public var description: String {
      switch self {
      case .exited(let status): "exit status \(status)"
      case .signalled(let number): "signal \(Signal(rawValue: number)?.description ?? "\(number)")"
      }
    }
  }

  /// What an async ``wait(onCancellation:reactor:)`` does when its task is cancelled.
  public enum CancellationAction: Sendable, Hashable {
    /// Leave the child running (and unreaped): it can be waited for again.
    case leaveRunning
    /// Send the child this signal, and reap it once it ends (in a task of its own), so that
    /// no zombie is left.
    case send(Signal)
  }

  /// Wraps a child of this process by its pid, opening its pidfd.
  ///
  /// Only race-free while the child is not reaped: a pid that was already reaped may name a
  /// new, unrelated process by now. Prefer ``spawn(_:arguments:environment:passing:cpu:inheriting:)``,
  /// which opens the pidfd before anything can reap.
  public init(pid: pid_t) throws(HinixError) {
    self.pid = pid
    process = try ProcessDescriptor(opening: pid)
  }

  private init(pid: pid_t, pidfd: Int32) {
    self.pid = pid
    process = ProcessDescriptor(adoptingOpened: FileDescriptor(rawValue: pidfd), pid: pid)
  }

  /// Children are the same when their pids are.
  public static func == (left: ChildProcess, right: ChildProcess) -> Bool { left.pid == right.pid }

  /// Hashes the pid.
  public func hash(into hasher: inout Hasher) { hasher.combine(pid) }

  /// Starts `executable` with `arguments` (not including argv[0], which is the executable's path).
  ///
  /// - Parameters:
  ///   - executable: the path of the program to run.
  ///   - arguments: the arguments after argv[0].
  ///   - environment: `KEY=VALUE` strings; `nil` passes this process's environment.
  ///   - descriptors: descriptors to hand to the child, keyed by the parent's descriptor, valued by
  ///     the number the child sees (3 and up keeps the standard streams; 0, 1 and 2 replace them).
  ///   - cpu: a CPU to pin the child to before it runs, or `nil` to leave it unpinned.
  ///   - inheritance: which other descriptors of this process the child keeps:
  ///     ``Inheritance/passedOnly`` (the default) closes every one not named in `descriptors`
  ///     but the standard streams, even one opened without close-on-exec by other code.
  /// - Throws: the errno of `fork`, `dup2`, `sched_setaffinity`, `execve` or `pidfd_open`,
  ///   naming the executable.
  /// The corresponding C functions are `fork`, `pidfd_open`, `dup2`, `close_range` and `execve`.
  public static func spawn(
    _ executable: FilePath, arguments: [String] = [], environment: [String]? = nil,
    passing descriptors: [FileDescriptor: Int32] = [:], cpu: Int? = nil,
    inheriting inheritance: Inheritance = .passedOnly
  ) throws(HinixError) -> ChildProcess {
    try spawn(
      executable, argumentBytes: arguments.map { Array($0.utf8) }, environment: environment,
      passing: descriptors,
      cpu: cpu, inheriting: inheritance, controllingTerminal: nil)
  }

  /// ``spawn(_:arguments:environment:passing:cpu:inheriting:)`` with arguments given as bytes,
  /// passed to the program as they are: for arguments that are not UTF-8 (a file name of
  /// another encoding), which a `String` would have replaced with U+FFFD. No argument may hold
  /// a NUL byte.
  ///
  /// - Throws: `.invalidArgument` for an argument holding a NUL byte; the errors of
  ///   ``spawn(_:arguments:environment:passing:cpu:inheriting:)``.
  public static func spawn(
    _ executable: FilePath, argumentBytes: [[UInt8]], environment: [String]? = nil,
    passing descriptors: [FileDescriptor: Int32] = [:], cpu: Int? = nil,
    inheriting inheritance: Inheritance = .passedOnly
  ) throws(HinixError) -> ChildProcess {
    try spawn(
      executable, argumentBytes: argumentBytes, environment: environment, passing: descriptors, cpu: cpu,
      inheriting: inheritance, controllingTerminal: nil)
  }

  /// Which descriptors of this process a spawned child keeps across `execve`.
  public enum Inheritance: Sendable, Hashable {
    /// Only those named in `passing:`, and the standard streams 0, 1 and 2 that `passing:` does
    /// not replace: the default, as swift-subprocess has it. A descriptor that a library opened
    /// without close-on-exec (and every Hinix descriptor is opened with it) does not leak into
    /// the child, where it would keep a pipe's write end or a lock alive as long as the child runs.
    case passedOnly
    /// Also every descriptor of this process open without close-on-exec, as `fork` and `execve`
    /// or `posix_spawn` alone would pass them: for a child that expects descriptors a shell set up.
    case passedAndUnmarked
  }

  /// ``spawn(_:arguments:environment:passing:cpu:inheriting:)``, and with `controllingTerminal`
  /// (a number among the targets of `passing`) the child leads a new session whose controlling
  /// terminal is that descriptor, as a pseudo-terminal's child needs.
  static func spawn(
    _ executable: FilePath, argumentBytes arguments: [[UInt8]], environment: [String]?,
    passing descriptors: [FileDescriptor: Int32], cpu: Int?,
    inheriting inheritance: Inheritance = .passedOnly,
    controllingTerminal: Int32?
  ) throws(HinixError) -> ChildProcess {
    if let index = arguments.firstIndex(where: { $0.contains(0) }) {
      throw HinixError(
        .invalidArgument, operation: "spawn", subject: executable.printable,
        detail: "argument \(index + 1) holds a NUL byte, which ends a C string")
    }
    // The executable's bytes go to execve as they are, and are argv[0] too; so are the
    // arguments' and the environment's (this process's own when none is given).
    let path = executable.withPlatformString { Array(UnsafeRawBufferPointer(start: $0, count: strlen($0))) }
    let argv = [path] + arguments
    let envp = environment.map { $0.map { Array($0.utf8) } } ?? ChildProcess.currentEnvironment()
    let sources = descriptors.keys.map(\.rawValue)
    let targets = descriptors.keys.map { descriptors[$0]! }
    let result = withCStrings(argv) { argvPointer in
      withCStrings(envp) { envpPointer in
        executable.withPlatformString { pathPointer in
          Sys.spawn(
            pathPointer, argvPointer, envpPointer, sources: sources, targets: targets,
            cpu: Int32(cpu ?? -1), controllingTerminal: controllingTerminal ?? -1,
            inheritUnmarked: inheritance == .passedAndUnmarked)
        }
      }
    }
    switch result {
    case .success(let child): return ChildProcess(pid: child.pid, pidfd: child.pidfd)
    case .failure(let error):
      throw HinixError(
        error == .noSuchFileOrDirectory ? .notFound : .system, operation: "spawn",
        subject: executable.printable,
        errno: error,
        detail: ChildProcess.spawnFailure(error))
    }
  }

  /// The detail of a failed spawn.
  private static func spawnFailure(_ error: Errno) -> String {
    switch error {
    case .noFunction: "this kernel has no pidfd_open (Linux 5.3 or later needed)"
    case .noChildProcess:
      "the child was reaped before its pidfd could be opened (SIGCHLD ignored, or another thread "
        + "waits for any child); it was started and may still run"
    default: "could not start the process: \(error)"
    }
  }

  // MARK: Waiting

  /// Waits for the child to end and reaps it, blocking the calling thread.
  ///
  /// The corresponding C function is `waitid` with `P_PIDFD`.
  @available(*, noasync, message: "blocks its thread; use `await wait()` in async code")
  public func blockingWait() throws(HinixError) -> Termination {
    guard let ended = try process.reap(block: true) else {
      throw HinixError(.system, operation: "waitid", subject: "pid \(pid)", detail: "returned no child")
    }
    return ended
  }

  /// Reaps the child if it has ended: ``Outcome/wouldBlock`` while it still runs.
  ///
  /// The corresponding C function is `waitid` with `P_PIDFD` and `WNOHANG`.
  public func tryWait() throws(HinixError) -> Outcome<Termination> {
    Waiting.never.outcome(try process.reap(block: false))
  }

  /// Waits at most `timeout` for the child to end, and reaps it if it did:
  /// ``Outcome/timedOut`` while it still runs.
  @available(*, noasync, message: "blocks its thread; use `await wait()` in async code")
  public func blockingWait(timeout: Duration) throws(HinixError) -> Outcome<Termination> {
    guard try process.blockingWaitForExit(timeout: timeout).isCompleted else { return .timedOut }
    return try tryWait()
  }

  /// Waits for the child to end and reaps it, suspending the task (not its thread): the
  /// reactor waits on the child's pidfd, which becomes readable when it exits.
  ///
  /// - Parameters:
  ///   - onCancellation: what to do with the child when the task is cancelled
  ///     (`CancellationError` is thrown either way): leave it running (the default), or send it
  ///     a signal and reap it when it ends.
  ///   - reactor: the reactor that waits on the child's pidfd.
  public func wait(
    onCancellation: CancellationAction = .leaveRunning, reactor: Reactor = .shared
  ) async throws -> Termination {
    do {
      return try await reactor.perform(.readable, on: process.descriptor, strategy: .sleep, history: .none) {
        () throws(HinixError) in try process.reap(block: false)
      }
    } catch is CancellationError {
      if case .send(let signal) = onCancellation {
        try? process.send(signal)
        let process = process
        Task.detached {
          try? await process.waitForExit()
          _ = try? process.reap(block: false)
        }
      }
      throw CancellationError()
    }
  }

  // MARK: Signals

  /// Sends `signal` (`SIGTERM` by default) to the child, through its pidfd.
  ///
  /// The corresponding C function is `pidfd_send_signal`.
  public func kill(_ signal: Signal = .terminate) throws(HinixError) {
    try process.send(signal)
  }

  /// Pins the calling thread to one CPU; `hinix bench` uses it to place the two processes.
  ///
  /// The corresponding C function is `sched_setaffinity`.
  public static func pinCurrentThread(toCPU cpu: Int) throws(HinixError) {
    if case .failure(let error) = Sys.pin(0, toCPU: Int32(cpu)) {
      throw HinixError.system(error, "sched_setaffinity", subject: "cpu \(cpu)")
    }
  }

  /// The CPUs this process may run on, in ascending order.
  public static func allowedCPUs() -> [Int] {
    Sys.allowedCPUs()
  }

  /// This process's environment, byte for byte (a value need not be UTF-8).
  private static func currentEnvironment() -> [[UInt8]] {
    var result: [[UInt8]] = []
    var entry = environ
    while let pointer = entry.pointee {
      result.append(Array(UnsafeRawBufferPointer(start: pointer, count: strlen(pointer))))
      entry += 1
    }
    return result
  }
}

/// Calls `body` with a NULL-terminated C array of the byte strings (each given a NUL), valid
/// during the call.
private func withCStrings<R>(
  _ strings: [[UInt8]], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> R
) -> R {
  let pointers: [UnsafeMutablePointer<CChar>?] =
    strings.map { bytes in
      let copy = UnsafeMutablePointer<CChar>.allocate(capacity: bytes.count + 1)
      for (index, byte) in bytes.enumerated() { copy[index] = CChar(bitPattern: byte) }
      copy[bytes.count] = 0
      return copy
    } + [nil]
  defer { pointers.forEach { $0?.deallocate() } }
  return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
}
