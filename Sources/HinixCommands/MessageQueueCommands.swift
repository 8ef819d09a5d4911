import ArgumentParser
import Glibc
import Hinix
import SystemPackage

/// The options and work of `mqsend` and `hinix mq send`.
public struct SendOptions: ParsableArguments {
  static let abstract = "Send one message to a POSIX message queue."
  static let discussion = """
    Without MSG the message is read from standard input, byte for byte. A missing leading "/" \
    is added to NAME. Exit status: 0 sent, 1 error, 2 usage error, 3 timeout or full queue \
    with --nonblock.
    """

  @Flag(name: [.short, .long], help: "Create the queue if it does not exist.")
  var create = false

  @Option(
    name: [.customShort("n"), .customLong("nmsg")], help: "With --create: the queue's capacity in messages.")
  var maxMessages: Int?

  @Option(
    name: [.customShort("s"), .customLong("maxsz")], help: "With --create: the largest message in bytes.")
  var maxMessageSize: Int?

  @Option(
    name: [.short, .long], parsing: .unconditional,
    help: "The message's priority, 0 to 32767; higher is received first.")
  var priority: UInt32 = 0

  @Option(name: .long, help: "With --create: the queue's permissions in octal.")
  var mode = OctalMode(0o644)

  @Flag(name: .long, help: "Do not wait for room: a full queue exits with status 3.")
  var nonblock = false

  @Option(
    name: .long, parsing: .unconditional,
    help: "Wait at most this many seconds for room; then exit with status 3.")
  var timeout: Seconds?

  @Argument(help: "The queue's name, such as /jobs.")
  var name: String

  @Argument(help: "The message; standard input when omitted.")
  var message: String?

  /// Creates the command with its defaults (ArgumentParser fills in the options).
  public init() {}

  /// Checks the options that ArgumentParser cannot check alone.
  public mutating func validate() throws {
    if priority >= MessageQueue.priorityLimit {
      throw ValidationError("priority \(priority) is out of range 0..<\(MessageQueue.priorityLimit)")
    }
    if !create && (maxMessages != nil || maxMessageSize != nil) {
      throw ValidationError("--nmsg and --maxsz apply only with --create")
    }
    if let maxMessages, maxMessages < 1 {
      throw ValidationError("--nmsg must be at least 1, not \(maxMessages)")
    }
    if let maxMessageSize, maxMessageSize < 1 {
      throw ValidationError("--maxsz must be at least 1, not \(maxMessageSize)")
    }
    if nonblock && timeout != nil { throw ValidationError("--nonblock and --timeout exclude each other") }
  }

  /// Sends the message.
  func run() throws {
    let name = queueName(self.name)
    let queue: MessageQueue
    if create {
      queue = try MessageQueue(
        creating: name, access: .writeOnly, permissions: FilePermissions(rawValue: CModeT(mode.value)),
        capacity: .init(maxMessages: maxMessages ?? 4, maxMessageSize: maxMessageSize ?? 512))
    } else {
      queue = try openQueue(name, .writeOnly, advice: "add -c to create it")
    }
    let bytes = try message.map { Tool.bytes(of: $0) } ?? readStandardInput()
    if nonblock {
      guard try queue.trySend(bytes, priority: priority).isCompleted else {
        throw ToolError.timedOut("mq_send(\"\(name)\"): the queue is full (--nonblock)")
      }
    } else if let timeout {
      guard try queue.blockingSend(bytes, priority: priority, timeout: timeout.duration).isCompleted else {
        throw ToolError.timedOut("mq_send(\"\(name)\"): the queue stayed full for the --timeout")
      }
    } else {
      try queue.blockingSend(bytes, priority: priority)
    }
  }
}

