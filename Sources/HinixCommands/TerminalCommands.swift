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
        settings come back on every way out (Ctrl-], an error, SIGTERM, SIGHUP, SIGINT or \
        SIGQUIT, the device hanging up). When standard input or output is not a terminal it \
        copies standard input to the device and the device to standard output, so it can be scripted: the \
        end of standard input stops the copy to the device only, and --exit-after ends the \
        tool once the device has been quiet that long. Works on a pseudo-terminal's slave as \
        on hardware. Exit status 0 on Ctrl-], --exit-after or the device's end, 128+N after \
        signal N, 1 on an error, 2 on a usage error.
        """)

    @Option(
      name: [.short, .customLong("baud")], parsing: .unconditional,
      help: "The rate in bits per second (any rate the driver takes).")
    var baud = 9600

    @Option(name: [.short, .customLong("parity")], help: "none, even, odd, mark or space.")
    var parity = TerminalAttributes.Parity.none

    @Option(name: [.short, .customLong("databits")], parsing: .unconditional, help: "5, 6, 7 or 8.")
    var dataBits = 8

    @Option(name: [.customShort("s"), .customLong("stopbits")], parsing: .unconditional, help: "1 or 2.")
    var stopBits = 1

    @Option(name: [.short, .customLong("flow")], help: "none, hardware (RTS/CTS) or software (XON/XOFF).")
    var flow = TerminalAttributes.FlowControl.none

    @Option(
      name: [.customShort("x"), .customLong("exit-after")], parsing: .unconditional,
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
        Tool.path(device), baudRate: BaudRate(bitsPerSecond: baud), dataBits: .init(rawValue: dataBits)!,
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
      let signalled = try runBlocking { () async throws -> Signal? in
        if interactive {
          let keyboard = try Terminal.standardInput()
          Tool.report(
            "connected to \(device) at \(try port.attributes().baudRate) bps; Ctrl-] quits", prefix: false)
          let signalled = try await keyboard.withRawMode {
            try await copyBothWays(port, quitKey: 0x1D, quietLimit: quiet, signals: signals)
          }
          Tool.report("disconnected", prefix: false)
          return signalled
        }
        return try await copyBothWays(port, quitKey: nil, quietLimit: quiet, signals: signals)
      }
      if let signalled { throw ExitCode(128 + signalled.rawValue) }
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
        copied to standard output before the tool exits (when a process it started in the \
        background still holds the terminal, until its output has been quiet for 200 ms after \
        the command ended; when standard output's reader leaves, the command gets SIGHUP and \
        the rest is dropped). When standard input is a terminal it is put in raw mode for the \
        run (and restored on every way out), and its window size is the command's and follows \
        it. SIGTERM, SIGHUP, SIGINT and SIGQUIT sent to the tool go to the command (a second \
        one kills it). The exit status is the command's, 128+N when signal N ended it, 127 \
        when it cannot be found, 126 when it cannot be run, 1 on the tool's own errors and 2 \
        on a usage error.
        """)

    @Option(name: .long, help: "The window size as ROWSxCOLUMNS when standard input is not a terminal.")
    var size: String = "24x80"

    @Argument(parsing: .postTerminator, help: "The command and its arguments (after --).")
    var command: [String] = []

    /// The command line from the command on, as bytes, taken from `argv` without parsing (see
    /// ``Tool/main(_:)``); nil when the command was parsed.
    nonisolated(unsafe) static var passedThrough: [[UInt8]]?

    /// Where the command starts among `arguments` (those after `pty run`), past the tool's own
    /// options and a `--`; nil when there is none, or an option the parser must see (`--help`).
    static func commandStart(in arguments: ArraySlice<String>) -> Int? {
      var index = arguments.startIndex
      while index < arguments.endIndex {
        let argument = arguments[index]
        if argument == "--" { return index + 1 < arguments.endIndex ? index + 1 : nil }
        if argument == "--size" {
          index += 2
        } else if argument.hasPrefix("--size=") {
          index += 1
        } else if argument.hasPrefix("-") {
          return nil
        } else {
          return index
        }
      }
      return nil
    }

    func validate() throws {
      if command.isEmpty {
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
      var arguments = Run.passedThrough ?? command.map { Array($0.utf8) }
      let name = arguments.removeFirst()
      guard let executable = findExecutable(name) else {
        Tool.report("\(filePath(name).printable): command not found")
        throw ExitCode(127)
      }
      let keyboard = try? Terminal.standardInput()
      let size = try keyboard?.windowSize() ?? parsedSize!
      // Watching starts before the command and raw mode, so a signal at any moment finds the
      // tool ready to pass it on and to put the terminal back; the holder keeps Hinix's handler
      // installed until after the restore (see `serial open`).
      let signals = try SignalWatcher(Tool.endingSignals)
      let holder = try SignalWatcher(Tool.endingSignals)
      defer { holder.cancel() }
      let session: PseudoTerminal.Session
      do {
        session = try PseudoTerminal.spawn(executable, argumentBytes: arguments, size: size)
      } catch {
        Tool.report(error.description)
        // As shells do: 127 when the program is not there, 126 when it cannot be run; 1 for
        // the tool's own failures (no pseudo-terminal, no process).
        switch error.errno {
        case .noSuchFileOrDirectory?: throw ExitCode(127)
        case .permissionDenied?, .execFormatError?, .isDirectory?, .notDirectory?: throw ExitCode(126)
        default: throw ExitCode(ToolStatus.failure.rawValue)
        }
      }
      let ended = try runBlocking { () async throws -> ChildProcess.Termination in
        if let keyboard {
          return try await keyboard.withRawMode {
            try await relay(session, keyboard: keyboard, signals: signals)
          }
        }
        return try await relay(session, keyboard: nil, signals: signals)
      }
      switch ended {
      case .exited(let status): throw ExitCode(status)
      case .signalled(let signal): throw ExitCode(128 + signal)
      }
    }
  }
}

