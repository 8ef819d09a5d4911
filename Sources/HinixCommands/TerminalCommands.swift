import ArgumentParser
import Glibc
import Hinix
import Synchronization
import SystemPackage

/// `hinix serial`: list serial ports, and talk to one.
struct SerialCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "serial", abstract: "List serial ports, or talk to one as a small terminal.",
    subcommands: [List.self, Open.self])

  struct List: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "List the serial ports, one per line: path, driver, hardware id, description.",
      discussion: """
        The ports are the entries of /sys/class/tty backed by a device (virtual consoles and \
        pseudo-terminals are not listed; neither are legacy 8250 ports without a UART). The \
        columns are separated by tabs; the hardware id is USB VID:PID=vvvv:pppp SER=serial \
        LOCATION=interface for USB adapters and ACM modems (as pyserial prints it) and n/a \
        otherwise; the description is the USB manufacturer and product. Exit status 1 when \
        there is no port.
        """)

    @Flag(name: .long, help: "Print one JSON object per port instead.")
    var json = false

    func run() throws {
      let ports = try SerialPort.list()
      var text = ""
      for port in ports {
        let hardware = port.usb.map { usb in
          "USB VID:PID=\(usb.vendorID):\(usb.productID)" + (usb.serialNumber.map { " SER=\($0)" } ?? "")
            + (usb.interface.map { " LOCATION=\($0)" } ?? "")
        }
        let description = [port.usb?.manufacturer, port.usb?.product].compactMap { $0 }.joined(separator: " ")
        if json {
          var fields = [
            "\"path\":\(EventFormat.quoted(port.path.string))", "\"name\":\(EventFormat.quoted(port.name))",
            "\"driver\":\(port.driver.map(EventFormat.quoted) ?? "null")",
            "\"subsystem\":\(port.subsystem.map(EventFormat.quoted) ?? "null")",
          ]
          if let usb = port.usb {
            fields.append("\"vendorID\":\(EventFormat.quoted(usb.vendorID))")
            fields.append("\"productID\":\(EventFormat.quoted(usb.productID))")
            fields.append("\"serialNumber\":\(usb.serialNumber.map(EventFormat.quoted) ?? "null")")
            fields.append("\"manufacturer\":\(usb.manufacturer.map(EventFormat.quoted) ?? "null")")
            fields.append("\"product\":\(usb.product.map(EventFormat.quoted) ?? "null")")
            fields.append("\"interface\":\(usb.interface.map(EventFormat.quoted) ?? "null")")
          }
          text += "{" + fields.joined(separator: ",") + "}\n"
        } else {
          text +=
            [
              port.path.string, port.driver ?? "-", hardware ?? "n/a",
              description.isEmpty ? "n/a" : description,
            ]
            .joined(separator: "\t") + "\n"
        }
      }
      try writeOut(text)
      if ports.isEmpty {
        throw ToolError(status: .failure, description: "no serial ports found in /sys/class/tty")
      }
    }
  }

  struct Open: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Talk to a serial device: a small terminal, or a byte copier in scripts.",
      discussion: """
        On a terminal it behaves as picocom or screen: the device is opened exclusively and \
        raw at the rate and framing given, this terminal is put in raw mode without local \
        echo (every key, ^C included, goes to the device), and Ctrl-] quits; the terminal's \
        settings come back on every way out (Ctrl-], an error, SIGTERM, SIGHUP, the device \
        hanging up). When standard input or output is not a terminal it copies standard \
        input to the device and the device to standard output, so it can be scripted: the \
        end of standard input stops the copy to the device only, and --exit-after ends the \
        tool once the device has been quiet that long. Works on a pseudo-terminal's slave as \
        on hardware. Exit status 0 on Ctrl-], --exit-after or the device's end, 1 on an error.
        """)

    @Option(
      name: [.short, .customLong("baud")], help: "The rate in bits per second (any rate the driver takes).")
    var baud = 9600

    @Option(name: [.short, .customLong("parity")], help: "none, even, odd, mark or space.")
    var parity = TerminalAttributes.Parity.none

    @Option(name: [.short, .customLong("databits")], help: "5, 6, 7 or 8.")
    var dataBits = 8

    @Option(name: [.customShort("s"), .customLong("stopbits")], help: "1 or 2.")
    var stopBits = 1

    @Option(name: [.short, .customLong("flow")], help: "none, hardware (RTS/CTS) or software (XON/XOFF).")
    var flow = TerminalAttributes.FlowControl.none

    @Option(
      name: [.customShort("x"), .customLong("exit-after")],
      help: "Exit once the device is quiet this many seconds.")
    var exitAfter: Seconds?

    @Flag(name: .long, help: "Do not open the device exclusively (TIOCEXCL).")
    var shared = false

    @Argument(help: "The device, such as /dev/ttyUSB0.")
    var device: String

    func validate() throws {
      guard baud > 0, baud <= Int(UInt32.max) else { throw ValidationError("--baud \(baud) is not a rate") }
      guard TerminalAttributes.DataBits(rawValue: dataBits) != nil else {
        throw ValidationError("--databits \(dataBits): give 5, 6, 7 or 8")
      }
      guard TerminalAttributes.StopBits(rawValue: stopBits) != nil else {
        throw ValidationError("--stopbits \(stopBits): give 1 or 2")
      }
    }

    func run() throws {
      let port = try SerialPort.open(
        FilePath(device), baudRate: BaudRate(bitsPerSecond: baud), dataBits: .init(rawValue: dataBits)!,
        parity: parity, stopBits: .init(rawValue: stopBits)!, flowControl: flow, exclusive: !shared)
      let interactive =
        Terminal.isTerminal(FileDescriptor(rawValue: 0)) && Terminal.isTerminal(FileDescriptor(rawValue: 1))
      let quiet = exitAfter?.duration
      let device = self.device
      // Watching starts before raw mode, so a signal at any moment ends the copy the normal
      // way, which puts the terminal back. The copy's watcher ends with the copy (a cancelled
      // iteration cancels it); the holder keeps Hinix's handler installed until after the
      // restore, so no signal in between can end the tool with the terminal raw.
      let signals = try SignalWatcher(Tool.endingSignals)
      let holder = try SignalWatcher(Tool.endingSignals)
      defer { holder.cancel() }
      try runBlocking {
        if interactive {
          let keyboard = try Terminal.standardInput()
          Tool.report(
            "connected to \(device) at \(try port.attributes().baudRate) bps; Ctrl-] quits", prefix: false)
          try await keyboard.withRawMode {
            try await copyBothWays(port, quitKey: 0x1D, quietLimit: quiet, signals: signals)
          }
          Tool.report("disconnected", prefix: false)
        } else {
          try await copyBothWays(port, quitKey: nil, quietLimit: quiet, signals: signals)
        }
      }
    }
  }
}