/// The options and work of `mqrecv` and `hinix mq recv`.
public struct ReceiveOptions: ParsableArguments {
  static let abstract = "Receive messages from a POSIX message queue."
  static let discussion = """
    By default receives one message, waiting for it, and prints it as text followed by a \
    newline. The queue is opened read-only. Exit status: 0 received, 1 error, 2 usage error, \
    3 timeout or empty queue with --nonblock.
    """

  @Option(name: [.customShort("n"), .long], parsing: .unconditional, help: "Receive this many messages.")
  var count: Int = 1

  @Flag(name: [.short, .long], help: "Keep receiving until interrupted.")
  var follow = false

  @Option(
    name: .long, parsing: .unconditional,
    help: "Wait at most this many seconds for each message; then exit with status 3.")
  var timeout: Seconds?

  @Flag(name: .long, help: "Do not wait: an empty queue exits with status 3.")
  var nonblock = false

  @Flag(name: .long, help: "Prefix each message with its priority and a tab.")
  var showPriority = false

  @Flag(name: .long, help: "Write the message bytes unchanged, with no newline.")
  var raw = false

  @Flag(name: .long, help: "Remove the queue's name after receiving (not when nothing was received).")
  var unlink = false

  @Argument(help: "The queue's name, such as /jobs.")
  var name: String

  /// Creates the command with its defaults (ArgumentParser fills in the options).
  public init() {}

  /// Checks the options that ArgumentParser cannot check alone.
  public mutating func validate() throws {
    if count < 1 { throw ValidationError("--count must be at least 1, not \(count)") }
    if nonblock && timeout != nil { throw ValidationError("--nonblock and --timeout exclude each other") }
  }

  /// Receives and prints the messages.
  func run() throws {
    let name = queueName(self.name)
    let queue = try openQueue(name, .readOnly, advice: "nothing has created it (mqsend -c does)")
    var received = 0
    // Only once something was received: a timeout, an empty queue or an error leaves the queue.
    defer {
      if unlink && received > 0 { try? MessageQueue.unlink(name) }
    }
    let buffer = UnsafeMutableRawBufferPointer.allocate(
      byteCount: queue.capacity.maxMessageSize, alignment: 8)
    defer { buffer.deallocate() }
    while follow || received < count {
      let message: MessageQueue.Received
      if nonblock {
        guard let next = try queue.tryReceive(into: buffer).value else {
          throw ToolError.timedOut("mq_receive(\"\(name)\"): the queue is empty (--nonblock)")
        }
        message = next
      } else if let timeout {
        guard let next = try queue.blockingReceive(into: buffer, timeout: timeout.duration).value else {
          throw ToolError.timedOut("mq_receive(\"\(name)\"): no message within the --timeout")
        }
        message = next
      } else {
        message = try queue.blockingReceive(into: buffer)
      }
      received += 1
      if showPriority { try writeOut("\(message.priority)\t") }
      let bytes = UnsafeRawBufferPointer(rebasing: buffer[..<message.count])
      if raw {
        try writeOut(bytes)
      } else {
        try writeOut(String(decoding: bytes, as: UTF8.self) + "\n")
      }
    }
  }
}

/// `mqsend`: the stand-alone message sender.
public struct MQSend: ParsableCommand {
  /// The command's name and help.
  public static let configuration = CommandConfiguration(
    commandName: "mqsend", abstract: SendOptions.abstract, discussion: SendOptions.discussion)
  @OptionGroup var options: SendOptions
  /// Creates the command (ArgumentParser fills in the options).
  public init() {}
  /// Sends the message.
  public func run() throws { try options.run() }
}

/// `mqrecv`: the stand-alone message receiver.
public struct MQRecv: ParsableCommand {
  /// The command's name and help.
  public static let configuration = CommandConfiguration(
    commandName: "mqrecv", abstract: ReceiveOptions.abstract, discussion: ReceiveOptions.discussion)
  @OptionGroup var options: ReceiveOptions
  /// Creates the command (ArgumentParser fills in the options).
  public init() {}
  /// Receives and prints the messages.
  public func run() throws { try options.run() }
}
