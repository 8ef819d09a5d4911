import Glibc
import SystemPackage

/// A terminal device: a serial port, a pseudo-terminal's master or slave, a console, or the
/// terminal a program runs in. A `Sendable` owner of its descriptor, with every form of
/// ``ByteReader`` and ``ByteWriter`` (blocking, try, timed and async through the reactor).
///
/// Its attributes are one typed value (``TerminalAttributes``), read back with the rate really
/// in force (`TCGETS2`), so any rate works, not only the standard ones. `withRawMode(_:)`
/// restores the attributes on every way out of its body; ``sizeChanges()`` is an async sequence
/// of window sizes, from SIGWINCH.
///
/// ```swift
/// let port = try SerialPort.open("/dev/ttyUSB0", baudRate: 115_200)
/// try await port.write(Array("AT\r".utf8))
/// let reply = try await port.read(upTo: 64)
/// ```
///
/// A read on a pseudo-terminal's master after the last descriptor of its slave closed (the
/// child exited), or on a slave after its master closed, is the end of the stream (0,
/// ``Outcome/ended``): Linux reports `EIO` there, and Hinix reads it as the end, after
/// everything written before was read.
public final class Terminal: ByteReader, ByteWriter, DescriptorOwner, Sendable {
  private let handle: OwnedDescriptor
  /// The path or description used in errors.
  let name: String

  /// The terminal's descriptor, still owned by this value.
  public var descriptor: FileDescriptor { handle.descriptor }

  /// This object's history of waits, which ``WaitStrategy/adaptive`` spins by.
  public let waitHistory = WaitHistory()

  /// What reads and writes do while they cannot go on (``WaitStrategy/adaptive`` unless
  /// changed); any task may change it at any time.
  public var waitStrategy: WaitStrategy {
    get { handle.waitStrategy }
    set { handle.waitStrategy = newValue }
  }

  /// Takes ownership of a terminal's descriptor, checking that it is one.
  ///
  /// - Throws: `.unsupported` when the descriptor is not a terminal (it is closed then, as the
  ///   value that owned it ends).
  public convenience init(adopting descriptor: FileDescriptor) throws(HinixError) {
    try self.init(adopting: descriptor, name: "descriptor \(descriptor.rawValue)")
  }

  init(adopting descriptor: FileDescriptor, name: String) throws(HinixError) {
    handle = OwnedDescriptor(adopting: descriptor)
    self.name = name
    // Writes to a terminal whose other side went (a pty master gone) must not kill the process.
    Pipe.sigpipePolicy
    if case .failure(let error) = Sys.isTerminal(descriptor.rawValue) {
      throw Terminal.notATerminal(error, "TCGETS2", name)
    }
  }

  /// How ``open(_:exclusive:nonBlocking:)`` opens a device.
  ///
  /// Opens `path` for reading and writing without making it the process's controlling
  /// terminal (`O_NOCTTY`), whatever session this process leads. The open itself never waits
  /// (a serial port would wait for carrier detect): it is non-blocking.
  ///
  /// The descriptor then stays non-blocking unless `nonBlocking` is `false`. Every form of
  /// reading and writing works either way (the blocking forms wait in `poll`), but only a
  /// non-blocking terminal keeps the promise of the try and async writes never to wait: a
  /// terminal refuses `RWF_NOWAIT`, and a blocking terminal's `write` waits until it has taken
  /// every byte (a port stopped by flow control could take none for ever). Ask for a blocking
  /// descriptor to hand it to C code or a child that expects one.
  ///
  /// - Parameters:
  ///   - path: the terminal's node, such as `/dev/ttyUSB0` or `/dev/pts/3`.
  ///   - exclusive: refuse any further open of the device, except by root, until this one
  ///     closes (`TIOCEXCL`).
  ///   - nonBlocking: keep the descriptor non-blocking (`O_NONBLOCK`); `false` makes it
  ///     blocking after the open.
  /// - Throws: `.notFound`, `.permissionDenied` (also when another process holds the device
  ///   exclusively: `EBUSY`), `.unsupported` when the file is not a terminal, each naming the
  ///   path.
  /// The corresponding C functions are `open` and `ioctl` with `TIOCEXCL`.
  public static func open(
    _ path: FilePath, exclusive: Bool = false, nonBlocking: Bool = true
  ) throws(HinixError) -> Terminal {
    let fd: Int32
    switch Sys.open(path, O_RDWR | O_NOCTTY | O_NONBLOCK) {
    case .success(let opened): fd = opened
    case .failure(let error):
      throw HinixError.system(error, "open", subject: path.printable) { error in
        switch error {
        case .resourceBusy:
          (.permissionDenied, "the device is open exclusively (TIOCEXCL) by another process")
        case .noSuchAddressOrDevice, .operationNotSupportedByDevice:
          (.notFound, "no device answers at this node (unplugged, or no driver)")
        default: nil
        }
      }
    }
    let terminal = try Terminal(adopting: FileDescriptor(rawValue: fd), name: path.printable)
    if exclusive { try terminal.setExclusive(true) }
    if !nonBlocking, case .failure(let error) = Sys.fcntl(fd, F_SETFL, O_RDWR) {
      throw HinixError.system(error, "fcntl(F_SETFL)", subject: path.printable)
    }
    return terminal
  }

