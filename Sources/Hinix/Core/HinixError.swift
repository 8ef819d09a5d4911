import SystemPackage

/// The error every Hinix operation throws (besides `CancellationError` from async waits).
///
/// Its ``description`` is one line that names the operation, the queue name or path it acted on, and
/// the limit or value that failed, for example:
/// `mq_open("/jobs"): max messages 50 is above the system limit 10 (/proc/sys/fs/mqueue/msg_max)`.
public struct HinixError: Error, Sendable, Equatable, CustomStringConvertible {
  /// What went wrong, for code that reacts to a kind of failure.
  ///
  /// A struct with static members rather than an enum, so that later mechanisms can add codes
  /// without breaking a user's `switch` (which needs a `default:` case). Codes compare as one
  /// byte, a private enum's value, and print as their names.
  public struct Code: Sendable, Hashable, CustomStringConvertible {
    /// The codes, compared and hashed as one byte: no code builds or compares a string.
    private enum Storage: UInt8, Sendable {
      case invalidName, invalidArgument, closed, messageTooLarge, limitExceeded, permissionDenied, notFound,
        alreadyExists, wouldBlock, brokenPipe, timedOut, messageTruncated, shortWrite, connectionRefused,
        connectionReset, notConnected, reactorShutDown, corrupt, peerGone, incompatible, unsupported, system
    }

    private let storage: Storage

    private init(_ storage: Storage) {
      self.storage = storage
    }

    /// The code's name, as it is spelled in Swift (`"peerGone"`).
    public var name: String { String(describing: storage) }

    /// The code's name.
    public var description: String { name }

    /// A name given to Hinix is malformed (checked before the kernel sees it).
    public static var invalidName: Code { Code(.invalidName) }
    /// An argument is out of range (a priority, a capacity, a counter value, a buffer size).
    public static var invalidArgument: Code { Code(.invalidArgument) }
    /// The operation was called on an end or object that was already closed.
    public static var closed: Code { Code(.closed) }
    /// A message is larger than the queue's message size, or a buffer smaller than it.
    public static var messageTooLarge: Code { Code(.messageTooLarge) }
    /// A request exceeds a system-wide or per-user limit.
    public static var limitExceeded: Code { Code(.limitExceeded) }
    /// The caller lacks the permission the object's mode requires.
    public static var permissionDenied: Code { Code(.permissionDenied) }
    /// The named object does not exist.
    public static var notFound: Code { Code(.notFound) }
    /// The named object exists and exclusive creation was asked for.
    public static var alreadyExists: Code { Code(.alreadyExists) }
    /// The operation could not complete without blocking and the descriptor is non-blocking.
    public static var wouldBlock: Code { Code(.wouldBlock) }
    /// A write found the reading end of its pipe or socket closed (`EPIPE`).
    public static var brokenPipe: Code { Code(.brokenPipe) }
    /// A timed operation reached its deadline.
    public static var timedOut: Code { Code(.timedOut) }
    /// A message was larger than the buffer given to receive it; the kernel discarded the rest.
    public static var messageTruncated: Code { Code(.messageTruncated) }
    /// A datagram or packet went out shorter than the bytes given (never split in two).
    public static var shortWrite: Code { Code(.shortWrite) }
    /// Nobody listens at the address, or the listener's backlog refused the connection.
    public static var connectionRefused: Code { Code(.connectionRefused) }
    /// The peer closed or reset the connection while data was in flight (`ECONNRESET`).
    public static var connectionReset: Code { Code(.connectionReset) }
    /// The socket is not connected (`ENOTCONN`), or the other side shut its direction down.
    public static var notConnected: Code { Code(.notConnected) }
    /// The reactor was shut down while the operation waited.
    public static var reactorShutDown: Code { Code(.reactorShutDown) }
    /// Data shared with another process failed validation: a ring's header, a position or a
    /// message length that no honest peer writes. Hinix stops using that object.
    public static var corrupt: Code { Code(.corrupt) }
    /// The other side of a shared-memory ring closed it, exited or was killed.
    public static var peerGone: Code { Code(.peerGone) }
    /// A shared object was made for something else: another element size, version or layout,
    /// a file too small, or seals missing.
    public static var incompatible: Code { Code(.incompatible) }
    /// The object cannot do what was asked: a pseudo-terminal has no modem lines, a file is
    /// not a terminal, a device refuses the request.
    public static var unsupported: Code { Code(.unsupported) }
    /// Any other failure of a system call; ``HinixError/errno`` says which.
    public static var system: Code { Code(.system) }
  }

  /// What kind of failure this is.
  public var code: Code
  /// The system call or operation that failed, such as `mq_open`.
  public var operation: String
  /// The name or path the operation acted on, if it has one.
  public var subject: String?
  /// The errno the kernel reported, if the kernel reported one.
  public var errno: Errno?
  /// The explanation, naming the value and the limit involved.
  public var detail: String

  /// Creates an error; Hinix's own operations build these, and tests may compare against them.
  public init(
    _ code: Code, operation: String, subject: String? = nil, errno cause: Errno? = nil, detail: String
  ) {
    self.code = code
    self.operation = operation
    self.subject = subject
    self.errno = cause
    self.detail = detail
  }

  /// One line: `operation("subject"): detail`.
  public var description: String {
    let target = subject.map { "(\"\($0)\")" } ?? ""
    return "\(operation)\(target): \(detail)"
  }
}

extension HinixError {
  /// This error, for a write of `total` bytes that failed after `written` of them went: the
  /// detail says how many, so that a caller knows where the stream stands.
  func afterPartialWrite(_ written: Int, of total: Int) -> HinixError {
    var error = self
    error.detail += " (\(written) of \(total) bytes were written before it)"
    return error
  }

  /// Maps an errno with no more specific meaning to an error that names the call and subject.
  static func system(_ error: Errno, _ operation: String, subject: String? = nil) -> HinixError {
    let code: Code
    switch error {
    case .permissionDenied, .notPermitted: code = .permissionDenied
    case .noSuchFileOrDirectory: code = .notFound
    case .fileExists: code = .alreadyExists
    case .resourceTemporarilyUnavailable: code = .wouldBlock
    case .timedOut: code = .timedOut
    case .connectionRefused: code = .connectionRefused
    case .connectionReset: code = .connectionReset
    case .socketNotConnected: code = .notConnected
    case .brokenPipe: code = .brokenPipe
    case .tooManyOpenFiles, .tooManyOpenFilesInSystem, .noSpace, .noMemory: code = .limitExceeded
    default: code = .system
    }
    return HinixError(
      code, operation: operation, subject: subject, errno: error,
      detail: "\(error) (errno \(error.rawValue))")
  }

  /// The error for `error` from `operation`: the code and detail `explain` gives for the errnos
  /// a mechanism can say more about (it returns nil for the rest), else the general mapping of
  /// ``system(_:_:subject:)``.
  static func system(
    _ error: Errno, _ operation: String, subject: String?, explaining explain: (Errno) -> (Code, String)?
  ) -> HinixError {
    guard let (code, detail) = explain(error) else { return system(error, operation, subject: subject) }
    return HinixError(code, operation: operation, subject: subject, errno: error, detail: detail)
  }
}