/// Runs the session: standard input copied to the master (its end stops that copy only), the
/// master copied to standard output, the keyboard's window size followed, and the signals that
/// would end the tool passed on to the command. Returns when the command has ended and its
/// output is copied: to the end of the master, or, when a process it left behind still holds
/// the terminal, until nothing has come for 200 ms since the command ended.
private func relay(_ session: PseudoTerminal.Session, keyboard: Terminal?, signals: SignalWatcher)
  async throws
  -> ChildProcess.Termination
{
  let output = try PipeWriter.standardOutput()
  let input = try PipeReader.standardInput()
  let progress = OutputProgress()
  let command = session.child
  let master = session.master
  return try await withThrowingTaskGroup(of: Void.self) { tasks in
    tasks.addTask { _ = try await copyInput(input, to: master, quitKey: nil) }
    if let keyboard {
      let changes = try keyboard.sizeChanges()
      tasks.addTask {
        for try await size in changes { try master.setWindowSize(size) }
      }
    }
    tasks.addTask {
      // The first signal goes to the command's session as the kernel's hangup would send it:
      // the terminal's foreground group and the command's own. A second one kills them.
      var forwarded = false
      for await delivery in signals {
        let signal = forwarded ? Signal.kill : delivery.signal
        let foreground = try? master.foregroundProcessGroup()
        for group in Set([command.pid, foreground ?? command.pid]) { try? signal.send(toGroup: group) }
        forwarded = true
      }
    }
    tasks.addTask {
      do {
        try await copyOutput(master, output, progress: progress, hangUp: command.pid)
      } catch is CancellationError {
      } catch {
        progress.fail(error)
      }
    }
    let ended = try await command.wait()
    progress.commandEnded()
    // To the end of the output; a slave still held by a process the command left behind
    // (the master does not hang up) ends the wait once the output has been quiet 200 ms.
    while !progress.isDone
      && (Sys.isHungUp(master.descriptor.rawValue) || progress.quiet < .milliseconds(200))
    {
      try await Task.sleep(for: .milliseconds(5))
    }
    tasks.cancelAll()
    while !tasks.isEmpty { _ = try? await tasks.next() }
    if let error = progress.error { throw error }
    return ended
  }
}

/// Copies the master to standard output until the master ends. When standard output cannot be
/// written any more (its reader has gone, or it failed), the command gets SIGHUP, as when a
/// terminal hangs up, and the rest of its output is read and dropped, so it never blocks on a
/// full terminal; a failure other than a broken pipe is reported once the command has ended.
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
        // Time spent waiting for a slow reader is not quiet.
        progress.mark()
      } catch {
        copying = false
        try? Signal.hangUp.send(toGroup: group)
        if (error as? HinixError)?.code != .brokenPipe { progress.record(error) }
      }
    }
  }
  progress.finish()
}

/// How ``copyInput(_:to:quitKey:)`` ended.
private enum InputEnding {
  case endOfInput
  case quitKey
}

/// Copies standard input to `terminal` until its end, or until `quitKey` (which is not sent).
private func copyInput(_ input: PipeReader, to terminal: Terminal, quitKey: UInt8?) async throws
  -> InputEnding
{
  var ending = InputEnding.endOfInput
  try await withBuffer(4096) { buffer in
    while true {
      let count = try await input.read(into: buffer)
      if count == 0 { return }
      if let quitKey, let index = buffer[..<count].firstIndex(of: quitKey) {
        try await terminal.write(UnsafeRawBufferPointer(rebasing: buffer[..<index]))
        ending = .quitKey
        return
      }
      try await terminal.write(UnsafeRawBufferPointer(rebasing: buffer[..<count]))
    }
  }
  return ending
}

