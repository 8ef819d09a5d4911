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
          ]
          if let usb = port.usb {
            fields.append("\"vendorID\":\(EventFormat.quoted(usb.vendorID))")
            fields.append("\"productID\":\(EventFormat.quoted(usb.productID))")
            fields.append("\"serialNumber\":\(usb.serialNumber.map(EventFormat.quoted) ?? "null")")
            fields.append("\"manufacturer\":\(usb.manufacturer.map(EventFormat.quoted) ?? "null")")
            fields.append("\"product\":\(usb.product.map(EventFormat.quoted) ?? "null")")
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
      try runBlocking {
        if interactive {
          let keyboard = try Terminal.standardInput()
          Tool.report(
            "connected to \(device) at \(try port.attributes().baudRate) bps; Ctrl-] quits", prefix: false)
          try await keyboard.withRawMode {
            try await copyBothWays(port, quitKey: 0x1D, quietLimit: quiet)
          }
          Tool.report("disconnected", prefix: false)
        } else {
          try await copyBothWays(port, quitKey: nil, quietLimit: quiet)
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
        throw ExitCode(error.code == .notFound ? 127 : 126)
      }
      let ended = try runBlocking { () async throws -> ChildProcess.Termination in
        if let keyboard {
          return try await keyboard.withRawMode { try await relay(session, keyboard: keyboard) }
        }
        return try await relay(session, keyboard: nil)
      }
      switch ended {
      case .exited(let status): throw ExitCode(status)
      case .signalled(let signal): throw ExitCode(128 + signal)
      }
    }
  }
}

/// Copies standard input to the session's master and the master to standard output until the
/// child has ended and its output is all copied; follows the keyboard's window size.
private func relay(_ session: PseudoTerminal.Session, keyboard: Terminal?) async throws
  -> ChildProcess.Termination
{
  let output = try PipeWriter.standardOutput()
  let input = try PipeReader.standardInput()
  return try await withThrowingTaskGroup(of: Void.self) { group in
    group.addTask {
      // The end of standard input stops this copy only.
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
      group.addTask {
        for try await size in changes { try session.master.setWindowSize(size) }
      }
    }
    // Everything the command writes, until the master ends (no slave descriptor left).
    try await copyToEnd(session.master, output)
    let ended = try await session.child.wait()
    group.cancelAll()
    return ended
  }
}

/// Copies `source` to `destination` until `source` ends; a destination whose reader left ends
/// the copy quietly.
private func copyToEnd(_ source: some ByteReader & Sendable, _ destination: PipeWriter) async throws {
  try await withBuffer(65536) { buffer in
    while true {
      let count = try await source.read(into: buffer)
      if count == 0 { return }
      do {
        try await destination.write(UnsafeRawBufferPointer(rebasing: buffer[..<count]))
      } catch let error as HinixError where error.code == .brokenPipe {
        return
      }
    }
  }
}

/// The serial terminal's copy: standard input to `port` (stopping at `quitKey` if given, which
/// ends everything), `port` to standard output; ends when the port ends, on SIGTERM, SIGHUP or
/// SIGINT, or once the port has been quiet `quietLimit`.
private func copyBothWays(_ port: Terminal, quitKey: UInt8?, quietLimit: Duration?) async throws {
  let output = try PipeWriter.standardOutput()
  let input = try PipeReader.standardInput()
  let heard = LastHeard()
  let signals = try SignalWatcher([.terminate, .hangUp, .interrupt])
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
    signals.cancel()
  }
}

/// When bytes last came from the port.
private final class LastHeard: Sendable {
  private let started = ContinuousClock.now
  private let nanoseconds = Atomic<Int64>(0)

  /// Bytes came now.
  func mark() {
    let (seconds, attoseconds) = (ContinuousClock.now - started).components
    nanoseconds.store(seconds * 1_000_000_000 + attoseconds / 1_000_000_000, ordering: .relaxed)
  }

  /// How long since bytes last came (or since the start).
  var quiet: Duration {
    (ContinuousClock.now - started) - .nanoseconds(nanoseconds.load(ordering: .relaxed))
  }
}

/// Runs `body` with a buffer of `size` bytes that lives until it returns.
private func withBuffer(_ size: Int, _ body: (UnsafeMutableRawBufferPointer) async throws -> Void)
  async throws
{
  let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 16)
  defer { buffer.deallocate() }
  try await body(buffer)
}

/// The executable `name` names: a path if it has a slash, else the first match in `PATH`.
private func findExecutable(_ name: String) -> FilePath? {
  if name.contains("/") { return FilePath(name) }
  let path = String(cString: getenv("PATH") ?? strdup("/usr/local/bin:/usr/bin:/bin"))
  for folder in path.split(separator: ":", omittingEmptySubsequences: false) {
    let candidate = (folder.isEmpty ? "." : String(folder)) + "/" + name
    if access(candidate, X_OK) == 0 { return FilePath(candidate) }
  }
  return nil
}

extension TerminalAttributes.Parity: ExpressibleByArgument {}
extension TerminalAttributes.FlowControl: ExpressibleByArgument {}
