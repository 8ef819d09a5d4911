import Glibc
import SystemPackage
import Testing

@testable import Hinix

/// `hinix pty run` and `hinix serial`, run as a user runs them, with a pty standing in for the
/// serial line.
@Suite("Terminal tools", .timeLimit(.minutes(1)))
struct TerminalToolTests {
  @Test("pty run: the command sees a terminal, its output is copied, its status is the tool's")
  func ptyRun() throws {
    let ran = try run(
      "hinix", ["pty", "run", "--size", "30x90", "--", "sh", "-c", "tty; stty size; echo hi; exit 3"])
    #expect(ran.termination == .exited(3), "\(ran.standardError)")
    let lines = ran.standardOutput.split(separator: "\r\n", omittingEmptySubsequences: false).map(String.init)
    #expect(lines.count == 4 && lines[0].hasPrefix("/dev/pts/"), "\(ran.standardOutput)")
    #expect(Array(lines[1...]) == ["30 90", "hi", ""])
  }

  @Test("pty run: the end of standard input does not end the command; input reaches it")
  func ptyRunInput() throws {
    let late = try run("hinix", ["pty", "run", "--", "sh", "-c", "sleep 0.2; echo late"])
    #expect(late.termination == .exited(0) && late.standardOutput == "late\r\n", "\(late.standardOutput)")
    let echoed = try run(
      "hinix", ["pty", "run", "--", "sh", "-c", "read x; echo got $x"], input: Array("abc\n".utf8))
    #expect(echoed.termination == .exited(0))
    // The line discipline echoes the typed line, as a terminal does.
    #expect(echoed.standardOutput == "abc\r\ngot abc\r\n", "\(echoed.standardOutput)")
  }

  @Test("pty run: 128+N for a signal, 127 not found, 2 on usage; every byte of a flood copied")
  func ptyRunStatuses() throws {
    let killed = try run("hinix", ["pty", "run", "--", "sh", "-c", "kill -TERM $$"])
    #expect(killed.termination == .exited(128 + SIGTERM))
    let missing = try run("hinix", ["pty", "run", "--", "hinix-no-such-command"])
    #expect(missing.termination == .exited(127) && missing.standardError.contains("hinix-no-such-command"))
    #expect(try run("hinix", ["pty", "run"]).termination == .exited(2))
    #expect(try run("hinix", ["pty", "run", "--size", "big", "--", "true"]).termination == .exited(2))
    let flood = try run(
      "hinix", ["pty", "run", "--", "\(productsFolder)/hinix-test-peer", "pty-flood", "300000", "5"])
    #expect(flood.termination == .exited(5))
    // The pty turns each NL into CR NL.
    #expect(flood.outputBytes.count == 300_000 + 300_000 / 4096)
  }

  @Test("serial open copies both ways on a pty when not run on a terminal, and exits when quiet")
  func serialOpen() throws {
    // Raw from the start, so the slave does not echo what the master writes before the tool opens it.
    let pair = try PseudoTerminal.open(attributes: .raw)
    try pair.master.blockingWrite(Array("world".utf8))
    let ran = try run(
      "hinix", ["serial", "open", "--baud", "250000", "--parity", "odd", "-x", "0.3", pair.slavePath.string],
      input: Array("hello".utf8))
    #expect(ran.termination == .exited(0), "\(ran.standardError)")
    #expect(ran.standardOutput == "world")
    var buffer = [UInt8](repeating: 0, count: 16)
    let count = try buffer.withUnsafeMutableBytes {
      try pair.master.blockingRead(into: $0, timeout: .seconds(10))
    }
    #expect(count == .completed(5) && Array(buffer[..<5]) == Array("hello".utf8))
  }

