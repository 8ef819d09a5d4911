import Glibc

/// What the kernel knows about one delivery of a signal: which signal, why (``code``), who sent
/// it, the value a `sigqueue` carried, and for `SIGCHLD` which child changed and how.
public struct SignalInfo: Sendable, Hashable, CustomStringConvertible {
  /// Why a signal was sent: the kernel's `si_code`. A struct with static members: the
  /// positive codes mean different things for different signals (`SIGCHLD` has its own).
  public struct Code: Sendable, Hashable, CustomStringConvertible {
    /// The kernel's `si_code`.
    public let rawValue: Int32
    /// The signal the code came with, when known (a code read from a delivery), so that a
    /// positive code, whose meaning depends on the signal, prints as what it means.
    private let signalNumber: Int32

    /// The code numbered `rawValue`.
    public init(rawValue: Int32) {
      self.init(rawValue: rawValue, signal: 0)
    }

    /// The code numbered `rawValue` that came with `signal`.
    init(rawValue: Int32, signal: Int32) {
      self.rawValue = rawValue
      signalNumber = signal
    }

    /// Codes are the same when their numbers are.
    public static func == (left: Code, right: Code) -> Bool { left.rawValue == right.rawValue }

    /// Hashes the number.
    public func hash(into hasher: inout Hasher) { hasher.combine(rawValue) }

    /// Sent by `kill` (`SI_USER`).
    public static let user = Code(rawValue: 0)
    /// Sent by the kernel (`SI_KERNEL`).
    public static let kernel = Code(rawValue: 0x80)
    /// Sent by `sigqueue` or `pidfd_send_signal` with a value (`SI_QUEUE`).
    public static let queue = Code(rawValue: -1)
    /// A POSIX timer expired (`SI_TIMER`).
    public static let timer = Code(rawValue: -2)
    /// A message arrived on an empty message queue (`SI_MESGQ`).
    public static let messageQueue = Code(rawValue: -3)
    /// Asynchronous I/O completed (`SI_ASYNCIO`).
    public static let asyncIO = Code(rawValue: -4)
    /// Sent by `tgkill`, as `raise` and `pthread_kill` do (`SI_TKILL`).
    public static let threadKill = Code(rawValue: -6)
    /// `SIGCHLD`: the child exited (`CLD_EXITED`).
    public static let childExited = Code(rawValue: 1)
    /// `SIGCHLD`: a signal killed the child (`CLD_KILLED`).
    public static let childKilled = Code(rawValue: 2)
    /// `SIGCHLD`: a signal killed the child and it dumped core (`CLD_DUMPED`).
    public static let childDumped = Code(rawValue: 3)
    /// `SIGCHLD`: the child stopped (`CLD_STOPPED`).
    public static let childStopped = Code(rawValue: 5)
    /// `SIGCHLD`: the stopped child continued (`CLD_CONTINUED`).
    public static let childContinued = Code(rawValue: 6)

    /// Whether a process sent the signal (`kill`, `sigqueue`, `tgkill`), so that the sender's
    /// pid and uid are meaningful.
    public var isFromProcess: Bool { self == .user || self == .queue || self == .threadKill }

    /// `user`, `queue`, `kernel`, …; for a code that came with its signal, what the code means
    /// for that signal (`exited`, `killed` for `SIGCHLD`; `address not mapped` for `SIGSEGV`);
    /// `code N` for a positive code whose signal is not known.
    public var description: String {
      switch self {
      case .user: return "user"
      case .kernel: return "kernel"
      case .queue: return "queue"
      case .timer: return "timer"
      case .messageQueue: return "message queue"
      case .asyncIO: return "async I/O"
      case .threadKill: return "tkill"
      default: break
      }
      let names: [String]? =
        switch signalNumber {
        case SIGCHLD: ["exited", "killed", "dumped core", "trapped", "stopped", "continued"]
        case SIGSEGV: ["address not mapped", "access not permitted", "bounds check", "protection key"]
        case SIGBUS: ["invalid alignment", "no such physical address", "hardware error"]
        case SIGFPE:
          [
            "integer divide by zero", "integer overflow", "divide by zero", "overflow", "underflow",
            "inexact result", "invalid operation", "subscript out of range",
          ]
        case SIGILL:
          [
            "illegal opcode", "illegal operand", "illegal addressing mode", "illegal trap",
            "privileged opcode", "privileged register", "coprocessor error", "internal stack error",
          ]
        case SIGTRAP: ["breakpoint", "trace trap"]
        default: nil
        }
      if let names, rawValue >= 1, Int(rawValue) <= names.count { return names[Int(rawValue) - 1] }
      return "code \(rawValue)"
    }
  }

  /// The signal delivered.
  public let signal: Signal
  /// Why it was sent.
  public let code: Code
  /// The sending process's pid (meaningful when ``Code/isFromProcess``; for `SIGCHLD`, the
  /// child's pid).
  public let senderPID: pid_t
  /// The sending process's real uid (for `SIGCHLD`, the child's).
  public let senderUID: uid_t
  /// The value a `sigqueue` (or a timer, or a message queue's notification) carried: an
  /// integer or a pointer's bits; 0 for a delivery that carries none (`kill`, the kernel's own
  /// signals, `SIGCHLD`, whose status is ``childStatus``).
  public let value: Int
  /// For `SIGCHLD`: the child's `si_status`, its exit status when it exited, else the number of
  /// the signal that killed, stopped or continued it; nil for other signals.
  public let childStatus: Int32?
  /// For `SIGCHLD`: how the child ended (exited with a status, or killed by a signal); nil
  /// for other signals and for a child that stopped or continued (see ``code``).
  public let child: ChildProcess.Termination?
  /// Deliveries of this signal that Hinix had to drop just before this one (its pipe or the
  /// watcher's buffer was full), so that a loss is always reported; 0 from a ``SignalFD``.
  public internal(set) var lostBefore = 0

  init?(_ record: Sys.SignalRecord) {
    guard let signal = Signal(rawValue: record.signal) else { return nil }
    self.signal = signal
    code = Code(rawValue: record.code, signal: record.signal)
    senderPID = record.pid
    senderUID = record.uid
    // The kernel's siginfo is a union: a SIGCHLD's status, a fault's address, share the bytes
    // of a queued value. Only a code sent by a process or a timer (zero or negative) carries one.
    value = record.code <= 0 && signal != .child ? Int(record.value) : 0
    childStatus = signal == .child ? record.status : nil
    child = signal == .child ? SignalInfo.childChange(code: record.code, status: record.status) : nil
  }

  /// The change a `SIGCHLD` (or `waitid`) reports: `CLD_EXITED` carries the exit status, the
  /// others the signal.
  static func childChange(code: Int32, status: Int32) -> ChildProcess.Termination? {
    switch Code(rawValue: code) {
    case .childExited: .exited(status)
    case .childKilled, .childDumped: .signalled(status)
    default: nil
    }
  }

  /// `SIGUSR1 from pid 42 (uid 1000), queue, value 7`.
  public var description: String {
    var text = "\(signal)"
    if code.isFromProcess || signal == .child { text += " from pid \(senderPID) (uid \(senderUID))" }
    text += ", \(code)"
    if code == .queue || code == .timer { text += ", value \(value)" }
    if let child { text += ", \(child)" }
    if lostBefore > 0 { text += " (\(lostBefore) lost before it)" }
    return text
  }
}
