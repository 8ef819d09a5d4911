import Glibc
import SystemPackage

/// A child process started with an explicit set of inherited descriptors.
///
/// Hinix opens every descriptor close-on-exec, so a child inherits nothing by accident. To hand
/// one down, name it in `passing:` with the number it should have in the child: the child gets a
/// copy at that number, open across `execve`, while the parent's descriptor keeps its flags.
///
/// ```swift
/// let wake = try EventFD()
/// let child = try ChildProcess.spawn(
///   "/usr/local/bin/worker", arguments: ["--wake-fd", "3"], passing: [wake.descriptor: 3])
/// ```
public struct ChildProcess: Sendable, Hashable {
  /// The child's process id.
  public let pid: pid_t

  /// How a child ended.
  public enum Termination: Sendable, Hashable, CustomStringConvertible {
    /// It called `exit` with this status.
    case exited(Int32)
    /// A signal with this number ended it.
    case signalled(Int32)

    /// "exit status N" or "signal N".
    public var description: String {
      switch self {
      case .exited(let status): "exit status \(status)"
      case .signalled(let signal): "signal \(signal)"
      }
    }
  }

  /// Wraps an existing child's process id (one this process may wait for).
  public init(pid: pid_t) {
    self.pid = pid
  }

  /// Starts `executable` with `arguments` (not including argv[0], which is the executable's path).
  ///
  /// - Parameters:
  ///   - environment: `KEY=VALUE` strings; `nil` passes this process's environment.
  ///   - passing: descriptors to hand to the child, keyed by the parent's descriptor, valued by
  ///     the number the child sees (3 and up keeps the standard streams; 0, 1 and 2 replace them).
  ///   - cpu: a CPU to pin the child to before it runs, or `nil` to leave it unpinned.
  /// - Throws: the errno of `fork`, `dup2`, `sched_setaffinity` or `execve`, naming the executable.
  /// The corresponding C functions are `fork`, `dup2` and `execve`.
  public static func spawn(
    _ executable: FilePath, arguments: [String] = [], environment: [String]? = nil,
    passing descriptors: [FileDescriptor: Int32] = [:], cpu: Int? = nil
  ) throws(HinixError) -> ChildProcess {
    // The executable's bytes go to execve as they are; argv[0] is its text.
    let argv = [executable.string] + arguments
    let envp = environment ?? ChildProcess.currentEnvironment()
    let sources = descriptors.keys.map(\.rawValue)
    let targets = descriptors.keys.map { descriptors[$0]! }
    let result = withCStrings(argv) { argvPointer in
      withCStrings(envp) { envpPointer in
        executable.withPlatformString { pathPointer in
          Sys.spawn(
            pathPointer, argvPointer, envpPointer, sources: sources, targets: targets,
            cpu: Int32(cpu ?? -1))
        }
      }
    }
    switch result {
    case .success(let pid): return ChildProcess(pid: pid)
    case .failure(let error):
      throw HinixError(
        error == .noSuchFileOrDirectory ? .notFound : .system, operation: "spawn",
        subject: executable.printable,
        errno: error, detail: "could not start the process: \(error)")
    }
  }

  /// Waits for the child to end and reaps it, blocking the calling thread.
  ///
  /// The corresponding C function is `waitpid`.
  @_disfavoredOverload
  @available(*, noasync, message: "blocks its thread; use `await wait()` in async code")
  public func wait() throws(HinixError) -> Termination {
    try reap(block: true)!
  }

  /// Reaps the child if it has ended: ``Outcome/wouldBlock`` while it still runs.
  ///
  /// The corresponding C function is `waitpid` with `WNOHANG`.
  public func tryWait() throws(HinixError) -> Outcome<Termination> {
    Waiting.never.outcome(try reap(block: false))
  }

  /// Waits for the child to end and reaps it, suspending the task (not its thread): the
  /// reactor waits on a pidfd of the child, which becomes readable when it exits.
  ///
  /// Cancelling the task throws `CancellationError` and leaves the child unreaped.
  /// The corresponding C functions are `pidfd_open` and `waitpid`.
  public func wait(reactor: Reactor = .shared) async throws -> Termination {
    if let ended = try reap(block: false) { return ended }
    let pidfd: OwnedDescriptor
    switch Sys.pidfdOpen(pid) {
    case .success(let fd): pidfd = OwnedDescriptor(adopting: FileDescriptor(rawValue: fd))
    case .failure(let error): throw HinixError.system(error, "pidfd_open", subject: "pid \(pid)")
    }
    return try await reactor.perform(.readable, on: pidfd.descriptor, strategy: .sleep) {
      () throws(HinixError) in try reap(block: false)
    }
  }

  private func reap(block: Bool) throws(HinixError) -> Termination? {
    switch Sys.wait(pid, block: block) {
    case .success(let status): return status.map(ChildProcess.termination)
    case .failure(let error): throw HinixError.system(error, "waitpid", subject: "pid \(pid)")
    }
  }

  /// Sends `signal` (SIGTERM by default) to the child.
  ///
  /// The corresponding C function is `kill`.
  public func kill(_ signal: Int32 = SIGTERM) throws(HinixError) {
    if case .failure(let error) = Sys.kill(pid, signal) {
      throw HinixError.system(error, "kill", subject: "pid \(pid)")
    }
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

  private static func termination(_ status: Int32) -> Termination {
    let signal = status & 0x7f
    return signal == 0 ? .exited((status >> 8) & 0xff) : .signalled(signal)
  }

  private static func currentEnvironment() -> [String] {
    var result: [String] = []
    var entry = environ
    while let pointer = entry.pointee {
      result.append(String(cString: pointer))
      entry += 1
    }
    return result
  }
}

/// Calls `body` with a NULL-terminated C array of the strings, valid during the call.
private func withCStrings<R>(
  _ strings: [String], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> R
) -> R {
  let pointers = strings.map { strdup($0) } + [nil]
  defer { pointers.forEach { free($0) } }
  return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
}