/// `hinix pty`: run a command in a pseudo-terminal.
struct PtyCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "pty", abstract: "Run a command in a pseudo-terminal.", subcommands: [Run.self])

  struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Run COMMAND in a new pseudo-terminal and copy its output, as script -q does.",
      discussion: """
        The command leads a new session whose controlling terminal is the pseudo-terminal (so \
        it sees a terminal on standard input, output and error, gets SIGINT from ^C and \
        SIGWINCH when the size changes). Standard input is copied to it; the end of standard \
        input does not end the command (as with script). Every byte the command writes is \
        copied to standard output before the tool exits. When standard input is a terminal it \
        is put in raw mode for the run (and restored on every way out), and its window size \
        is the command's and follows it. The exit status is the command's, 128+N when signal \
        N ended it, 127 when it cannot be found, 126 when it cannot be run, 1 on the tool's \
        own errors and 2 on a usage error.
        """)

    @Option(name: .long, help: "The window size as ROWSxCOLUMNS when standard input is not a terminal.")
    var size: String = "24x80"

    @Argument(parsing: .captureForPassthrough, help: "The command and its arguments (after --).")
    var command: [String] = []

    func validate() throws {
      if command.drop(while: { $0 == "--" }).isEmpty {
        throw ValidationError("name a command to run after --")
      }
      if parsedSize == nil { throw ValidationError("--size \(size): give ROWSxCOLUMNS, such as 24x80") }
    }

    var parsedSize: WindowSize? {
      let parts = size.split(separator: "x")
      guard parts.count == 2, let rows = UInt16(parts[0]), let columns = UInt16(parts[1]) else { return nil }
      return WindowSize(rows: rows, columns: columns)
    }

    func run() throws {
      var arguments = Array(command.first == "--" ? command.dropFirst() : command[...])
      let name = arguments.removeFirst()
      guard let executable = findExecutable(name) else {
        Tool.report("\(name): command not found")
        throw ExitCode(127)
      }
      let keyboard = try? Terminal.standardInput()
      let size = try keyboard?.windowSize() ?? parsedSize!
      let session: PseudoTerminal.Session
      do {
        session = try PseudoTerminal.spawn(executable, arguments: arguments, size: size)
      } catch {
        Tool.report(error.description)
        // As shells do: 127 when the program is not there, 126 when it cannot run; 1 when the
        // pseudo-terminal itself could not be made.
        switch error.operation {
        case "spawn": throw ExitCode(error.code == .notFound ? 127 : 126)
        default: throw ExitCode(ToolStatus.failure.rawValue)
        }
      }
      // Watching starts before raw mode, so a signal at any moment finds the tool ready to
      // pass it on and to put the terminal back; the holder keeps Hinix's handler installed
      // until after the restore (see `serial open`).
      let signals = try SignalWatcher(Tool.endingSignals)
      let holder = try SignalWatcher(Tool.endingSignals)
      defer { holder.cancel() }
      let ended = try runBlocking { () async throws -> ChildProcess.Termination in
        if let keyboard {
          return try await keyboard.withRawMode {
            try await relay(session, keyboard: keyboard, signals: signals)
          }
        }
        return try await relay(session, keyboard: nil, signals: signals)
      }
      signals.cancel()
      switch ended {
      case .exited(let status): throw ExitCode(status)
      case .signalled(let signal): throw ExitCode(128 + signal)
      }
    }
  }
}

