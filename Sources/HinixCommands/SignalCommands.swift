import ArgumentParser
import Glibc
import Hinix

/// A signal as the tools take it: `TERM`, `SIGTERM`, `term`, `15`, `RTMIN+3`.
extension Signal: ExpressibleByArgument {
  /// Parses a signal name or number.
  public init?(argument: String) {
    self.init(parsing: argument)
  }
}

/// `hinix signal`: send, watch and list signals.
struct SignalCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "signal", abstract: "Send, watch and list signals.",
    subcommands: [Send.self, Watch.self, List.self])

  struct Send: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Send a signal to processes, as kill does; with -q, queue it with a value (sigqueue).",
      discussion: """
        A PID above 0 is a process, -1 every process this one may signal, and -N the process \
        group N (as with kill). Each target is tried; the exit status is 1 if any failed.
        """)

    @Option(
      name: [.customShort("q"), .customLong("queue")], parsing: .unconditional,
      help: "Queue the signal with this value.")
    var value: Int?

    @Argument(help: "The signal: a name (TERM, SIGTERM, RTMIN+3) or a number.")
    var signal: Signal

    @Argument(
      parsing: .allUnrecognized, help: "The processes: PID, -1 for all, or -PGID for a process group.")
    var arguments: [String] = []

    /// The targets, after an optional `--` (as kill takes it before negative ones).
    var targets: [Int32] {
      (arguments.first == "--" ? arguments.dropFirst() : arguments[...]).compactMap { Int32($0) }
    }

    func validate() throws {
      let given = arguments.first == "--" ? Array(arguments.dropFirst()) : arguments
      if let bad = given.first(where: { Int32($0) == nil || Int32($0) == Int32.min || Int32($0) == 0 }) {
        throw ValidationError("'\(bad)' is not a PID, -1 or -PGID (from -1 to -2147483647)")
      }
      if targets.isEmpty { throw ValidationError("name at least one PID") }
      if value != nil, targets.contains(where: { $0 <= 0 }) {
        throw ValidationError("-q queues to one process at a time: give PIDs above 0")
      }
    }

    func run() throws {
      var failed = false
      for target in targets {
        do {
          if let value {
            try signal.send(to: target, value: value)
          } else if target > 0 {
            try signal.send(to: target)
          } else if target == -1 {
            try signal.sendToAll()
          } else {
            try signal.send(toGroup: -target)
          }
        } catch {
          Tool.report(error.description)
          failed = true
        }
      }
      if failed { throw ExitCode(ToolStatus.failure.rawValue) }
    }
  }

  struct Watch: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Print each delivery of the signals, one line each, until interrupted.",
      discussion: """
        Each line names the signal, the sender's pid and uid, why it was sent (user, queue, \
        kernel, tkill…) and the value a sigqueue carried. The signals are blocked and read \
        from a signalfd, so none is acted on while it is watched: watch INT and end the \
        watch with another signal, or use --count.
        """)

    @Option(
      name: [.short, .customLong("count")], parsing: .unconditional, help: "Exit after this many deliveries.")
    var count: Int?

    @Argument(help: "The signals to watch: names (INT, USR1, RTMIN+3) or numbers.")
    var signals: [Signal] = []

    func validate() throws {
      if signals.isEmpty { throw ValidationError("name at least one signal") }
      if let bad = signals.first(where: { !$0.isCatchable }) {
        throw ValidationError("\(bad) cannot be caught, blocked or ignored")
      }
      if let count, count < 1 { throw ValidationError("--count must be at least 1") }
    }

    func run() throws {
      // This thread is the only one: blocking the signals here makes the signalfd their one
      // receiver.
      let set = SignalSet(signals)
      try ThreadSignalMask.block(set)
      let reader = try SignalFD(set)
      // As hinix watch (and inotifywait) say when they are ready: a script that starts the
      // watch in the background sends its signals after this line, not before.
      Tool.report("Watching \(signals.map(\.description).joined(separator: ", ")).", prefix: false)
      var seen = 0
      while count.map({ seen < $0 }) ?? true {
        try writeOut("\(try reader.blockingRead())\n")
        seen += 1
      }
    }
  }

  struct List: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "List the signals by number and name, as kill -L does.")

    func run() throws {
      var text = ""
      for number in Int32(1)...Int32(64) {
        guard let signal = Signal(rawValue: number), signal.name != "\(number)" else { continue }
        text += "\(number)\t\(signal.name)\n"
      }
      try writeOut(text)
    }
  }
}

/// `hinix process`: processes held by pidfds.
struct ProcessCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "process", abstract: "Wait for processes through pidfds.",
    subcommands: [Wait.self])

  struct Wait: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Wait until every process ends, as pidwait does, through pidfds.",
      discussion: """
        Each PID is opened as a pidfd first, so a PID reused meanwhile is never waited for by \
        mistake. Exit status: 0 when all ended, 1 when a PID names no process, 3 on --timeout.
        """)

    @Option(
      name: [.short, .customLong("timeout")], parsing: .unconditional,
      help: "Give up after this many seconds (exit status 3).")
    var timeout: Seconds?

    @Flag(name: [.short, .long], help: "Print each PID as its process ends.")
    var verbose = false

    @Argument(help: "The processes' ids.")
    var pids: [Int32] = []

    func validate() throws {
      if pids.isEmpty { throw ValidationError("name at least one PID") }
      if let bad = pids.first(where: { $0 <= 0 }) {
        throw ValidationError("\(bad) is not a PID: a PID is above 0")
      }
    }

    func run() throws {
      let processes = try pids.map { pid throws(HinixError) in try ProcessDescriptor(opening: pid) }
      let deadline = timeout.map { ContinuousClock.now + $0.duration }
      var running = processes
      while !running.isEmpty {
        // Every pidfd at once: the first to end is reported first.
        let left = deadline.map { max(ContinuousClock.now.duration(to: $0), .zero) }
        let ended = try Sys.pollReadable(running.map(\.descriptor.rawValue), timeout: left)
        if ended.isEmpty { throw ToolError.timedOut("timed out with \(running.count) process(es) running") }
        for index in ended.sorted(by: >) {
          if verbose { try writeOut("\(running[index].pid) ended\n") }
          running.remove(at: index)
        }
      }
    }
  }
}
