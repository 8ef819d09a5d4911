import SystemPackage

extension MessageQueue {
  /// How many messages a queue holds and how large each may be.
  public struct Capacity: Sendable, Hashable, CustomStringConvertible {
    /// The most messages the queue holds before a send blocks (`mq_maxmsg`).
    public var maxMessages: Int
    /// The largest message, in bytes (`mq_msgsize`).
    public var maxMessageSize: Int

    /// Creates a capacity; `MessageQueue.init(creating:access:permissions:capacity:exclusive:nonBlocking:)`
    /// checks it against ``MessageQueue/Limits``.
    public init(maxMessages: Int, maxMessageSize: Int) {
      self.maxMessages = maxMessages
      self.maxMessageSize = maxMessageSize
    }

    /// "N messages of M bytes".
    public var description: String { "\(maxMessages) messages of \(maxMessageSize) bytes" }
  }

  /// The system's message-queue limits, read from `/proc/sys/fs/mqueue`.
  ///
  /// Without `CAP_SYS_RESOURCE` a queue cannot be created above `msg_max` messages or
  /// `msgsize_max` bytes per message, and at most `queues_max` queues exist at once.
  public struct Limits: Sendable, Hashable {
    /// The folder the limits are read from.
    public static let folder = "/proc/sys/fs/mqueue"
    /// The most messages a queue may be created with (`msg_max`).
    public var maxMessages: Int
    /// The largest message size a queue may be created with (`msgsize_max`).
    public var maxMessageSize: Int
    /// The most queues the system holds at once (`queues_max`).
    public var maxQueues: Int
    /// The capacity of a queue created without one (`msg_default`, `msgsize_default`).
    public var defaultCapacity: Capacity

    /// Reads the limits in force now.
    public static func current() throws(HinixError) -> Limits {
      Limits(
        maxMessages: try read("msg_max"), maxMessageSize: try read("msgsize_max"),
        maxQueues: try read("queues_max"),
        defaultCapacity: Capacity(
          maxMessages: try read("msg_default"), maxMessageSize: try read("msgsize_default")))
    }

    static func read(_ file: String) throws(HinixError) -> Int {
      let path = "\(folder)/\(file)"
      let text = try readProcFile(FilePath(path))
      guard let value = Int(text.trimmingWhitespace()) else {
        throw HinixError(
          .system, operation: "read", subject: path, detail: "expected a number, found \"\(text)\"")
      }
      return value
    }
  }
}
