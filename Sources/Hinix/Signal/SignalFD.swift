import Glibc
import SystemPackage

/// A signalfd: a descriptor that reads the signals in its set as records, for programs that
/// block those signals themselves.
///
/// **When to choose it.** The kernel hands a signal to a signalfd only while the signal is
/// blocked in every thread that could take it; otherwise any thread that does not block it
/// gets it first (with its default action or handler). A Swift program always has threads
/// that do not block signals (the cooperative pool, Dispatch), so a signalfd there needs the
/// signals blocked before any thread starts: at the top of `main`, with ``ThreadSignalMask``,
/// since threads inherit the mask of the thread that creates them. Where that cannot be
/// guaranteed, use ``SignalWatcher``, which works whatever the threads do.
///
/// Creating one checks `/proc/self/task/*/status` and refuses, with the threads named, when
/// some thread does not block a signal of the set (see ``threadsNotBlocking(_:)``); pass
/// `requireBlocked: false` to create it anyway.
///
/// Reads come in the four Hinix forms; each returns one delivery's ``SignalInfo``.
public final class SignalFD: Sendable {
  /// The signals this descriptor reads.
  public let signals: SignalSet
  private let handle: OwnedDescriptor

  /// The signalfd, still owned by this value.
  public var descriptor: FileDescriptor { handle.descriptor }

  /// Creates a signalfd (close-on-exec, non-blocking: every form waits in `poll` or the
  /// reactor) for `signals`.
  ///
  /// - Throws: `.invalidArgument` for an empty set, and, with `requireBlocked`, when a thread
  ///   of this process does not block a signal of the set (the message names the threads).
  /// The corresponding C function is `signalfd`.
  public init(_ signals: SignalSet, requireBlocked: Bool = true) throws(HinixError) {
    guard !signals.isEmpty else {
      throw HinixError(.invalidArgument, operation: "signalfd", detail: "the set of signals is empty")
    }
    if requireBlocked {
      let open = try SignalFD.threadsNotBlocking(signals)
      if !open.isEmpty {
        let list = open.prefix(8).map { "\($0.id) (\($0.name)): \($0.signals)" }.joined(separator: "; ")
        throw HinixError(
          .invalidArgument, operation: "signalfd", subject: "\(signals)",
          detail:
            "\(open.count) thread(s) do not block these signals, so the kernel may hand them there instead: "
            + "\(list)\(open.count > 8 ? "; …" : ""). Block them in every thread before it starts "
            + "(ThreadSignalMask.block at the top of main), or use SignalWatcher")
      }
    }
    switch Sys.signalFD(-1, signals.bits, nonBlocking: true) {
    case .success(let fd):
      self.signals = signals
      handle = OwnedDescriptor(adopting: FileDescriptor(rawValue: fd))
    case .failure(let error):
      throw HinixError.system(error, "signalfd", subject: "\(signals)")
    }
  }

  /// A thread of this process that does not block some signals.
  public struct OpenThread: Sendable, Hashable {
    /// The thread's id (a tid, as in `/proc/self/task`).
    public let id: pid_t
    /// The thread's name (`comm`).
    public let name: String
    /// The signals of the asked set that it does not block.
    public let signals: SignalSet
  }

  /// The threads of this process that do not block every signal of `signals`, read from the
  /// `SigBlk` line of each `/proc/self/task/TID/status`: where the kernel may deliver them
  /// instead of a signalfd.
  public static func threadsNotBlocking(_ signals: SignalSet) throws(HinixError) -> [OpenThread] {
    let folder = FilePath("/proc/self/task")
    let tasks: [FilePath.Component]
    switch Sys.directoryEntries(folder) {
    case .success(let entries): tasks = entries
    case .failure(let error): throw HinixError.system(error, "getdents64", subject: folder.printable)
    }
    var open: [OpenThread] = []
    for task in tasks {
      guard let id = pid_t(task.string),
        let status = try? readProcFile(folder.appending(task).appending("status"))
      else { continue }  // a thread that ended meanwhile
      var name = ""
      var blocked: UInt64 = 0
      for line in status.split(separator: "\n") {
        if line.hasPrefix("Name:") { name = String(line.dropFirst(5).trimmingWhitespace()) }
        if line.hasPrefix("SigBlk:") {
          blocked = UInt64(line.dropFirst(7).trimmingWhitespace(), radix: 16) ?? 0
        }
      }
      let unblocked = SignalSet(bits: signals.bits & ~blocked)
      if !unblocked.isEmpty { open.append(OpenThread(id: id, name: name, signals: unblocked)) }
    }
    return open.sorted { $0.id < $1.id }
  }

