import Glibc
import SystemPackage
import Testing

@testable import Hinix

/// Terminal attributes, raw mode, line control and window sizes, on pseudo-terminals (a pty
/// pair is a virtual null-modem: what one side writes, the other reads).
@Suite(.timeLimit(.minutes(1))) struct TerminalTests {
  @Test func everyAttributeSetIsReadBack() throws {
    let pair = try PseudoTerminal.open()
    var attributes = try pair.slave.attributes()
    attributes.inputModes = [
      .ignoreBreak, .ignoreParityErrors, .checkParity, .stripEighthBit, .mapNewlineToReturn, .restartOnAny,
      .inputFlowControl, .utf8,
    ]
    attributes.outputModes = [.postProcess, .mapReturnToNewline, .noReturnAtColumnZero, .newlineReturns]
    attributes.localModes = [.echoNewline, .noFlush, .stopBackgroundOutput, .extendedInput]
    attributes.controlModes = [.enableReceiver, .hangUpOnClose, .ignoreModemLines]
    attributes.controlCharacters.interrupt = 0x01
    attributes.controlCharacters.quit = 0x02
    attributes.controlCharacters.erase = 0x08
    attributes.controlCharacters.kill = 0x0B
    attributes.controlCharacters.endOfFile = 0x0C
    attributes.controlCharacters.endOfLine = 0x0E
    attributes.controlCharacters.endOfLine2 = 0x10
    attributes.controlCharacters.start = 0x14
    attributes.controlCharacters.stop = 0x18
    attributes.controlCharacters.suspend = 0x19
    attributes.controlCharacters.reprint = 0x1B
    attributes.controlCharacters.discard = 0x1D
    attributes.controlCharacters.wordErase = 0x1E
    attributes.controlCharacters.literalNext = 0x1F
    attributes.controlCharacters.minimum = 5
    attributes.controlCharacters.time = 7
    for dataBits in TerminalAttributes.DataBits.allCases {
      for parity in TerminalAttributes.Parity.allCases {
        for stopBits in TerminalAttributes.StopBits.allCases {
          for flow in TerminalAttributes.FlowControl.allCases {
            attributes.dataBits = dataBits
            attributes.parity = parity
            attributes.stopBits = stopBits
            attributes.flowControl = flow
            #expect(attributes.dataBits == dataBits && attributes.parity == parity)
            #expect(attributes.stopBits == stopBits && attributes.flowControl == flow)
            try pair.slave.setAttributes(attributes)
            // The pty driver forces 8 data bits, no parity bit and the receiver on; every other
            // bit, odd and stick parity included, reads back as set.
            var expected = attributes
            expected.dataBits = .eight
            expected.controlModes.remove(.parity)
            expected.controlModes.insert(.enableReceiver)
            let back = try pair.slave.attributes()
            #expect(back == expected, "\(dataBits) \(parity) \(stopBits) \(flow)")
            #expect(back.stopBits == stopBits && back.flowControl == flow)
          }
        }
      }
    }
    // The other side's view is the same terminal's.
    #expect(try pair.master.attributes().controlCharacters.minimum == 5)
  }

  @Test func anArbitraryRateIsSetReadBackAndKept() throws {
    let pair = try PseudoTerminal.open()
    var attributes = try pair.slave.attributes()
    attributes.baudRate = 250_000
    #expect(!attributes.baudRate.isStandard)
    try pair.slave.setAttributes(attributes)
    #expect(try pair.slave.attributes().baudRate == 250_000)
    #expect(try pair.slave.attributes().inputBaudRate == nil)
    // glibc's tcgetattr sees only the BOTHER code, no rate: what Hinix's TCGETS2 avoids.
    var plain = termios()
    #expect(tcgetattr(pair.slave.descriptor.rawValue, &plain) == 0)
    #expect(cfgetospeed(&plain) != speed_t(B38400))
    // Another attribute changed later keeps the rate.
    try pair.slave.updateAttributes { $0.stopBits = .two }
    #expect(try pair.slave.attributes().baudRate == 250_000)
    #expect(try pair.slave.attributes().stopBits == .two)
    // A standard rate goes back to its code, and a separate input rate is kept apart.
    attributes.baudRate = 115_200
    attributes.inputBaudRate = 9600
    try pair.slave.setAttributes(attributes, when: .afterDrain)
    let back = try pair.slave.attributes()
    #expect(back.baudRate == 115_200 && back.inputBaudRate == 9600)
    #expect(tcgetattr(pair.slave.descriptor.rawValue, &plain) == 0)
    #expect(cfgetospeed(&plain) == speed_t(B115200))
    #expect(BaudRate.standardRates.contains(115_200) && BaudRate.standardRates.count == 31)
    // An impossible rate is refused before the kernel sees it.
    attributes.baudRate = BaudRate(bitsPerSecond: -1)
    let error = expectError(.invalidArgument) { try pair.slave.setAttributes(attributes) }
    #expect(error?.detail.contains("-1") == true)
  }

  @Test func presetsAreWhatTheirDocumentationSays() throws {
    let raw = TerminalAttributes.raw
    #expect(!raw.localModes.contains(.echo) && !raw.localModes.contains(.canonical))
    #expect(!raw.localModes.contains(.signals) && !raw.outputModes.contains(.postProcess))
    #expect(raw.dataBits == .eight && raw.parity == .none)
    #expect(raw.controlCharacters.minimum == 1 && raw.controlCharacters.time == 0)
    let canonical = TerminalAttributes.canonical
    #expect(canonical.localModes.isSuperset(of: [.canonical, .echo, .signals]))
    #expect(canonical.outputModes.contains(.mapNewlineToReturnNewline))
    #expect(canonical.controlCharacters.interrupt == 0x03 && canonical.baudRate == 38400)
    // A new pty starts as the canonical preset says (stty sane).
    let pair = try PseudoTerminal.open()
    let fresh = try pair.slave.attributes()
    #expect(
      fresh.localModes == canonical.localModes && fresh.controlCharacters == canonical.controlCharacters)
    #expect(fresh.baudRate == canonical.baudRate)
  }

  @Test func rawModeIsRestoredAfterAThrownError() throws {
    let pair = try PseudoTerminal.open()
    let before = try pair.slave.attributes()
    struct Failure: Error {}
    #expect(throws: Failure.self) {
      try pair.slave.withRawMode { () throws -> Void in
        #expect(try pair.slave.attributes().localModes.isDisjoint(with: [.echo, .canonical]))
        throw Failure()
      }
    }
    #expect(try pair.slave.attributes() == before)
    let value = try pair.slave.withRawMode { 42 }
    #expect(try value == 42 && pair.slave.attributes() == before)
  }

  @Test func rawModeIsRestoredWhenTheTaskIsCancelled() async throws {
    let pair = try PseudoTerminal.open()
    let before = try pair.slave.attributes()
    let entered = try EventFD()
    let task = Task {
      try await pair.slave.withRawMode {
        _ = try entered.tryAdd(1)
        // Waits for input that never comes, until cancelled.
        _ = try await pair.slave.read(upTo: 16)
      }
    }
    _ = try await entered.read()
    #expect(try pair.slave.attributes().localModes.isDisjoint(with: [.echo, .canonical]))
    task.cancel()
    await #expect(throws: CancellationError.self) { try await task.value }
    #expect(try pair.slave.attributes() == before)
  }

  @Test func bytesCrossTheNullModemInRawMode() async throws {
    let pair = try PseudoTerminal.open(attributes: .raw)
    let bytes: [UInt8] = Array(0...255)
    try await pair.master.write(bytes)
    var received: [UInt8] = []
    while received.count < bytes.count { received += try await pair.slave.read(upTo: 512) }
    #expect(received == bytes)
    try await pair.slave.write(Array("back".utf8))
    #expect(try await pair.master.read(upTo: 16) == Array("back".utf8))
  }

  @Test func flushDiscardsAndFlowSuspendsOutput() throws {
    let pair = try PseudoTerminal.open(attributes: .raw)
    try pair.master.blockingWrite(Array("discard me".utf8))
    try pair.master.blockingDrain()
    // The kernel moves a master's writes to the slave's input on a work queue: wait for them.
    let until = ContinuousClock.now + .seconds(10)
    while try pair.slave.inputQueueCount() < 10, ContinuousClock.now < until {
      _ = Sys.sleep(nanoseconds: 100_000)
    }
    #expect(try pair.slave.inputQueueCount() == 10)
    try pair.slave.flush(.input)
    var buffer = [UInt8](repeating: 0, count: 16)
    #expect(try buffer.withUnsafeMutableBytes { try pair.slave.tryRead(into: $0) } == .wouldBlock)
    try pair.slave.flush(.both)
    // While output is suspended the slave takes nothing to write; resumed, it does.
    try pair.slave.flow(.suspendOutput)
    #expect(try pair.slave.tryWrite(Array("held".utf8)) == .wouldBlock)
    #expect(try pair.slave.blockingWrite(Array("held".utf8), timeout: .milliseconds(20)) == .timedOut)
    try pair.slave.flow(.resumeOutput)
    #expect(try pair.slave.tryWrite(Array("held".utf8)) == .completed(4))
    #expect(
      try buffer.withUnsafeMutableBytes { try pair.master.blockingRead(into: $0, timeout: .seconds(10)) }
        == .completed(4))
    #expect(Array(buffer[..<4]) == Array("held".utf8))
    // A pty's slave keeps no output queue of its own once the master has read it.
    #expect(try pair.slave.outputQueueCount() == 0)
    // STOP and START go out as the control characters (^S, ^Q); a pty takes a break as a no-op.
    try pair.slave.flow(.sendStop)
    try pair.slave.flow(.sendStart)
    var control: [UInt8] = []
    while control.count < 2 {
      let count = try buffer.withUnsafeMutableBytes {
        try pair.master.blockingRead(into: $0, timeout: .seconds(10))
      }
      guard case .completed(let got) = count else { break }
      control += buffer[..<got]
    }
    #expect(control == [0x13, 0x11])
    try pair.slave.blockingSendBreak()
    try pair.slave.blockingSendBreak(duration: .milliseconds(1))
    expectError(.invalidArgument) { try pair.slave.blockingSendBreak(duration: .seconds(-1)) }
  }

  @Test func asyncDrainAndBreakReturn() async throws {
    let pair = try PseudoTerminal.open(attributes: .raw)
    try await pair.slave.write(Array("x".utf8))
    try await pair.slave.drain()
    try await pair.slave.sendBreak(duration: .milliseconds(1))
    #expect(try await pair.master.read(upTo: 4) == Array("x".utf8))
  }

  @Test func windowSizeIsSetAndReadOnBothSides() throws {
    let pair = try PseudoTerminal.open(size: WindowSize(rows: 24, columns: 80))
    #expect(try pair.slave.windowSize() == WindowSize(rows: 24, columns: 80))
    let size = WindowSize(rows: 50, columns: 132, pixelWidth: 1056, pixelHeight: 800)
    try pair.master.setWindowSize(size)
    #expect(try pair.slave.windowSize() == size)
    #expect("\(size)" == "50 132")
  }

  @Test func sizeChangesFollowSIGWINCH() async throws {
    let pair = try PseudoTerminal.open(size: WindowSize(rows: 10, columns: 20))
    let changes = try pair.slave.sizeChanges()
    var iterator = changes.makeAsyncIterator()
    // A SIGWINCH without a change yields nothing; the next change is yielded.
    try Sys.kill(Sys.processID, SIGWINCH).get()
    try pair.master.setWindowSize(WindowSize(rows: 11, columns: 21))
    try Sys.kill(Sys.processID, SIGWINCH).get()
    #expect(try await iterator.next() == WindowSize(rows: 11, columns: 21))
    changes.cancel()
    #expect(try await iterator.next() == nil)
  }

  @Test func notATerminalIsATypedError() throws {
    let (reader, writer) = try Pipe.create()
    let error = expectError(.unsupported) {
      try Terminal(adopting: FileDescriptor(rawValue: dup(reader.descriptor.rawValue)))
    }
    #expect(error?.detail == "not a terminal")
    #expect(!Terminal.isTerminal(writer.descriptor))
    expectError(.unsupported) { try Terminal.open("/dev/null") }
    let missing = expectError(.notFound) { try Terminal.open("/dev/hinix-no-such-tty") }
    #expect(missing?.subject == "/dev/hinix-no-such-tty")
    let pair = try PseudoTerminal.open()
    #expect(Terminal.isTerminal(pair.master.descriptor))
    #expect(try pair.slave.path() == pair.slavePath)
    #expect(try pair.master.path().string.hasPrefix("/dev/"))
  }

  @Test func exclusiveModeRefusesOthers() throws {
    let pair = try PseudoTerminal.open()
    let port = try Terminal.open(pair.slavePath, exclusive: true)
    #expect(try port.isExclusive())
    // Root may still open it; another user may not (the node opened to all for the test).
    #expect(chmod(pair.slavePath.string, 0o666) == 0)
    let denied = try run("hinix-test-peer", ["open-terminal-as-nobody", pair.slavePath.string])
    #expect(denied.standardOutput == "permissionDenied\n", "\(denied.standardError)")
    try port.setExclusive(false)
    #expect(try !port.isExclusive())
    let allowed = try run("hinix-test-peer", ["open-terminal-as-nobody", pair.slavePath.string])
    #expect(allowed.standardOutput == "opened\n", "\(allowed.standardError)")
  }
}