/// The serial terminal's copy: standard input to `port` (stopping at `quitKey` if given, which
/// ends everything), `port` to standard output; ends when the port ends, on one of `signals`
/// (which it returns), or once the port has been quiet `quietLimit`.
private func copyBothWays(
  _ port: Terminal, quitKey: UInt8?, quietLimit: Duration?, signals: SignalWatcher
) async throws -> Signal? {
  let output = try PipeWriter.standardOutput()
  let input = try PipeReader.standardInput()
  let heard = OutputProgress()
  return try await withThrowingTaskGroup(of: Signal?.self) { group in
    group.addTask {
      // The end of input stops this copy only: the port's goes on.
      if try await copyInput(input, to: port, quitKey: quitKey) == .endOfInput {
        try await Task.sleep(for: .seconds(86400 * 365))
      }
      return nil
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
      return nil
    }
    group.addTask {
      for await delivery in signals { return delivery.signal }
      return nil
    }
    if let quietLimit {
      group.addTask {
        while true {
          let quiet = heard.quiet
          if quiet >= quietLimit { return nil }
          try await Task.sleep(for: quietLimit - quiet)
        }
      }
    }
    // The first copy (or signal, or quiet spell) to end ends them all.
    let first = try await group.next() ?? nil
    group.cancelAll()
    return first
  }
}

extension Tool {
  /// The signals the terminal tools watch from before raw mode to after the restore: `serial
  /// open` ends on them, `pty run` passes them on to its command.
  static let endingSignals: SignalSet = [.terminate, .hangUp, .interrupt, .quit]
}

/// When bytes last came, when the command ended, whether the copy has finished, and how it
/// failed.
private final class OutputProgress: Sendable {
  private let started = ContinuousClock.now
  private let lastNanoseconds = Atomic<Int64>(0)
  private let done = Atomic<Bool>(false)
  private let failure = Mutex<(any Error)?>(nil)

  private func now() -> Int64 {
    let (seconds, attoseconds) = (ContinuousClock.now - started).components
    return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
  }

  /// Bytes came (or were written) now.
  func mark() { lastNanoseconds.store(now(), ordering: .relaxed) }

  /// The command ended now: quiet is counted from here at the earliest.
  func commandEnded() {
    lastNanoseconds.store(max(now(), lastNanoseconds.load(ordering: .relaxed)), ordering: .relaxed)
  }

  /// How long since the last mark (or since the start).
  var quiet: Duration { .nanoseconds(now() - lastNanoseconds.load(ordering: .relaxed)) }

  /// The copy reached the end of its source.
  func finish() { done.store(true, ordering: .releasing) }

  /// Keeps the first failure, to report after the copy.
  func record(_ error: any Error) {
    failure.withLock { if $0 == nil { $0 = error } }
  }

  /// The copy failed with `error` and stopped.
  func fail(_ error: any Error) {
    record(error)
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
/// The program `name` names (bytes, as given): a path when it holds a `/`, else the first
/// executable file of that name in `$PATH`'s folders, as a shell finds it.
private func findExecutable(_ name: [UInt8]) -> FilePath? {
  if name.contains(UInt8(ascii: "/")) { return filePath(name) }
  let path = getenv("PATH").map { Array(UnsafeRawBufferPointer(start: $0, count: strlen($0))) }
  for folder in (path ?? Array("/usr/local/bin:/usr/bin:/bin".utf8)).split(
    separator: UInt8(ascii: ":"), omittingEmptySubsequences: false)
  {
    let candidate = filePath(
      (folder.isEmpty ? [UInt8(ascii: ".")] : Array(folder)) + [UInt8(ascii: "/")] + name)
    guard case .success(let status) = Sys.status(candidate), status.isRegularFile else { continue }
    if candidate.withPlatformString({ access($0, X_OK) }) == 0 { return candidate }
  }
  return nil
}

/// A path of these bytes, whatever their encoding (no NUL: a command-line argument has none).
func filePath(_ bytes: [UInt8]) -> FilePath {
  (bytes + [0]).withUnsafeBufferPointer { buffer in
    buffer.withMemoryRebound(to: CChar.self) { FilePath(platformString: $0.baseAddress!) }
  }
}

extension TerminalAttributes.Parity: ExpressibleByArgument {}
extension TerminalAttributes.FlowControl: ExpressibleByArgument {}
