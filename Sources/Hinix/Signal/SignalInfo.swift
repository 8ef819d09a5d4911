import Glibc

/// What the kernel knows about one delivery of a signal: which signal, why (``code``), who sent
/// it, the value a `sigqueue` carried, and for `SIGCHLD` which child changed and how.
public struct SignalInfo: Sendable, Hashable, CustomStringConvertible {
  /// Why a signal was sent: the kernel's `si_code`. A struct with static members: the
  /// positive codes mean different things for different signals (`SIGCHLD` has its own).
  public struct Code: Sendable, Hashable, CustomStringConvertible {
    /// The kernel's `si_code`.
    public let rawValue: Int32

    /// The code numbered `rawValue`.
    public init(rawValue: Int32) {
      self.rawValue = rawValue
    }

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

    /// `user`, `queue`, `kernel`, … or `code N` for a code that depends on the signal.
    public var description: String {
      switch self {
      case .user: "user"
      case .kernel: "kernel"
      case .queue: "queue"
      case .timer: "timer"
      case .messageQueue: "message queue"
      case .asyncIO: "async I/O"
      case .threadKill: "tkill"
      default: "code \(rawValue)"
      }
    }

    /// The description of a `SIGCHLD` code.
    var childDescription: String {
      switch self {
      case .childExited: "exited"
      case .childKilled: "killed"
      case .childDumped: "dumped core"
      case .childStopped: "stopped"
      case .childContinued: "continued"
      default: description
      }
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
  /// The value a `sigqueue` (or a timer) carried: an integer or a pointer's bits.
  public let value: Int
  /// For `SIGCHLD`: how the child ended (exited with a status, or killed by a signal); nil
  /// for other signals and for a child that stopped or continued (see ``code``).
  public let child: ChildProcess.Termination?
  /// Deliveries of this signal that Hinix had to drop just before this one (its pipe or the
  /// watcher's buffer was full), so that a loss is always reported; 0 from a ``SignalFD``.
  public internal(set) var lostBefore = 0

  init?(_ record: Sys.SignalRecord) {
    guard let signal = Signal(rawValue: record.signal) else { return nil }
    self.signal = signal
    code = Code(rawValue: record.code)
    senderPID = record.pid
    senderUID = record.uid
    value = Int(record.value)
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
    text += ", \(signal == .child ? code.childDescription : code.description)"
    if code == .queue || code == .timer { text += ", value \(value)" }
    if let child { text += ", \(child)" }
    if lostBefore > 0 { text += " (\(lostBefore) lost before it)" }
    return text
  }
}
