import ArgumentParser
import Glibc
import Hinix
import SystemPackage

/// `hinix`: the one tool with a subcommand for each mechanism.
public struct HinixCommand: ParsableCommand {
  /// The command's name, help and subcommands.
  public static let configuration = CommandConfiguration(
    commandName: "hinix",
    abstract: "High-level *nix interprocess communication: tools and benchmarks.",
    subcommands: [
      MQ.self, SignalCommand.self, ProcessCommand.self, WatchCommand.self, SerialCommand.self,
      PtyCommand.self, InstallCompletions.self,
      Bench.self, BenchPeer.self,
    ])

  /// Creates the command.
  public init() {}
}

/// `hinix mq`: POSIX message queues.
struct MQ: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "mq", abstract: "Create, use, inspect and remove POSIX message queues.",
    subcommands: [Create.self, Send.self, Recv.self, Stat.self, Remove.self, List.self])

  struct Create: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Create a queue (or check that it exists).",
      discussion: "Prints the capacity the kernel reports, which for an existing queue is its own.")

    @Option(
      name: [.customShort("n"), .customLong("nmsg")], parsing: .unconditional,
      help: "The capacity in messages.")
    var maxMessages: Int = 4

    @Option(
      name: [.customShort("s"), .customLong("maxsz")], parsing: .unconditional,
      help: "The largest message in bytes.")
    var maxMessageSize: Int = 512

    @Option(name: .long, help: "The permissions in octal.")
    var mode = OctalMode(0o644)

    @Flag(name: [.short, .long], help: "Fail if the queue exists.")
    var exclusive = false

    @Argument(help: "The queue's name.")
    var name: String

    func run() throws {
      let name = queueName(self.name)
      let queue = try MessageQueue(
        creating: name, access: .readOnly,
        permissions: FilePermissions(rawValue: CModeT(mode.value)),
        capacity: .init(maxMessages: maxMessages, maxMessageSize: maxMessageSize), exclusive: exclusive)
      try writeOut("\(name): \(queue.capacity)\n")
    }
  }

  struct Send: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: SendOptions.abstract, discussion: SendOptions.discussion)
    @OptionGroup var options: SendOptions
    func run() throws { try options.run() }
  }

  struct Recv: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: ReceiveOptions.abstract, discussion: ReceiveOptions.discussion)
    @OptionGroup var options: ReceiveOptions
    func run() throws { try options.run() }
  }

  struct Stat: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show a queue's attributes, owner and mode.")

    @Argument(help: "The queue's name.")
    var name: String

    func run() throws {
      let name = queueName(self.name)
      let queue = try openQueue(name, .readOnly, advice: "hinix mq create makes one")
      let attributes = try queue.attributes()
      let info: Sys.FileStatus
      switch Sys.status(queue.descriptor.rawValue) {
      case .success(let status): info = status
      case .failure(let error):
        throw HinixError(.system, operation: "fstat", subject: name.description, detail: "\(error)")
      }
      try writeOut(
        """
        name: \(name)
        max messages: \(attributes.capacity.maxMessages)
        max message size: \(attributes.capacity.maxMessageSize)
        messages: \(attributes.currentMessages)
        mode: \(String(info.permissions, radix: 8))
        uid: \(info.userID)
        gid: \(info.groupID)

        """)
    }
  }

  struct Remove: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "rm", abstract: "Remove queues by name.")

    @Argument(help: "The queues' names.")
    var names: [String]

    func validate() throws {
      if names.isEmpty { throw ValidationError("name at least one queue") }
    }

    func run() throws {
      for name in names {
        try MessageQueue.unlink(queueName(name))
      }
    }
  }

  struct List: ParsableCommand {
    static let configuration = CommandConfiguration(
      commandName: "ls",
      abstract: "List the queues in the mqueue filesystem.",
      discussion: "Needs the mqueue filesystem mounted (usually at /dev/mqueue); says how to mount it if not."
    )

    func run() throws {
      guard let folder = mqueueMountPoint() else {
        throw ToolError(
          status: .failure,
          description: "the mqueue filesystem is not mounted; mount it with: "
            + "mkdir -p /dev/mqueue && mount -t mqueue none /dev/mqueue")
      }
      let names: [String]
      switch Sys.directoryEntries(FilePath(folder)) {
      case .success(let entries): names = entries.map(\.string)
      case .failure(let error):
        throw HinixError(.system, operation: "opendir", subject: folder, detail: "\(error)")
      }
      for name in names.sorted() {
        let line: String
        if let queue = try? MessageQueue(opening: "/" + name, access: .readOnly),
          let attributes = try? queue.attributes()
        {
          line =
            "/\(name)\t\(attributes.currentMessages)/\(attributes.capacity.maxMessages) messages"
            + " of \(attributes.capacity.maxMessageSize) bytes"
        } else {
          line = "/\(name)"
        }
        try writeOut(line + "\n")
      }
    }

    /// Where the mqueue filesystem is mounted, from /proc/self/mounts.
    func mqueueMountPoint() -> String? {
      guard let mounts = try? readProcFile("/proc/self/mounts") else { return nil }
      for line in mounts.split(separator: "\n") {
        let fields = line.split(separator: " ")
        if fields.count > 2 && fields[2] == "mqueue" { return String(fields[1]) }
      }
      return nil
    }
  }
}
