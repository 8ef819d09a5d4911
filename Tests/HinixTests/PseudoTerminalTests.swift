import Glibc
import SystemPackage
import Testing

@testable import Hinix

/// Children in pseudo-terminals: controlling terminal, output read to the end, exit status,
/// window-size changes and signals from special characters, across processes.
@Suite(.timeLimit(.minutes(1))) struct PseudoTerminalTests {
  @Test func aChildGetsThePtyAsItsControllingTerminal() async throws {
    let session = try PseudoTerminal.spawn(
      FilePath("\(productsFolder)/hinix-test-peer"), arguments: ["pty-report", "7"],
      size: WindowSize(rows: 33, columns: 101))
    var seen = ""
    seen = try await session.master.readUntil("controlling=", after: seen)
    try await session.master.write(Array("hello\nquit\n".utf8))
    seen += try await session.master.readToEnd()
    #expect(seen.contains("tty=\(session.slavePath.string)\r\n"), "\(seen)")
    #expect(seen.contains("session-leader=true\r\n"))
    #expect(seen.contains("foreground=true\r\n"))
    #expect(seen.contains("size=33 101\r\n"))
    #expect(seen.contains("controlling=/dev/tty\r\n"))
    // The line discipline echoes the input and the child answers it.
    #expect(seen.contains("hello\r\n") && seen.contains("got:hello\r\n"))
    #expect(!seen.contains("got:quit"))
    #expect(try await session.child.wait() == .exited(7))
  }

  @Test func aShellsOutputIsReadCompletelyBeforeTheEnd() async throws {
    // The shell writes 5,000 lines and exits at once: every byte is read before EIO ends it.
    let session = try PseudoTerminal.spawn(
      "/bin/sh", arguments: ["-c", "i=0; while [ $i -lt 5000 ]; do i=$((i+1)); echo line$i; done; exit 3"])
    let output = try await session.master.readToEnd()
    let lines = output.split(separator: "\r\n")
    #expect(lines.count == 5000)
    #expect(lines.first == "line1" && lines.last == "line5000")
    #expect(try await session.child.wait() == .exited(3))
  }

  @Test func aFloodWrittenJustBeforeExitIsAllRead() async throws {
    let total = 1 << 18
    let session = try PseudoTerminal.spawn(
      FilePath("\(productsFolder)/hinix-test-peer"), arguments: ["pty-flood", "\(total)", "0"],
      attributes: .raw)
    #expect(try await session.master.readBytesToEnd().count == total)
    #expect(try await session.child.wait() == .exited(0))
  }

  @Test func eioOnTheMasterIsTheEndOfTheStream() throws {
    let pair = try PseudoTerminal.open(attributes: .raw)
    try pair.slave.blockingWrite(Array("last words".utf8))
    let master = pair.master
    // Closing the only slave descriptor: the master then reads EIO from the kernel.
    _ = consume pair
    var buffer = [UInt8](repeating: 0, count: 64)
    let count = try buffer.withUnsafeMutableBytes { try master.blockingRead(into: $0) }
    #expect(String(decoding: buffer[..<count], as: UTF8.self) == "last words")
    #expect(try buffer.withUnsafeMutableBytes { try master.blockingRead(into: $0) } == 0)
    #expect(try buffer.withUnsafeMutableBytes { try master.tryRead(into: $0) } == .ended)
    #expect(
      try buffer.withUnsafeMutableBytes { try master.blockingRead(into: $0, timeout: .seconds(1)) } == .ended)
  }

  @Test func bothSidesAreNonBlockingAndAnotherSlaveIsBlocking() throws {
    let pair = try PseudoTerminal.open(attributes: .raw)
    #expect(fcntl(pair.master.descriptor.rawValue, F_GETFL) & O_NONBLOCK != 0)
    #expect(fcntl(pair.slave.descriptor.rawValue, F_GETFL) & O_NONBLOCK != 0)
    let blocking = try PseudoTerminal.openSlave(of: pair)
    #expect(fcntl(blocking.descriptor.rawValue, F_GETFL) & O_NONBLOCK == 0)
    try pair.master.blockingWrite(Array("to both".utf8))
    var buffer = [UInt8](repeating: 0, count: 16)
    let count = try buffer.withUnsafeMutableBytes { try blocking.blockingRead(into: $0) }
    #expect(Array(buffer[..<count]) == Array("to both".utf8))
  }

  @Test func aSlaveWhoseMasterClosedReadsTheEndAndCannotWrite() throws {
    let pair = try PseudoTerminal.open(attributes: .raw)
    let slave = pair.slave
    _ = consume pair
    var buffer = [UInt8](repeating: 0, count: 8)
    #expect(try buffer.withUnsafeMutableBytes { try slave.blockingRead(into: $0) } == 0)
    // A write to a hung-up terminal fails with EIO: an error, not an end and not a signal.
    let error = expectError(.system) { try slave.blockingWrite(Array("lost".utf8)) }
    #expect(error?.errno == .ioError)
  }

  @Test func windowSizeChangesReachTheChild() async throws {
    let session = try PseudoTerminal.spawn(
      FilePath("\(productsFolder)/hinix-test-peer"), arguments: ["pty-winch", "2"],
      size: WindowSize(rows: 24, columns: 80))
    var seen = ""
    seen = try await session.master.readUntil("ready", after: seen)
    try session.master.setWindowSize(WindowSize(rows: 40, columns: 120))
    seen = try await session.master.readUntil("size=40 120", after: seen)
    try session.master.setWindowSize(WindowSize(rows: 41, columns: 121))
    seen += try await session.master.readToEnd()
    #expect(seen.contains("size=41 121"), "\(seen)")
    #expect(try await session.child.wait() == .exited(0))
  }

  @Test func controlCSignalsTheForegroundGroup() async throws {
    let session = try PseudoTerminal.spawn("/bin/sh", arguments: ["-c", "echo ready; exec sleep 30"])
    var seen = ""
    seen = try await session.master.readUntil("ready", after: seen)
    #expect(try session.master.foregroundProcessGroup() == session.child.pid)
    try await session.master.write([0x03])
    #expect(try await session.child.wait() == .signalled(SIGINT))
  }

  @Test func theEndOfInputDoesNotEndTheChild() async throws {
    // ^D at the start of a line is the end of input for the child, which still runs on.
    let session = try PseudoTerminal.spawn("/bin/sh", arguments: ["-c", "cat; echo after-cat; exit 4"])
    try await session.master.write(Array("typed\n".utf8) + [0x04])
    let output = try await session.master.readToEnd()
    #expect(output.contains("typed\r\ntyped\r\n") && output.hasSuffix("after-cat\r\n"), "\(output)")
    #expect(try await session.child.wait() == .exited(4))
  }

  @Test func usedUpPseudoTerminalsAreALimitNamedInTheError() throws {
    // A peer in a mount namespace of its own, whose devpts allows 2: the third is refused.
    let result = try run("hinix-test-peer", ["pty-limit", "2"])
    #expect(result.termination == .exited(0), "\(result.standardError)")
    #expect(
      result.standardOutput.hasPrefix("limitExceeded posix_openpt(\"/dev/ptmx\")"), "\(result.standardOutput)"
    )
    #expect(result.standardOutput.contains("/proc/sys/kernel/pty/max = "))
    #expect(result.standardOutput.contains("max= option"))
  }

  @Test func spawnRefusesStandardNumbersAndMissingPrograms() throws {
    let (reader, _) = try Pipe.create()
    expectError(.invalidArgument) {
      try PseudoTerminal.spawn("/bin/true", passing: [reader.descriptor: 1])
    }
    let missing = expectError(.notFound) { try PseudoTerminal.spawn("/nonexistent/hinix-program") }
    #expect(missing?.subject == "/nonexistent/hinix-program")
  }
}
