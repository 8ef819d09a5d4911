import Glibc
import SystemPackage

/// A POSIX message queue: a named, kernel-held list of prioritised messages that any process on the
/// host may open by name.
///
/// A `MessageQueue` owns its descriptor and closes it when the last reference goes. It is
/// `Sendable`: one task may send while another receives on the same queue. Every operation comes in
/// the forms a caller needs:
/// - blocking (`blockingSend`, `blockingReceive`), which waits in the kernel;
/// - try (`trySend`, `tryReceive`), which never blocks and returns ``Outcome/wouldBlock`` when it
///   would have to;
/// - timed (`timeout:` or `deadline:`), which returns ``Outcome/timedOut`` when the deadline passes;
/// - async, which suspends the task without blocking a thread and honours cancellation.
///
/// The queue's descriptor is pollable (`.readable` when a message waits, `.writable` when there is
/// room) and registers with ``Reactor`` like any other descriptor.
public final class MessageQueue: Sendable {
  /// Which directions a queue is opened for.
  public enum Access: Sendable, Hashable {
    /// Receive only (`O_RDONLY`).
    case readOnly
    /// Send only (`O_WRONLY`).
    case writeOnly
    /// Send and receive (`O_RDWR`).
    case readWrite

    var flags: Int32 {
      switch self {
      case .readOnly: O_RDONLY
      case .writeOnly: O_WRONLY
      case .readWrite: O_RDWR
      }
    }
  }

  /// A received message: its bytes and its priority.
  public struct Message: Sendable, Hashable {
    /// The message's bytes, exactly as sent.
    public var bytes: [UInt8]
    /// The priority it was sent with; higher priorities are received first.
    public var priority: UInt32

    /// Creates a message value.
    public init(bytes: [UInt8], priority: UInt32) {
      self.bytes = bytes
      self.priority = priority
    }
  }

  /// The result of receiving into a caller's buffer: how many bytes arrived and their priority.
  public struct Received: Sendable, Hashable {
    /// The number of bytes written at the start of the buffer.
    public var count: Int
    /// The priority the message was sent with.
    public var priority: UInt32
  }

  /// A queue's attributes, as the kernel reports them now.
  public struct Attributes: Sendable, Hashable {
    /// The queue's capacity, fixed when it was created.
    public var capacity: Capacity
    /// The number of messages in the queue now.
    public var currentMessages: Int
    /// Whether this open description is non-blocking.
    public var isNonBlocking: Bool
  }

  /// Priorities run from 0 up to, but not including, this value (`MQ_PRIO_MAX`, 32768 on Linux).
  public static let priorityLimit: UInt32 = 32768

  /// The name the queue was opened by, or `nil` for an adopted descriptor.
  public let name: Name?
  /// The capacity the kernel reports for the queue (read back: `mq_open` ignores the requested
  /// capacity when the queue already exists).
  public let capacity: Capacity
  private let handle: OwnedDescriptor

  /// This object's history of waits, which ``WaitStrategy/adaptive`` spins by.
  public let waitHistory = WaitHistory()

  /// What sends and receives do while the queue is full or empty (``WaitStrategy/adaptive``
  /// unless changed; it spins in the async forms only, as ``waitHistory`` says): a spinning
  /// strategy retries the non-blocking call before the blocking,
  /// timed or async form parks. Any task may change it at any time.
  public var waitStrategy: WaitStrategy {
    get { handle.waitStrategy }
    set { handle.waitStrategy = newValue }
  }

  /// The queue's descriptor, still owned by the queue.
  public var descriptor: FileDescriptor { handle.descriptor }

  var subject: String { name?.description ?? "descriptor \(handle.descriptor.rawValue)" }

  // MARK: Opening

  /// Opens an existing queue.
  ///
  /// - Parameters:
  ///   - name: the queue's name: one leading `/`, no other `/`, at most 255 bytes after it.
  ///   - access: the directions to open it for.
  ///   - nonBlocking: whether the description is non-blocking (then `blockingSend` and
  ///     `blockingReceive` wait in `poll` instead of in the message-queue call).
  /// - Throws: `.invalidName`, `.notFound`, `.permissionDenied`, `.limitExceeded`.
  /// The corresponding C function is `mq_open`.
  public convenience init(
    opening name: Name, access: Access = .readWrite, nonBlocking: Bool = false
  ) throws(HinixError) {
    try self.init(name: name, flags: access.flags, nonBlocking: nonBlocking, create: nil)
  }

  /// Creates a queue, or opens it if it exists and `exclusive` is `false`.
  ///
  /// - Parameters:
  ///   - name: the queue's name: one leading `/`, no other `/`, at most 255 bytes after it.
  ///   - access: the directions to open it for.
  ///   - permissions: the new queue's mode, filtered by the process's umask as `open` does.
  ///   - capacity: the new queue's capacity, at most ``Limits`` allow; `nil` for the system's
  ///     default. An existing queue keeps its own: read ``capacity`` for the real one.
  ///   - exclusive: fail with `.alreadyExists` when the queue exists (`O_EXCL`).
  ///   - nonBlocking: whether the description is non-blocking.
  /// The corresponding C function is `mq_open` with `O_CREAT`.
  public convenience init(
    creating name: Name, access: Access = .readWrite,
    permissions: FilePermissions = [.ownerReadWrite], capacity: Capacity? = nil,
    exclusive: Bool = false, nonBlocking: Bool = false
  ) throws(HinixError) {
    let flags = access.flags | O_CREAT | (exclusive ? O_EXCL : 0)
    try self.init(
      name: name, flags: flags, nonBlocking: nonBlocking,
      create: (permissions, capacity))
  }