  // MARK: Reading

  /// Reads the next delivery, blocking the thread until one is pending.
  @available(*, noasync, message: "blocks its thread; use `await read()` in async code")
  public func blockingRead() throws(HinixError) -> SignalInfo {
    try read(waiting: .forever)!
  }

  /// Reads a pending delivery: ``Outcome/wouldBlock`` when none is.
  public func tryRead() throws(HinixError) -> Outcome<SignalInfo> {
    Waiting.never.outcome(try read(waiting: .never))
  }

  /// Reads the next delivery, blocking the thread at most `timeout`: ``Outcome/timedOut`` if
  /// none came.
  @available(*, noasync, message: "blocks its thread; use `await read()` in async code")
  public func blockingRead(timeout: Duration) throws(HinixError) -> Outcome<SignalInfo> {
    try Waiting.timed(timeout) { (waiting) throws(HinixError) in try read(waiting: waiting) }
  }

  /// Reads the next delivery, suspending the task (not its thread) until one is pending.
  public func read(reactor: Reactor = .shared) async throws -> SignalInfo {
    try await reactor.perform(.readable, on: descriptor, strategy: .sleep, history: .none) {
      () throws(HinixError) in
      try read(waiting: .never)
    }
  }

  private func read(waiting: Waiting) throws(HinixError) -> SignalInfo? {
    var record = Sys.SignalRecord()
    while true {
      let result = withUnsafeMutablePointer(to: &record) {
        Sys.readSignalFD(descriptor.rawValue, into: UnsafeMutableBufferPointer(start: $0, count: 1))
      }
      switch result {
      case .success(1):
        guard let info = SignalInfo(record) else {
          throw HinixError(
            .system, operation: "read", subject: "signalfd", detail: "a record for signal \(record.signal)")
        }
        return info
      case .success, .failure(.resourceTemporarilyUnavailable):
        guard
          try waiting.poll(descriptor.rawValue, for: Int16(POLLIN), operation: "read", subject: "signalfd")
        else { return nil }
      case .failure(let error):
        throw HinixError.system(error, "read", subject: "signalfd")
      }
    }
  }
}

/// The calling thread's signal mask (`pthread_sigmask`): which signals it blocks. A new thread
/// starts with the mask of the thread that created it, so block at the top of `main`, before
/// any thread starts. The changing calls are unavailable in async code, where the calling
/// thread is whichever pool thread runs the task.
public enum ThreadSignalMask {
  /// Blocks `signals` in the calling thread; returns the mask before.
  @discardableResult
  @available(
    *, noasync,
    message: "changes the mask of whichever pool thread runs the task; call it in main before any task starts"
  )
  public static func block(_ signals: SignalSet) throws(HinixError) -> SignalSet {
    try change(0, signals)
  }

  /// Unblocks `signals` in the calling thread; returns the mask before.
  @discardableResult
  @available(
    *, noasync,
    message: "changes the mask of whichever pool thread runs the task; call it in main before any task starts"
  )
  public static func unblock(_ signals: SignalSet) throws(HinixError) -> SignalSet {
    try change(1, signals)
  }

  /// Sets the calling thread's mask to exactly `signals`; returns the mask before.
  @discardableResult
  @available(
    *, noasync,
    message: "changes the mask of whichever pool thread runs the task; call it in main before any task starts"
  )
  public static func set(_ signals: SignalSet) throws(HinixError) -> SignalSet {
    try change(2, signals)
  }

  /// The signals the calling thread blocks.
  public static var current: SignalSet {
    get throws(HinixError) {
      switch Sys.threadMask(0, nil) {
      case .success(let bits): SignalSet(bits: bits)
      case .failure(let error): throw HinixError.system(error, "pthread_sigmask")
      }
    }
  }

  /// The signals pending for the calling thread or the process (blocked, so not delivered).
  public static var pending: SignalSet {
    get throws(HinixError) {
      switch Sys.pendingSignals() {
      case .success(let bits): SignalSet(bits: bits)
      case .failure(let error): throw HinixError.system(error, "sigpending")
      }
    }
  }

  private static func change(_ how: Int32, _ signals: SignalSet) throws(HinixError) -> SignalSet {
    switch Sys.threadMask(how, signals.bits) {
    case .success(let bits): SignalSet(bits: bits)
    case .failure(let error): throw HinixError.system(error, "pthread_sigmask", subject: "\(signals)")
    }
  }
}