/// Runs the session: standard input copied to the master (its end stops that copy only), the
/// master copied to standard output, the keyboard's window size followed, and the signals that
/// would end the tool passed on to the command (whose process group is its pid). Returns when
/// the command has ended and its output is copied: to the end of the master, or, when a
/// process it left behind still holds the terminal, until the output has been quiet for 200 ms.
private func relay(_ session: PseudoTerminal.Session, keyboard: Terminal?, signals: SignalWatcher)
  async throws
  -> ChildProcess.Termination
{
  let output = try PipeWriter.standardOutput()
  let input = try PipeReader.standardInput()
  let progress = OutputProgress()
  let group = session.child.pid
  return try await withThrowingTaskGroup(of: Void.self) { tasks in
    tasks.addTask {
      try await withBuffer(4096) { buffer in
        while true {
          let count = try await input.read(into: buffer)
          if count == 0 { return }
          try await session.master.write(UnsafeRawBufferPointer(rebasing: buffer[..<count]))
        }
      }
    }
    if let keyboard {
      let changes = try keyboard.sizeChanges()
      tasks.addTask {
        for try await size in changes { try session.master.setWindowSize(size) }
      }
    }
    tasks.addTask {
      for await delivery in signals { try? delivery.signal.send(toGroup: group) }
    }
    tasks.addTask {
      do {
        try await copyOutput(session.master, output, progress: progress, hangUp: group)
      } catch is CancellationError {
      } catch {
        progress.fail(error)
      }
    }
    let ended = try await session.child.wait()
    while !progress.isDone && progress.quiet < .milliseconds(200) {
      try await Task.sleep(for: .milliseconds(10))
    }
    tasks.cancelAll()
    if let error = progress.error { throw error }
    return ended
  }
}

/// Copies the master to standard output until the master ends. When standard output's reader
/// has gone, the command gets SIGHUP (as when a terminal hangs up) and the rest of its output
/// is read and dropped, so it never blocks on a full terminal.
private func copyOutput(
  _ master: Terminal, _ output: PipeWriter, progress: OutputProgress, hangUp group: pid_t
) async throws {
  var copying = true
  try await withBuffer(65536) { buffer in
    while true {
      let count = try await master.read(into: buffer)
      if count == 0 { break }
      progress.mark()
      guard copying else { continue }
      do {
        try await output.write(UnsafeRawBufferPointer(rebasing: buffer[..<count]))
      } catch let error as HinixError where error.code == .brokenPipe {
        copying = false
        try? Signal.hangUp.send(toGroup: group)
      }
    }
  }
  progress.finish()
}