  /// A close-on-exec duplicate of standard input (descriptor 0), if it is a terminal.
  ///
  /// - Throws: `.unsupported` when standard input is not a terminal.
  public static func standardInput() throws(HinixError) -> Terminal {
    try standardStream(0, "standard input")
  }

  /// A close-on-exec duplicate of standard output (1) or standard error (2), if it is a
  /// terminal.
  public static func standardOutput(_ stream: Int32 = 1) throws(HinixError) -> Terminal {
    try standardStream(stream, stream == 2 ? "standard error" : "standard output")
  }

  private static func standardStream(_ fd: Int32, _ name: String) throws(HinixError) -> Terminal {
    if case .failure(let error) = Sys.isTerminal(fd) { throw notATerminal(error, "TCGETS2", name) }
    return try Terminal(
      adopting: FileDescriptor(rawValue: fd).duplicateCloseOnExec(subject: name), name: name)
  }

  /// Whether `descriptor` is a terminal (`isatty`).
  public static func isTerminal(_ descriptor: FileDescriptor) -> Bool {
    if case .success = Sys.isTerminal(descriptor.rawValue) { return true }
    return false
  }

  /// The path of the terminal's device, as `/proc/self/fd` shows it (`/dev/pts/3`,
  /// `/dev/ttyUSB0`; a pseudo-terminal's master shows `/dev/ptmx`).
  public func path() throws(HinixError) -> FilePath {
    switch Sys.descriptorTarget(descriptor.rawValue) {
    case .success(let path): return path
    case .failure(let error): throw HinixError.system(error, "readlink", subject: name)
    }
  }

  // MARK: Attributes

  /// When a change of attributes takes effect.
  public enum Timing: Int32, Sendable, Hashable {
    /// At once (`TCSANOW`).
    case now = 0
    /// After the output written so far has been sent (`TCSADRAIN`).
    case afterDrain = 1
    /// After the output has been sent, discarding the input not yet read (`TCSAFLUSH`).
    case afterDrainDiscardingInput = 2
  }

  /// The terminal's attributes, with the rates in force (`TCGETS2`: an arbitrary rate reads
  /// back as itself, where `tcgetattr` would report 0).
  ///
  /// The corresponding C function is `ioctl` with `TCGETS2`.
  public func attributes() throws(HinixError) -> TerminalAttributes {
    switch Sys.terminalAttributes(descriptor.rawValue) {
    case .success(let raw): return TerminalAttributes(raw)
    case .failure(let error): throw HinixError.system(error, "TCGETS2", subject: name)
    }
  }

  /// Applies `attributes` (`TCSETS2`, `TCSETSW2` or `TCSETSF2` as `when` says).
  ///
  /// The rate is set by its standard code when it has one and with `BOTHER` otherwise, so it
  /// survives every later change made through Hinix. A driver that cannot run at the rate may
  /// round it: read ``attributes()`` back to see what is in force.
  ///
  /// - Throws: `.invalidArgument` for a rate below 0 or above 4,294,967,295, or one the driver
  ///   refuses (`EINVAL`), naming the rate.
  /// The corresponding C function is `ioctl` with `TCSETS2`.
  public func setAttributes(_ attributes: TerminalAttributes, when: Timing = .now) throws(HinixError) {
    for rate in [attributes.baudRate, attributes.inputBaudRate ?? attributes.baudRate]
    where UInt32(exactly: rate.bitsPerSecond) == nil {
      throw HinixError(
        .invalidArgument, operation: "TCSETS2", subject: name,
        detail: "rate \(rate) bits per second is outside 0...\(UInt32.max)")
    }
    if case .failure(let error) = Sys.setTerminalAttributes(
      descriptor.rawValue, attributes.raw, when: when.rawValue)
    {
      throw HinixError.system(error, "TCSETS2", subject: name) { error in
        guard error == .invalidArgument else { return nil }
        return (
          .invalidArgument, "the driver refused the attributes (rate \(attributes.baudRate) bits per second)"
        )
      }
    }
  }

