import Glibc
import SystemPackage

extension MessageQueue {
  /// The longest name after the leading `/`, in bytes (`NAME_MAX`).
  public static let maxNameLength = 255

  /// Checks a queue name the way the kernel will, so that a bad one gets a clear error.
  ///
  /// A name is one `/` followed by 1 to 255 bytes, none of them `/` or NUL.
  public static func validate(name: Name, operation: String = "mq_open") throws(HinixError) {
    func invalid(_ detail: String) -> HinixError {
      HinixError(.invalidName, operation: operation, subject: name.description, detail: detail)
    }
    let bytes = name.bytes
    guard bytes.first == UInt8(ascii: "/") else {
      throw invalid("a queue name must start with \"/\" (try \"/\(name)\")")
    }
    let rest = bytes.dropFirst()
    guard !rest.isEmpty else { throw invalid("a queue name needs at least one character after \"/\"") }
    if rest.contains(0) { throw invalid("a queue name cannot contain a NUL byte") }
    if rest.contains(UInt8(ascii: "/")) {
      throw invalid("a queue name has exactly one \"/\", at the start")
    }
    if rest.count > maxNameLength {
      throw invalid("the name is \(rest.count) bytes after \"/\", above NAME_MAX \(maxNameLength)")
    }
  }

  static func validate(_ capacity: Capacity, name: Name) throws(HinixError) {
    if capacity.maxMessages < 1 || capacity.maxMessageSize < 1 {
      throw HinixError(
        .invalidArgument, operation: "mq_open", subject: name.description,
        detail: "capacity \(capacity) is invalid: both numbers must be at least 1")
    }
    let limits = try Limits.current()
    if capacity.maxMessages > limits.maxMessages {
      throw HinixError(
        .limitExceeded, operation: "mq_open", subject: name.description,
        detail: "max messages \(capacity.maxMessages) is above the system limit \(limits.maxMessages) "
          + "(\(Limits.folder)/msg_max)")
    }
    if capacity.maxMessageSize > limits.maxMessageSize {
      throw HinixError(
        .limitExceeded, operation: "mq_open", subject: name.description,
        detail: "max message size \(capacity.maxMessageSize) bytes is above the system limit "
          + "\(limits.maxMessageSize) (\(Limits.folder)/msgsize_max)")
    }
  }

  static func openError(_ error: Errno, name: Name, flags: Int32, capacity: Capacity?) -> HinixError {
    func failure(_ code: HinixError.Code, _ detail: String) -> HinixError {
      HinixError(code, operation: "mq_open", subject: name.description, errno: error, detail: detail)
    }
    let limit = { (file: String) -> String in
      let value = (try? Limits.read(file)).map(String.init) ?? "unknown"
      return "\(value) (\(Limits.folder)/\(file))"
    }
    switch error {
    case .permissionDenied:
      let wanted =
        switch flags & O_ACCMODE {
        case O_RDONLY: "reading"
        case O_WRONLY: "writing"
        default: "reading and writing"
        }
      return failure(
        .permissionDenied, "permission denied: the queue's mode does not allow \(wanted) by uid \(Sys.userID)"
      )
    case .fileExists:
      return failure(.alreadyExists, "the queue already exists (exclusive create)")
    case .noSuchFileOrDirectory:
      return failure(.notFound, "no such queue")
    case .invalidArgument:
      if let capacity {
        return failure(
          .limitExceeded,
          "capacity \(capacity) refused: the limits are \(limit("msg_max")) messages and "
            + "\(limit("msgsize_max")) bytes")
      }
      return failure(.invalidName, "the kernel refused the name")
    case .fileNameTooLong:
      return failure(.invalidName, "the name is longer than NAME_MAX \(maxNameLength)")
    case .tooManyOpenFiles:
      return failure(
        .limitExceeded,
        "the process reached its descriptor limit (RLIMIT_NOFILE), or the user's message-queue "
          + "memory limit (RLIMIT_MSGQUEUE, `ulimit -q`) cannot hold \(capacity?.description ?? "the queue")")
    case .tooManyOpenFilesInSystem:
      return failure(.limitExceeded, "the system-wide limit on open files (/proc/sys/fs/file-max) is reached")
    case .noSpace:
      return failure(.limitExceeded, "the system holds its maximum of \(limit("queues_max")) queues")
    case .noMemory:
      return failure(.limitExceeded, "the kernel is out of memory for a new queue")
    default:
      return HinixError.system(error, "mq_open", subject: name.description)
    }
  }

  /// The error for a failed send or receive.
  func transferError(_ error: Errno, _ operation: String, priority: UInt32 = 0) -> HinixError {
    HinixError.system(error, operation, subject: subject) { error in
      switch error {
      case .badFileDescriptor:
        (.invalidArgument, "the queue is not open for \(operation.contains("send") ? "writing" : "reading")")
      case .messageTooLong: (.messageTooLarge, "the queue's message size is \(capacity.maxMessageSize) bytes")
      case .invalidArgument: (.invalidArgument, "the kernel refused priority \(priority) or the deadline")
      default: nil
      }
    }
  }
}