/// The serial terminal's copy: standard input to `port` (stopping at `quitKey` if given, which
/// ends everything), `port` to standard output; ends when the port ends, on SIGTERM, SIGHUP or
/// SIGINT, or once the port has been quiet `quietLimit`.
private func copyBothWays(
  _ port: Terminal, quitKey: UInt8?, quietLimit: Duration?, signals: SignalWatcher
) async throws {
  let output = try PipeWriter.standardOutput()
  let input = try PipeReader.standardInput()
  let heard = OutputProgress()
  try await withThrowingTaskGroup(of: Void.self) { group in
    group.addTask {
      try await withBuffer(4096) { buffer in
        while true {
          let count = try await input.read(into: buffer)
          if count == 0 {
            // The end of input: keep copying from the port.
            try await Task.sleep(for: .seconds(86400 * 365))
            return
          }
          if let quitKey, let index = buffer[..<count].firstIndex(of: quitKey) {
            try await port.write(UnsafeRawBufferPointer(rebasing: buffer[..<index]))
            return
          }
          try await port.write(UnsafeRawBufferPointer(rebasing: buffer[..<count]))
        }
      }
    }
    group.addTask {
      try await withBuffer(4096) { buffer in
        while true {
          let count = try await port.read(into: buffer)
          if count == 0 { return }
          heard.mark()
          do {
            try await output.write(UnsafeRawBufferPointer(rebasing: buffer[..<count]))
          } catch let error as HinixError where error.code == .brokenPipe {
            return
          }
        }
      }
    }
    group.addTask {
      for await _ in signals { return }
    }
    if let quietLimit {
      group.addTask {
        while true {
          let quiet = heard.quiet
          if quiet >= quietLimit { return }
          try await Task.sleep(for: quietLimit - quiet)
        }
      }
    }
    // The first copy (or signal, or quiet spell) to end ends them all.
    try await group.next()
    group.cancelAll()
  }
}

extension Tool {
  /// The signals after which the terminal tools put the terminal back and end (`pty run`
  /// passes them on to its command first).
  static let endingSignals: SignalSet = [.terminate, .hangUp, .interrupt, .quit]
}

/// When bytes last came, whether the copy has finished, and how it failed.
private final class OutputProgress: Sendable {
  private let started = ContinuousClock.now
  private let nanoseconds = Atomic<Int64>(0)
  private let done = Atomic<Bool>(false)
  private let failure = Mutex<(any Error)?>(nil)

  /// Bytes came now.
  func mark() {
    let (seconds, attoseconds) = (ContinuousClock.now - started).components
    nanoseconds.store(seconds * 1_000_000_000 + attoseconds / 1_000_000_000, ordering: .relaxed)
  }

  /// How long since bytes last came (or since the start).
  var quiet: Duration {
    (ContinuousClock.now - started) - .nanoseconds(nanoseconds.load(ordering: .relaxed))
  }

  /// The copy reached the end of its source.
  func finish() { done.store(true, ordering: .releasing) }

  /// The copy failed with `error`.
  func fail(_ error: any Error) {
    failure.withLock { $0 = error }
    finish()
  }

  var isDone: Bool { done.load(ordering: .acquiring) }
  var error: (any Error)? { failure.withLock { $0 } }
}

/// Runs `body` with a buffer of `size` bytes that lives until it returns.
private func withBuffer(_ size: Int, _ body: (UnsafeMutableRawBufferPointer) async throws -> Void)
  async throws
{
  let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 16)
  defer { buffer.deallocate() }
  try await body(buffer)
}

/// The executable `name` names: a path if it has a slash, else the first executable regular
/// file of that name in a folder of `PATH`, as `execvp` looks.
private func findExecutable(_ name: String) -> FilePath? {
  if name.contains("/") { return FilePath(name) }
  let path = getenv("PATH").map { String(cString: $0) } ?? "/usr/local/bin:/usr/bin:/bin"
  for folder in path.split(separator: ":", omittingEmptySubsequences: false) {
    let candidate = FilePath((folder.isEmpty ? "." : String(folder)) + "/" + name)
    guard case .success(let status) = Sys.status(candidate), status.isRegularFile else { continue }
    if access(candidate.string, X_OK) == 0 { return candidate }
  }
  return nil
}

extension TerminalAttributes.Parity: ExpressibleByArgument {}
extension TerminalAttributes.FlowControl: ExpressibleByArgument {}