  /// Changes the attributes in place: reads them, lets `change` edit them, and applies them.
  public func updateAttributes(
    when: Timing = .now, _ change: (inout TerminalAttributes) throws(HinixError) -> Void
  ) throws(HinixError) {
    var attributes = try attributes()
    try change(&attributes)
    try setAttributes(attributes, when: when)
  }

  /// Runs `body` with the terminal in raw mode (``TerminalAttributes/makeRaw()``), then puts
  /// the attributes back as they were, however `body` ends: a return or a thrown error.
  ///
  /// Both changes take effect at once (`TCSANOW`), never waiting for output to drain, which a
  /// port stopped by flow control might never do. When `body` returned but the attributes
  /// could not be put back, that error is thrown; when `body` threw, its error is.
  ///
  /// The corresponding C functions are `tcgetattr` and `tcsetattr` (as `TCGETS2`, `TCSETS2`).
  @_disfavoredOverload
  public func withRawMode<Result>(_ body: () throws -> Result) throws -> Result {
    let saved = try enterRawMode()
    let result: Result
    do {
      result = try body()
    } catch {
      try? setAttributes(saved)
      throw error
    }
    try setAttributes(saved)
    return result
  }

  /// Runs the async `body` with the terminal in raw mode, then puts the attributes back as they
  /// were however `body` ends: a return, a thrown error, or the task's cancellation (as the
  /// synchronous form does).
  public func withRawMode<Result>(
    isolation: isolated (any Actor)? = #isolation, _ body: () async throws -> Result
  ) async throws -> Result {
    let saved = try enterRawMode()
    let result: Result
    do {
      result = try await body()
    } catch {
      try? setAttributes(saved)
      throw error
    }
    try setAttributes(saved)
    return result
  }

  /// Sets raw mode and returns the attributes before.
  private func enterRawMode() throws(HinixError) -> TerminalAttributes {
    let saved = try attributes()
    var raw = saved
    raw.makeRaw()
    try setAttributes(raw)
    return saved
  }

  // MARK: Line control

  /// Which queue ``flush(_:)`` discards.
  public enum Queue: Int32, Sendable, Hashable {
    /// Received and not read (`TCIFLUSH`).
    case input = 0
    /// Written and not sent (`TCOFLUSH`).
    case output = 1
    /// Both (`TCIOFLUSH`).
    case both = 2
  }

  /// Waits until all output written so far has been sent, blocking the thread.
  ///
  /// The corresponding C function is `tcdrain`.
  @available(*, noasync, message: "blocks its thread; use `await drain()` in async code")
  public func blockingDrain() throws(HinixError) {
    if case .failure(let error) = Sys.drain(descriptor.rawValue) {
      throw HinixError.system(error, "tcdrain", subject: name)
    }
  }

  /// Waits until all output written so far has been sent, suspending the task: it looks at the
  /// output queue (`TIOCOUTQ`) every few milliseconds (1 ms, doubling to 10 ms) until it is
  /// empty, then lets `tcdrain` wait for the last character to leave the line.
  public func drain() async throws {
    var pause = Duration.milliseconds(1)
    while try outputQueueCount() > 0 {
      try await Task.sleep(for: pause)
      pause = min(pause * 2, .milliseconds(10))
    }
    if case .failure(let error) = Sys.drain(descriptor.rawValue) {
      throw HinixError.system(error, "tcdrain", subject: name)
    }
  }

  /// Bytes written and not yet sent (`TIOCOUTQ`).
  public func outputQueueCount() throws(HinixError) -> Int {
    try queueCount(Terminal.outputQueueRequest, "TIOCOUTQ")
  }

  /// Bytes received and not yet read (`FIONREAD`).
  public func inputQueueCount() throws(HinixError) -> Int {
    try queueCount(Terminal.inputQueueRequest, "FIONREAD")
  }

  private func queueCount(_ request: UInt, _ operation: String) throws(HinixError) -> Int {
    var count: Int32 = 0
    switch Sys.ioctl(descriptor.rawValue, request, &count) {
    case .success: return Int(count)
    case .failure(let error): throw HinixError.system(error, operation, subject: name)
    }
  }