  @Test("serial open: 1 naming the device on an error, 2 on usage")
  func serialOpenStatuses() throws {
    let missing = try run("hinix", ["serial", "open", "/dev/hinix-no-such-port"])
    #expect(missing.termination == .exited(1) && missing.standardError.contains("/dev/hinix-no-such-port"))
    let null = try run("hinix", ["serial", "open", "/dev/null"])
    #expect(null.termination == .exited(1) && null.standardError.contains("not a terminal"))
    #expect(try run("hinix", ["serial", "open", "--baud", "0", "/dev/null"]).termination == .exited(2))
    #expect(try run("hinix", ["serial", "open", "--databits", "9", "/dev/null"]).termination == .exited(2))
    #expect(
      try run("hinix", ["serial", "open", "--parity", "sideways", "/dev/null"]).termination == .exited(2))
    #expect(try run("hinix", ["serial", "open", "--help"]).standardOutput.contains("Ctrl-]"))
  }

  @Test("serial list prints one line per port, as JSON with --json")
  func serialList() throws {
    let ports = try SerialPort.list()
    let listed = try run("hinix", ["serial", "list"])
    #expect(listed.termination == .exited(ports.isEmpty ? 1 : 0))
    let lines = listed.standardOutput.split(separator: "\n")
    #expect(lines.map { String($0.split(separator: "\t")[0]) } == ports.map(\.path.string))
    let json = try run("hinix", ["serial", "list", "--json"])
    #expect(json.standardOutput.split(separator: "\n").allSatisfy { $0.hasPrefix("{\"path\":\"/dev/") })
  }

  @Test("serial open on a terminal: raw, Ctrl-] quits, and the terminal's settings come back")
  func serialOpenInteractive() async throws {
    let line = try PseudoTerminal.open(attributes: .raw)
    let hinix = "\(productsFolder)/hinix"
    let session = try PseudoTerminal.spawn(
      "/bin/sh", arguments: ["-c", "\(hinix) serial open \(line.slavePath.string); echo status=$?; stty -a"])
    var seen = try await session.master.readUntil("Ctrl-] quits")
    // Keys go to the device unchanged (no echo, no line editing: ^C is a byte).
    try await session.master.write([0x68, 0x03, 0x0D])
    var received: [UInt8] = []
    while received.count < 3 { received += try await line.master.read(upTo: 16) }
    #expect(received == [0x68, 0x03, 0x0D])
    try await line.master.write(Array("from the device".utf8))
    seen = try await session.master.readUntil("from the device", after: seen)
    try await session.master.write([0x1D])
    seen = try await session.master.readUntil("status=0", after: seen)
    seen += try await session.master.readToEnd()
    #expect(seen.contains("disconnected"))
    // stty after the tool: canonical input with echo again.
    #expect(seen.contains(" icanon") && seen.contains(" echo ") && !seen.contains("-icanon"), "\(seen)")
    #expect(try await session.child.wait() == .exited(0))
  }

  @Test("bench shows its progress on a terminal's standard error, in one line it rewrites")
  func benchProgressOnATerminal() async throws {
    let hinix = "\(productsFolder)/hinix"
    // Standard output to a file, standard error on the terminal.
    let session = try PseudoTerminal.spawn(
      "/bin/sh",
      arguments: ["-c", "\(hinix) bench --quick --only eventfd --only fdpass >/dev/null; echo status=$?"])
    var seen = try await session.master.readUntil("status=0")
    seen += try await session.master.readToEnd()
    #expect(seen.contains("\r\u{1B}[Khinix bench: [1/2] eventfd, round 1/1"), "\(seen)")
    #expect(seen.contains("[2/2] fdpass, round 1/1"), "\(seen)")
    // The progress line is cleared before the tool ends (then the shell prints the status).
    #expect(seen.contains("\r\u{1B}[Kstatus=0"), "\(seen)")
    #expect(try await session.child.wait() == .exited(0))
  }

  @Test("pty run on a terminal: the size is the terminal's and follows it; raw mode is undone")
  func ptyRunInteractive() async throws {
    let hinix = "\(productsFolder)/hinix"
    let session = try PseudoTerminal.spawn(
      "/bin/sh",
      arguments: [
        "-c", "\(hinix) pty run -- \(productsFolder)/hinix-test-peer pty-winch 1; echo status=$?; stty -a",
      ], size: WindowSize(rows: 20, columns: 70))
    var seen = try await session.master.readUntil("ready")
    try session.master.setWindowSize(WindowSize(rows: 21, columns: 71))
    seen = try await session.master.readUntil("status=0", after: seen)
    seen += try await session.master.readToEnd()
    #expect(seen.contains("size=21 71"), "\(seen)")
    #expect(seen.contains(" icanon") && !seen.contains("-icanon"), "\(seen)")
    #expect(try await session.child.wait() == .exited(0))
  }

  @Test("pty run on a terminal: SIGTERM reaches the command, and the terminal is put back")
  func ptyRunSignalled() async throws {
    let hinix = "\(productsFolder)/hinix"
    // The command sends SIGTERM to the tool (its parent), which passes it on: the command's
    // trap runs, and the tool ends with the command's status.
    let session = try PseudoTerminal.spawn(
      "/bin/sh",
      arguments: [
        "-c",
        "\(hinix) pty run -- sh -c 'trap \"echo got-TERM; exit 7\" TERM; kill -TERM $PPID; sleep 20 & wait'; "
          + "echo status=$?; stty -a",
      ])
    var seen = try await session.master.readUntil("status=")
    seen += try await session.master.readToEnd()
    #expect(seen.contains("got-TERM") && seen.contains("status=7"), "\(seen)")
    #expect(seen.contains(" icanon") && !seen.contains("-icanon"), "\(seen)")
    #expect(try await session.child.wait() == .exited(0))
  }

  @Test("pty run whose output reader leaves hangs the command up instead of waiting for ever")
  func ptyRunBrokenOutput() async throws {
    let hinix = "\(productsFolder)/hinix"
    let (output, outputEnd) = try Pipe.create()
    let shell = try ChildProcess.spawn(
      "/bin/sh", arguments: ["-c", "\(hinix) pty run -- yes | head -1; echo done"],
      passing: [outputEnd.descriptor: 1])
    _ = consume outputEnd
    let text = try await output.readToEnd()
    #expect(text.hasPrefix("y\r\n") && text.hasSuffix("done\n"), "\(text)")
    #expect(try await shell.wait() == .exited(0))
  }

  @Test("serial open: SIGTERM ends it and puts the terminal back")
  func serialOpenSignalled() async throws {
    let line = try PseudoTerminal.open(attributes: .raw)
    let hinix = "\(productsFolder)/hinix"
    let session = try PseudoTerminal.spawn(
      "/bin/sh",
      arguments: [
        // Standard input named explicitly: a background job's is /dev/null otherwise.
        "-c",
        "\(hinix) serial open \(line.slavePath.string) </dev/tty & sleep 0.5; stty -a; kill -TERM $!; wait $!; "
          + "echo status=$?; stty -a",
      ])
    var seen = try await session.master.readUntil("status=")
    // The tool was in its interactive mode, raw, when the signal came.
    #expect(seen.contains("Ctrl-] quits") && seen.contains("-icanon"), "\(seen)")
    seen = String(seen[try #require(seen.firstRange(of: "status=")).lowerBound...])
    seen += try await session.master.readToEnd()
    #expect(seen.contains("status=143"), "\(seen)")
    #expect(seen.contains(" icanon") && !seen.contains("-icanon"), "\(seen)")
  }

  @Test("pty run: a process the command leaves behind does not hold the tool")
  func ptyRunBackgroundHolder() throws {
    let started = ContinuousClock.now
    let ran = try run("hinix", ["pty", "run", "--", "sh", "-c", "sleep 30 & echo started"])
    #expect(ran.termination == .exited(0) && ran.standardOutput == "started\r\n", "\(ran.standardOutput)")
    #expect(ContinuousClock.now - started < .seconds(20))
  }
}
