import SystemPackage

/// The error every Hinix operation throws (besides `CancellationError` from async waits).
///
/// Its ``description`` is one line that names the operation, the queue name or path it acted on, and
/// the limit or value that failed, for example:
/// `mq_open("/jobs"): max messages 50 is above the system limit 10 (/proc/sys/fs/mqueue/msg_max)`.
public struct HinixError: Error, Sendable, Equatable, CustomStringConvertible {
  /// What went wrong, for code that reacts to a kind of failure.
  public enum Code: Sendable, Equatable {
    /// A name given to Hinix is malformed (checked before the kernel sees it).
    case invalidName
    /// An argument is out of range (a priority, a capacity, a counter value, a buffer size).
    case invalidArgument
    /// A message is larger than the queue's message size, or a buffer smaller than it.
    case messageTooLarge
    /// A request exceeds a system-wide or per-user limit.
    case limitExceeded
    /// The caller lacks the permission the object's mode requires.
    case permissionDenied
    /// The named object does not exist.
    case notFound
    /// The named object exists and exclusive creation was asked for.
    case alreadyExists
    /// The operation could not complete without blocking and the descriptor is non-blocking.
    case wouldBlock
    /// A write found the reading end of its pipe or socket closed (`EPIPE`).
    case brokenPipe
    /// A timed operation reached its deadline.
    case timedOut
    /// A message was larger than the buffer given to receive it; the kernel discarded the rest.
    case messageTruncated
    /// A datagram or packet went out shorter than the bytes given (never split in two).
    case shortWrite
    /// Nobody listens at the address, or the listener's backlog refused the connection.
    case connectionRefused
    /// The peer closed or reset the connection while data was in flight (`ECONNRESET`).
    case connectionReset
    /// The socket is not connected (`ENOTCONN`), or the other side shut its direction down.
    case notConnected
    /// The reactor was shut down while the operation waited.
    case reactorShutDown
    /// Data shared with another process failed validation: a ring's header, a position or a
    /// message length that no honest peer writes. Hinix stops using that object.
    case corrupt
    /// The other side of a shared-memory ring closed it, exited or was killed.
    case peerGone
    /// A shared object was made for something else: another element size, version or layout,
    /// a file too small, or seals missing.
    case incompatible
    /// Any other failure of a system call; ``HinixError/errno`` says which.
    case system
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
    _ code: Code, operation: String, subject: String? = nil, errno: Errno? = nil, detail: String
  ) {
    self.code = code
    self.operation = operation
    self.subject = subject
    self.errno = errno
    self.detail = detail
  }

  /// One line: `operation("subject"): detail`.
  public var description: String {
    let target = subject.map { "(\"\($0)\")" } ?? ""
    return "\(operation)\(target): \(detail)"
  }
}

extension HinixError {
  /// Maps an errno with no more specific meaning to an error that names the call and subject.
  static func system(_ errno: Errno, _ operation: String, subject: String? = nil) -> HinixError {
    let code: Code
    switch errno {
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
      code, operation: operation, subject: subject, errno: errno,
      detail: "\(errno) (errno \(errno.rawValue))")
  }
}
