import CHinix
import Glibc
import SystemPackage

/// Processes, threads, signals and time (see ``Sys``).
extension Sys {
  // MARK: Processes

  static func spawn(
    _ path: UnsafePointer<CChar>, _ argv: UnsafePointer<UnsafeMutablePointer<CChar>?>,
    _ envp: UnsafePointer<UnsafeMutablePointer<CChar>?>, sources: [Int32], targets: [Int32],
    cpu: Int32, controllingTerminal: Int32 = -1, inheritUnmarked: Bool = false
  ) -> Result<(pid: pid_t, pidfd: Int32), Errno> {
    var pidfd: Int32 = -1
    return result(
      hinix_spawn(
        path, argv, envp, sources, targets, Int32(sources.count), cpu, controllingTerminal,
        inheritUnmarked ? 1 : 0, &pidfd)
    ).map {
      ($0, pidfd)
    }
  }

  static func kill(_ pid: pid_t, _ signal: Int32) -> Result<Void, Errno> {
    result(hinix_kill(pid, signal)).map { _ in () }
  }

  /// A pidfd for `pid` (close-on-exec, Linux 5.3): readable once the process has exited.
  static func pidfdOpen(_ pid: pid_t) -> Result<Int32, Errno> {
    result(hinix_pidfd_open(pid))
  }

  package static func pin(_ pid: pid_t, toCPU cpu: Int32) -> Result<Void, Errno> {
    result(hinix_pin_to_cpu(pid, cpu)).map { _ in () }
  }

  /// The CPUs this process may run on (its affinity mask).
  package static func allowedCPUs() -> [Int] {
    var cpus: [Int] = []
    var next = hinix_allowed_cpu(0)
    while next >= 0 {
      cpus.append(Int(next))
      next = hinix_allowed_cpu(next + 1)
    }
    return cpus
  }

  /// This process's id, real and effective user, and group.
  package static var processID: pid_t { getpid() }
  package static var userID: uid_t { getuid() }
  static var effectiveUserID: uid_t { geteuid() }
  static var groupID: gid_t { getgid() }

  // MARK: Signals

  /// Sets SIGPIPE to ignored unless the process installed a handler; `true` when it changed it.
  package static func ignoreBrokenPipeUnlessHandled() -> Result<Bool, Errno> {
    result(hinix_ignore_sigpipe_unless_handled()).map { $0 == 1 }
  }

  /// Ignores SIGPIPE for the whole process, whatever was set before (the tools do).
  package static func ignoreBrokenPipe() {
    hinix_ignore_sigpipe()
  }

  /// Blocks every signal in the calling thread.
  static func blockAllSignals() -> Result<Void, Errno> {
    result(hinix_block_all_signals()).map { _ in () }
  }

  // MARK: Threads

  /// Starts a detached POSIX thread that runs `body` (which it keeps alive until it returns).
  ///
  /// Hinix needs a thread of its own only where a cooperative-pool thread must never block: the
  /// reactor's `epoll_wait` loop, and the benchmark's watch on its peer.
  package static func startThread(_ body: @escaping @Sendable () -> Void) -> Result<Void, Errno> {
    let context = Unmanaged.passRetained(ThreadBody(body)).toOpaque()
    var thread = pthread_t()
    let status = pthread_create(
      &thread, nil,
      { context in
        Unmanaged<ThreadBody>.fromOpaque(context!).takeRetainedValue().body()
        return nil
      }, context)
    guard status == 0 else {
      Unmanaged<ThreadBody>.fromOpaque(context).release()
      return .failure(Errno(rawValue: status))
    }
    pthread_detach(thread)
    return .success(())
  }

  /// An identifier of the calling thread, to compare with another thread's.
  static var currentThread: UInt { UInt(pthread_self()) }

  // MARK: Time

  /// `CLOCK_MONOTONIC` in nanoseconds (the vDSO: no system call).
  @inline(__always)
  static func monotonicNanoseconds() -> Int64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
  }

  /// `CLOCK_REALTIME`, as the timed message-queue calls want their deadline.
  static func realtimeNow() -> timespec {
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    return now
  }

  /// Sleeps the calling thread for `nanoseconds`; `.interrupted` when a signal came first.
  package static func sleep(nanoseconds: Int64) -> Result<Void, Errno> {
    result(hinix_sleep_nanoseconds(max(nanoseconds, 0))).map { _ in () }
  }
}

private final class ThreadBody: Sendable {
  let body: @Sendable () -> Void

  init(_ body: @escaping @Sendable () -> Void) {
    self.body = body
  }
}