  /// Takes ownership of a message-queue descriptor, for example one inherited from a parent.
  ///
  /// The descriptor is closed when the queue goes, or at once if it is not a message queue.
  /// The corresponding C function is `mq_getattr`.
  public init(adopting descriptor: FileDescriptor, name: Name? = nil) throws(HinixError) {
    let handle = OwnedDescriptor(adopting: descriptor)
    switch Sys.mqGetAttributes(descriptor.rawValue) {
    case .success(let attributes):
      self.capacity = Capacity(
        maxMessages: attributes.maxmsg, maxMessageSize: attributes.msgsize)
    case .failure(let error):
      throw HinixError(
        .invalidArgument, operation: "mq_getattr",
        subject: name?.description ?? "descriptor \(descriptor.rawValue)",
        errno: error, detail: "not a message-queue descriptor (\(error))")
    }
    self.name = name
    self.handle = handle
  }

  private init(
    name: Name, flags: Int32, nonBlocking: Bool,
    create: (permissions: FilePermissions, capacity: Capacity?)?
  ) throws(HinixError) {
    try MessageQueue.validate(name: name, operation: "mq_open")
    var attributes: Sys.QueueAttributes?
    if let capacity = create?.capacity {
      try MessageQueue.validate(capacity, name: name)
      attributes = Sys.QueueAttributes(
        flags: 0, maxmsg: capacity.maxMessages, msgsize: capacity.maxMessageSize, curmsgs: 0)
    }
    let allFlags = flags | O_CLOEXEC | (nonBlocking ? O_NONBLOCK : 0)
    let mode = create?.permissions.rawValue ?? 0
    let opened = name.withCString { Sys.mqOpen($0, allFlags, mode, attributes) }
    let fd: Int32
    switch opened {
    case .success(let value): fd = value
    case .failure(let error):
      throw MessageQueue.openError(error, name: name, flags: flags, capacity: create?.capacity)
    }
    let handle = OwnedDescriptor(adopting: FileDescriptor(rawValue: fd))
    switch Sys.mqGetAttributes(fd) {
    case .success(let attributes):
      self.capacity = Capacity(maxMessages: attributes.maxmsg, maxMessageSize: attributes.msgsize)
    case .failure(let error):
      throw HinixError.system(error, "mq_getattr", subject: name.description)
    }
    self.name = name
    self.handle = handle
  }

  /// Removes the queue's name; the queue itself lives on until every descriptor to it is closed.
  ///
  /// The corresponding C function is `mq_unlink`.
  public static func unlink(_ name: Name) throws(HinixError) {
    try validate(name: name, operation: "mq_unlink")
    if case .failure(let error) = name.withCString({ Sys.mqUnlink($0) }) {
      throw HinixError.system(error, "mq_unlink", subject: name.description) { error in
        switch error {
        case .noSuchFileOrDirectory: (.notFound, "no such queue")
        case .permissionDenied:
          (
            .permissionDenied,
            "permission denied: removing a queue needs write permission on the mqueue folder"
          )
        default: nil
        }
      }
    }
  }

  // MARK: Attributes

  /// Reads the queue's attributes from the kernel now.
  ///
  /// The corresponding C function is `mq_getattr`.
  public func attributes() throws(HinixError) -> Attributes {
    switch Sys.mqGetAttributes(descriptor.rawValue) {
    case .success(let value):
      return Attributes(
        capacity: Capacity(maxMessages: value.maxmsg, maxMessageSize: value.msgsize),
        currentMessages: value.curmsgs, isNonBlocking: value.flags & Int(O_NONBLOCK) != 0)
    case .failure(let error):
      throw HinixError.system(error, "mq_getattr", subject: subject)
    }
  }

  /// The number of messages waiting in the queue now.
  public var messageCount: Int {
    get throws(HinixError) { try attributes().currentMessages }
  }

  /// Turns non-blocking mode on or off for this open description.
  ///
  /// The forms of every operation keep their meaning either way: the blocking forms wait in
  /// `poll` when the description is non-blocking. The corresponding C function is `mq_setattr`.
  public func setNonBlocking(_ nonBlocking: Bool) throws(HinixError) {
    if case .failure(let error) = Sys.mqSetFlags(descriptor.rawValue, nonBlocking ? Int(O_NONBLOCK) : 0) {
      throw HinixError.system(error, "mq_setattr", subject: subject)
    }
  }

  /// Removes this queue's name (see the static `unlink(_:)`).
  public func unlink() throws(HinixError) {
    guard let name else {
      throw HinixError(
        .invalidArgument, operation: "mq_unlink", subject: subject,
        detail: "the queue was adopted without a name")
    }
    try MessageQueue.unlink(name)
  }
}