  private static let outputQueueRequest = UInt(TIOCOUTQ)
  private static let inputQueueRequest = UInt(FIONREAD)

  /// Discards the queue named.
  ///
  /// The corresponding C function is `tcflush`.
  public func flush(_ queue: Queue) throws(HinixError) {
    if case .failure(let error) = Sys.flush(descriptor.rawValue, queue: queue.rawValue) {
      throw HinixError.system(error, "tcflush", subject: name)
    }
  }

  /// Sends a break (the line held at 0): for 0.25 to 0.5 seconds by default (and for a
  /// `duration` of zero), or for `duration` rounded up to tenths of a second. The call returns
  /// when the break ends.
  ///
  /// - Throws: `.invalidArgument` for a duration below 0 or above an hour.
  /// The corresponding C function is `tcsendbreak` (`TCSBRK`, `TCSBRKP`).
  @available(*, noasync, message: "blocks its thread for the break; use `await sendBreak()` in async code")
  public func blockingSendBreak(duration: Duration? = nil) throws(HinixError) {
    var tenths: Int32 = 0
    if let duration {
      guard duration >= .zero, duration <= .seconds(3600) else {
        throw HinixError(
          .invalidArgument, operation: "tcsendbreak", subject: name,
          detail: "a break of \(duration) is outside 0 seconds...1 hour")
      }
      let (seconds, attoseconds) = duration.components
      tenths = Int32(seconds * 10 + (attoseconds + 99_999_999_999_999_999) / 100_000_000_000_000_000)
    }
    if case .failure(let error) = Sys.sendBreak(descriptor.rawValue, deciseconds: tenths) {
      throw HinixError.system(error, "tcsendbreak", subject: name)
    }
  }

  /// Sends a break, on a thread of its own so the task's thread is not held for it.
  public func sendBreak(duration: Duration? = nil) async throws {
    try await Reactor.offThePool { () throws(HinixError) in try self.blockingSendBreak(duration: duration) }
  }

  /// What ``flow(_:)`` does.
  public enum FlowAction: Int32, Sendable, Hashable {
    /// Suspend output (`TCOOFF`).
    case suspendOutput = 0
    /// Resume suspended output (`TCOON`).
    case resumeOutput = 1
    /// Send the STOP character, asking the other side to pause (`TCIOFF`).
    case sendStop = 2
    /// Send the START character, letting the other side go on (`TCION`).
    case sendStart = 3
  }

  /// Suspends or resumes output, or sends STOP or START to the other side.
  ///
  /// The corresponding C function is `tcflow`.
  public func flow(_ action: FlowAction) throws(HinixError) {
    if case .failure(let error) = Sys.flow(descriptor.rawValue, action: action.rawValue) {
      throw HinixError.system(error, "tcflow", subject: name)
    }
  }

  /// Makes the device refuse further opens (except by root) until this descriptor closes
  /// (`TIOCEXCL`), or lifts that (`TIOCNXCL`).
  public func setExclusive(_ exclusive: Bool) throws(HinixError) {
    if case .failure(let error) = Sys.setExclusive(descriptor.rawValue, exclusive) {
      throw HinixError.system(error, exclusive ? "TIOCEXCL" : "TIOCNXCL", subject: name)
    }
  }

  /// Whether the device is in exclusive mode (`TIOCGEXCL`).
  public func isExclusive() throws(HinixError) -> Bool {
    switch Sys.isExclusive(descriptor.rawValue) {
    case .success(let exclusive): return exclusive
    case .failure(let error): throw HinixError.system(error, "TIOCGEXCL", subject: name)
    }
  }

  /// The terminal's foreground process group (`TIOCGPGRP`): the group that reads it and gets
  /// the signals of its special characters and of window-size changes.
  public func foregroundProcessGroup() throws(HinixError) -> pid_t {
    switch Sys.foregroundGroup(descriptor.rawValue) {
    case .success(let group): return group
    case .failure(let error): throw HinixError.system(error, "TIOCGPGRP", subject: name)
    }
  }

  // MARK: Errors and threads

  /// The error of a call that needs a terminal on something that is not one.
  static func notATerminal(_ error: Errno, _ operation: String, _ name: String) -> HinixError {
    HinixError.system(error, operation, subject: name) { error in
      error == .inappropriateIOCTLForDevice ? (.unsupported, "not a terminal") : nil
    }
  }
}
