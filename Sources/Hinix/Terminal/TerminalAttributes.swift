import Glibc

/// A terminal's attributes (its `termios`): the four mode sets, the control characters, and the
/// line's rate, framing and flow control, as one value to read, change and write back.
///
/// Read with ``Terminal/attributes()``, change, and apply with
/// ``Terminal/setAttributes(_:when:)``. Hinix reads and writes the kernel's `termios2`, so the
/// rate is any number of bits per second, not only the standard ones: 250000 is set with
/// `BOTHER` and read back as 250000, and changing another attribute later keeps it (plain
/// `tcsetattr` would lose it).
///
/// A pseudo-terminal keeps 8 data bits, no parity bit and the receiver on whatever is set
/// (Linux's pty driver forces them); its rate is only a number, which it keeps.
///
/// ```swift
/// var attributes = try port.attributes()
/// attributes.makeRaw()
/// attributes.baudRate = 250_000
/// attributes.parity = .even
/// attributes.flowControl = .hardware
/// try port.setAttributes(attributes)
/// ```
public struct TerminalAttributes: Sendable, Hashable {
  /// The input modes (`c_iflag`).
  public var inputModes: InputModes
  /// The output modes (`c_oflag`).
  public var outputModes: OutputModes
  /// The control modes (`c_cflag`) other than the rate bits, which ``baudRate`` and
  /// ``inputBaudRate`` hold.
  public var controlModes: ControlModes
  /// The local modes (`c_lflag`).
  public var localModes: LocalModes
  /// The line discipline (`c_line`; 0 is N_TTY, the ordinary one).
  public var lineDiscipline: UInt8
  /// The special characters and the non-canonical read's ``ControlCharacters/minimum`` and
  /// ``ControlCharacters/time`` (`c_cc`).
  public var controlCharacters: ControlCharacters
  /// The output rate, and the input rate unless ``inputBaudRate`` differs.
  public var baudRate: BaudRate
  /// The input rate when it differs from the output rate; `nil` when it is the same (the usual
  /// case: most hardware has one clock).
  public var inputBaudRate: BaudRate?

  /// Canonical attributes, as `stty sane` sets them: lines edited with echo, the usual
  /// special characters and signals, CR translated to NL on input and NL to CR NL on output,
  /// 38400 bits per second, 8 data bits, the receiver on and the modem lines ignored.
  public static var canonical: TerminalAttributes {
    var attributes = TerminalAttributes(
      inputModes: [], outputModes: [], controlModes: [.enableReceiver, .ignoreModemLines], localModes: [],
      lineDiscipline: 0, controlCharacters: ControlCharacters(), baudRate: 38400, inputBaudRate: nil)
    attributes.makeCanonical()
    return attributes
  }

  /// Raw attributes: bytes pass unchanged in both directions, one at a time, without echo or
  /// signals (`cfmakeraw`), 8 data bits, no parity, and a read returns as soon as one byte is
  /// there.
  public static var raw: TerminalAttributes {
    var attributes = canonical
    attributes.makeRaw()
    return attributes
  }

  /// Every field as given.
  public init(
    inputModes: InputModes, outputModes: OutputModes, controlModes: ControlModes, localModes: LocalModes,
    lineDiscipline: UInt8 = 0, controlCharacters: ControlCharacters, baudRate: BaudRate,
    inputBaudRate: BaudRate? = nil
  ) {
    self.inputModes = inputModes
    self.outputModes = outputModes
    self.controlModes = controlModes
    self.localModes = localModes
    self.lineDiscipline = lineDiscipline
    self.controlCharacters = controlCharacters
    self.baudRate = baudRate
    self.inputBaudRate = inputBaudRate
  }

  /// Makes these attributes raw, as `cfmakeraw` does: no input or output processing, no echo,
  /// no canonical lines, no signals from special characters, 8 data bits without parity, and a
  /// read that returns as soon as one byte is there (`VMIN` 1, `VTIME` 0). Like `cfmakeraw`
  /// it also turns XON/XOFF output flow control (`IXON`) off, so ^S and ^Q pass as bytes; the
  /// rate, the stop bits and hardware flow control are kept.
  public mutating func makeRaw() {
    inputModes.subtract([
      .ignoreBreak, .interruptOnBreak, .markParityErrors, .stripEighthBit, .mapNewlineToReturn, .ignoreReturn,
      .mapReturnToNewline, .outputFlowControl,
    ])
    outputModes.remove(.postProcess)
    localModes.subtract([.echo, .echoNewline, .canonical, .signals, .extendedInput])
    dataBits = .eight
    parity = .none
    controlCharacters.minimum = 1
    controlCharacters.time = 0
  }

  /// Makes these attributes canonical, as `stty sane` does: lines edited with echo, signals
  /// from ^C, ^\ and ^Z, newline output as CR LF, the usual special characters, 8 data bits
  /// without parity. The rate, the stop bits and hardware flow control are kept.
  public mutating func makeCanonical() {
    inputModes = [.interruptOnBreak, .mapReturnToNewline, .outputFlowControl, .ringBellWhenFull, .utf8]
    outputModes = [.postProcess, .mapNewlineToReturnNewline]
    localModes = [
      .signals, .canonical, .extendedInput, .echo, .echoErase, .echoKill, .echoControl, .echoKillErase,
    ]
    controlModes.insert(.enableReceiver)
    dataBits = .eight
    parity = .none
    controlCharacters = ControlCharacters()
  }

  // MARK: Framing and flow control

  /// Data bits per character (`CSIZE`).
  public enum DataBits: Int, Sendable, Hashable, CaseIterable {
    /// 5 bits (`CS5`).
    case five = 5
    /// 6 bits (`CS6`).
    case six
    /// 7 bits (`CS7`).
    case seven
    /// 8 bits (`CS8`).
    case eight

    var flag: ControlModes {
      switch self {
      case .five: ControlModes(rawValue: UInt32(CS5))
      case .six: ControlModes(rawValue: UInt32(CS6))
      case .seven: ControlModes(rawValue: UInt32(CS7))
      case .eight: ControlModes(rawValue: UInt32(CS8))
      }
    }
  }

  /// The parity bit of each character.
  public enum Parity: String, Sendable, Hashable, CaseIterable {
    /// No parity bit.
    case none
    /// Even parity (`PARENB`).
    case even
    /// Odd parity (`PARENB | PARODD`).
    case odd
    /// A parity bit always 1 (`PARENB | PARODD | CMSPAR`).
    case mark
    /// A parity bit always 0 (`PARENB | CMSPAR`).
    case space
  }

  /// Stop bits after each character (`CSTOPB`).
  public enum StopBits: Int, Sendable, Hashable, CaseIterable {
    /// One stop bit.
    case one = 1
    /// Two stop bits (`CSTOPB`).
    case two
  }

  /// How the two sides pause each other.
  public enum FlowControl: String, Sendable, Hashable, CaseIterable {
    /// None.
    case none
    /// RTS/CTS lines (`CRTSCTS`).
    case hardware
    /// XON/XOFF characters in both directions (`IXON | IXOFF`).
    case software
  }

  /// Data bits per character, from the control modes.
  public var dataBits: DataBits {
    get {
      let size = controlModes.rawValue & UInt32(CSIZE)
      return DataBits.allCases.first { $0.flag.rawValue == size } ?? .eight
    }
    set {
      controlModes.remove(ControlModes(rawValue: UInt32(CSIZE)))
      controlModes.insert(newValue.flag)
    }
  }

  /// The parity, from the control modes.
  public var parity: Parity {
    get {
      guard controlModes.contains(.parity) else { return .none }
      switch (controlModes.contains(.oddParity), controlModes.contains(.stickParity)) {
      case (false, false): return .even
      case (true, false): return .odd
      case (true, true): return .mark
      case (false, true): return .space
      }
    }
    set {
      controlModes.subtract([.parity, .oddParity, .stickParity])
      switch newValue {
      case .none: break
      case .even: controlModes.insert(.parity)
      case .odd: controlModes.formUnion([.parity, .oddParity])
      case .mark: controlModes.formUnion([.parity, .oddParity, .stickParity])
      case .space: controlModes.formUnion([.parity, .stickParity])
      }
    }
  }

  /// Stop bits, from the control modes.
  public var stopBits: StopBits {
    get { controlModes.contains(.twoStopBits) ? .two : .one }
    set {
      if newValue == .two { controlModes.insert(.twoStopBits) } else { controlModes.remove(.twoStopBits) }
    }
  }

  /// Flow control, from the control and input modes: hardware when `CRTSCTS` is set, software
  /// when both `IXON` and `IXOFF` are, none otherwise. Setting it sets exactly those flags.
  public var flowControl: FlowControl {
    get {
      if controlModes.contains(.hardwareFlowControl) { return .hardware }
      if inputModes.isSuperset(of: [.outputFlowControl, .inputFlowControl]) { return .software }
      return .none
    }
    set {
      controlModes.remove(.hardwareFlowControl)
      inputModes.subtract([.outputFlowControl, .inputFlowControl])
      switch newValue {
      case .none: break
      case .hardware: controlModes.insert(.hardwareFlowControl)
      case .software: inputModes.formUnion([.outputFlowControl, .inputFlowControl])
      }
    }
  }

  // MARK: The kernel's termios2

  init(_ raw: Sys.RawTerminalAttributes) {
    inputModes = InputModes(rawValue: raw.iflag)
    outputModes = OutputModes(rawValue: raw.oflag)
    let rateBits = Sys.rateMask | (Sys.rateMask << Sys.inputRateShift)
    controlModes = ControlModes(rawValue: raw.cflag & ~rateBits)
    localModes = LocalModes(rawValue: raw.lflag)
    lineDiscipline = raw.line
    controlCharacters = withUnsafeBytes(of: raw.cc) { ControlCharacters(bytes: Array($0)) }
    // The kernel fills both rates in, whichever way they were set.
    baudRate = BaudRate(bitsPerSecond: Int(raw.ospeed))
    inputBaudRate = raw.ispeed == raw.ospeed ? nil : BaudRate(bitsPerSecond: Int(raw.ispeed))
  }

  /// The `termios2` that sets these attributes: a standard rate by its code (as `stty` shows
  /// it), any other with `BOTHER` and the number itself.
  var raw: Sys.RawTerminalAttributes {
    var raw = Sys.RawTerminalAttributes()
    raw.iflag = inputModes.rawValue
    raw.oflag = outputModes.rawValue
    raw.cflag = controlModes.rawValue & ~(Sys.rateMask | (Sys.rateMask << Sys.inputRateShift))
    raw.lflag = localModes.rawValue
    raw.line = lineDiscipline
    withUnsafeMutableBytes(of: &raw.cc) { bytes in
      for index in bytes.indices { bytes[index] = controlCharacters.bytes[index] }
    }
    raw.cflag |= baudRate.code ?? Sys.otherRate
    raw.ospeed = UInt32(clamping: baudRate.bitsPerSecond)
    if let input = inputBaudRate, input != baudRate {
      raw.cflag |= (input.code ?? Sys.otherRate) << Sys.inputRateShift
      raw.ispeed = UInt32(clamping: input.bitsPerSecond)
    } else {
      raw.ispeed = raw.ospeed
    }
    return raw
  }
}

/// A line's rate in bits per second: one of the standard rates or any other (Linux sets those
/// with `termios2` and `BOTHER`).
public struct BaudRate: Sendable, Hashable, Comparable, ExpressibleByIntegerLiteral, CustomStringConvertible {
  /// Bits per second; 0 hangs up the line (drops DTR) when set on hardware.
  public let bitsPerSecond: Int

  /// A rate of `bitsPerSecond`.
  public init(bitsPerSecond: Int) {
    self.bitsPerSecond = bitsPerSecond
  }

  /// A rate from an integer literal: `let rate: BaudRate = 115_200`.
  public init(integerLiteral value: Int) {
    self.init(bitsPerSecond: value)
  }

  /// The rates `termios` has a code for (`B50` … `B4000000`); the others need `BOTHER`.
  public static let standardRates: [BaudRate] = standardCodes.map { BaudRate(bitsPerSecond: $0.rate) }

  /// Whether the rate has a standard code (`B9600`, `B115200`, …).
  public var isStandard: Bool { code != nil }

  /// Orders rates by speed.
  public static func < (left: BaudRate, right: BaudRate) -> Bool { left.bitsPerSecond < right.bitsPerSecond }

  /// The bits per second, as a number.
  public var description: String { "\(bitsPerSecond)" }

  /// The `Bnnn` code of a standard rate.
  var code: UInt32? { BaudRate.standardCodes.first { $0.rate == bitsPerSecond }?.code }

  private static let standardCodes: [(rate: Int, code: UInt32)] = [
    (0, 0o0), (50, 0o1), (75, 0o2), (110, 0o3), (134, 0o4), (150, 0o5), (200, 0o6), (300, 0o7), (600, 0o10),
    (1200, 0o11), (1800, 0o12), (2400, 0o13), (4800, 0o14), (9600, 0o15), (19200, 0o16), (38400, 0o17),
    (57600, 0o10001), (115_200, 0o10002), (230_400, 0o10003), (460_800, 0o10004), (500_000, 0o10005),
    (576_000, 0o10006), (921_600, 0o10007), (1_000_000, 0o10010), (1_152_000, 0o10011),
    (1_500_000, 0o10012), (2_000_000, 0o10013), (2_500_000, 0o10014), (3_000_000, 0o10015),
    (3_500_000, 0o10016), (4_000_000, 0o10017),
  ]
}

extension TerminalAttributes {
  /// Input modes (`c_iflag`).
  public struct InputModes: OptionSet, Sendable, Hashable {
    /// The flag bits.
    public let rawValue: UInt32
    /// The modes of these bits.
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// Ignore a break condition (`IGNBRK`).
    public static let ignoreBreak = InputModes(rawValue: UInt32(IGNBRK))
    /// A break flushes the queues and sends SIGINT to the foreground group (`BRKINT`).
    public static let interruptOnBreak = InputModes(rawValue: UInt32(BRKINT))
    /// Ignore characters with framing or parity errors (`IGNPAR`).
    public static let ignoreParityErrors = InputModes(rawValue: UInt32(IGNPAR))
    /// Mark parity errors with `\377 \0` (`PARMRK`).
    public static let markParityErrors = InputModes(rawValue: UInt32(PARMRK))
    /// Check parity on input (`INPCK`).
    public static let checkParity = InputModes(rawValue: UInt32(INPCK))
    /// Strip the eighth bit (`ISTRIP`).
    public static let stripEighthBit = InputModes(rawValue: UInt32(ISTRIP))
    /// Translate NL to CR on input (`INLCR`).
    public static let mapNewlineToReturn = InputModes(rawValue: UInt32(INLCR))
    /// Ignore CR on input (`IGNCR`).
    public static let ignoreReturn = InputModes(rawValue: UInt32(IGNCR))
    /// Translate CR to NL on input (`ICRNL`).
    public static let mapReturnToNewline = InputModes(rawValue: UInt32(ICRNL))
    /// XON/XOFF flow control of output (`IXON`).
    public static let outputFlowControl = InputModes(rawValue: UInt32(IXON))
    /// Any character restarts stopped output (`IXANY`).
    public static let restartOnAny = InputModes(rawValue: UInt32(IXANY))
    /// XON/XOFF flow control of input (`IXOFF`).
    public static let inputFlowControl = InputModes(rawValue: UInt32(IXOFF))
    /// Ring the bell when the input queue is full (`IMAXBEL`).
    public static let ringBellWhenFull = InputModes(rawValue: UInt32(IMAXBEL))
    /// Input is UTF-8, so erasing in canonical mode removes whole characters (`IUTF8`).
    public static let utf8 = InputModes(rawValue: UInt32(IUTF8))
  }

  /// Output modes (`c_oflag`).
  public struct OutputModes: OptionSet, Sendable, Hashable {
    /// The flag bits.
    public let rawValue: UInt32
    /// The modes of these bits.
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// Process output as the other output flags say (`OPOST`).
    public static let postProcess = OutputModes(rawValue: UInt32(OPOST))
    /// Translate NL to CR-NL on output (`ONLCR`).
    public static let mapNewlineToReturnNewline = OutputModes(rawValue: UInt32(ONLCR))
    /// Translate CR to NL on output (`OCRNL`).
    public static let mapReturnToNewline = OutputModes(rawValue: UInt32(OCRNL))
    /// Output no CR in column 0 (`ONOCR`).
    public static let noReturnAtColumnZero = OutputModes(rawValue: UInt32(ONOCR))
    /// NL also does the CR function (`ONLRET`).
    public static let newlineReturns = OutputModes(rawValue: UInt32(ONLRET))
    /// Expand tabs to spaces (`XTABS`, the `TAB3` delay value).
    public static let expandTabs = OutputModes(rawValue: UInt32(TAB3))
  }

  /// Control modes (`c_cflag`), without the rate bits.
  public struct ControlModes: OptionSet, Sendable, Hashable {
    /// The flag bits.
    public let rawValue: UInt32
    /// The modes of these bits.
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// Two stop bits instead of one (`CSTOPB`); see ``TerminalAttributes/stopBits``.
    public static let twoStopBits = ControlModes(rawValue: UInt32(CSTOPB))
    /// Enable the receiver (`CREAD`).
    public static let enableReceiver = ControlModes(rawValue: UInt32(CREAD))
    /// Generate and check parity (`PARENB`); see ``TerminalAttributes/parity``.
    public static let parity = ControlModes(rawValue: UInt32(PARENB))
    /// Odd parity instead of even (`PARODD`).
    public static let oddParity = ControlModes(rawValue: UInt32(PARODD))
    /// Mark or space ("stick") parity (`CMSPAR`).
    public static let stickParity = ControlModes(rawValue: UInt32(CMSPAR))
    /// Lower the modem lines when the last process closes the device (`HUPCL`).
    public static let hangUpOnClose = ControlModes(rawValue: UInt32(HUPCL))
    /// Ignore the modem control lines: open and read without waiting for carrier (`CLOCAL`).
    public static let ignoreModemLines = ControlModes(rawValue: UInt32(CLOCAL))
    /// RTS/CTS hardware flow control (`CRTSCTS`); see ``TerminalAttributes/flowControl``.
    public static let hardwareFlowControl = ControlModes(rawValue: UInt32(CRTSCTS))
  }

  /// Local modes (`c_lflag`).
  public struct LocalModes: OptionSet, Sendable, Hashable {
    /// The flag bits.
    public let rawValue: UInt32
    /// The modes of these bits.
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// INTR, QUIT, SUSP and DSUSP characters send their signals (`ISIG`).
    public static let signals = LocalModes(rawValue: UInt32(ISIG))
    /// Canonical input: a read returns whole edited lines (`ICANON`).
    public static let canonical = LocalModes(rawValue: UInt32(ICANON))
    /// Echo input characters (`ECHO`).
    public static let echo = LocalModes(rawValue: UInt32(ECHO))
    /// In canonical mode, ERASE erases the character before on screen (`ECHOE`).
    public static let echoErase = LocalModes(rawValue: UInt32(ECHOE))
    /// In canonical mode, KILL erases the line (`ECHOK`).
    public static let echoKill = LocalModes(rawValue: UInt32(ECHOK))
    /// Echo NL even without `ECHO` (`ECHONL`).
    public static let echoNewline = LocalModes(rawValue: UInt32(ECHONL))
    /// Echo control characters as `^X` (`ECHOCTL`).
    public static let echoControl = LocalModes(rawValue: UInt32(ECHOCTL))
    /// KILL erases the line character by character (`ECHOKE`).
    public static let echoKillErase = LocalModes(rawValue: UInt32(ECHOKE))
    /// Do not flush the queues on INTR, QUIT or SUSP (`NOFLSH`).
    public static let noFlush = LocalModes(rawValue: UInt32(NOFLSH))
    /// A background process writing to the terminal gets SIGTTOU (`TOSTOP`).
    public static let stopBackgroundOutput = LocalModes(rawValue: UInt32(TOSTOP))
    /// Implementation-defined input processing: LNEXT, WERASE, REPRINT (`IEXTEN`).
    public static let extendedInput = LocalModes(rawValue: UInt32(IEXTEN))
  }

  /// The special characters and the timing of non-canonical reads (`c_cc`). A character of
  /// 0 (`_POSIX_VDISABLE`) disables its function.
  public struct ControlCharacters: Sendable, Hashable {
    /// The raw array, indexed by `VINTR`, `VMIN`, ….
    var bytes: [UInt8]

    /// Linux's defaults: ^C, ^\, DEL, ^U, ^D, ^Q, ^S, ^Z, ^R, ^O, ^W, ^V; minimum 1, time 0.
    public init() {
      bytes = [UInt8](repeating: 0, count: Sys.controlCharacterCount)
      interrupt = 0x03
      quit = 0x1C
      erase = 0x7F
      kill = 0x15
      endOfFile = 0x04
      minimum = 1
      start = 0x11
      stop = 0x13
      suspend = 0x1A
      reprint = 0x12
      discard = 0x0F
      wordErase = 0x17
      literalNext = 0x16
    }

    init(bytes: [UInt8]) { self.bytes = bytes }

    private subscript(_ index: Int32) -> UInt8 {
      get { bytes[Int(index)] }
      set { bytes[Int(index)] = newValue }
    }

    /// Sends SIGINT (`VINTR`, ^C).
    public var interrupt: UInt8 {
      get { self[VINTR] }
      set { self[VINTR] = newValue }
    }
    /// Sends SIGQUIT (`VQUIT`, ^\\).
    public var quit: UInt8 {
      get { self[VQUIT] }
      set { self[VQUIT] = newValue }
    }
    /// Erases a character (`VERASE`, DEL).
    public var erase: UInt8 {
      get { self[VERASE] }
      set { self[VERASE] = newValue }
    }
    /// Erases the line (`VKILL`, ^U).
    public var kill: UInt8 {
      get { self[VKILL] }
      set { self[VKILL] = newValue }
    }
    /// Ends the input: a read returns what the line holds, or 0 (`VEOF`, ^D).
    public var endOfFile: UInt8 {
      get { self[VEOF] }
      set { self[VEOF] = newValue }
    }
    /// An extra end-of-line character (`VEOL`).
    public var endOfLine: UInt8 {
      get { self[VEOL] }
      set { self[VEOL] = newValue }
    }
    /// Another end-of-line character (`VEOL2`).
    public var endOfLine2: UInt8 {
      get { self[VEOL2] }
      set { self[VEOL2] = newValue }
    }
    /// Restarts stopped output (`VSTART`, ^Q).
    public var start: UInt8 {
      get { self[VSTART] }
      set { self[VSTART] = newValue }
    }
    /// Stops output (`VSTOP`, ^S).
    public var stop: UInt8 {
      get { self[VSTOP] }
      set { self[VSTOP] = newValue }
    }
    /// Sends SIGTSTP (`VSUSP`, ^Z).
    public var suspend: UInt8 {
      get { self[VSUSP] }
      set { self[VSUSP] = newValue }
    }
    /// Reprints the line (`VREPRINT`, ^R).
    public var reprint: UInt8 {
      get { self[VREPRINT] }
      set { self[VREPRINT] = newValue }
    }
    /// Toggles discarding output (`VDISCARD`, ^O).
    public var discard: UInt8 {
      get { self[VDISCARD] }
      set { self[VDISCARD] = newValue }
    }
    /// Erases a word (`VWERASE`, ^W).
    public var wordErase: UInt8 {
      get { self[VWERASE] }
      set { self[VWERASE] = newValue }
    }
    /// Quotes the next character (`VLNEXT`, ^V).
    public var literalNext: UInt8 {
      get { self[VLNEXT] }
      set { self[VLNEXT] = newValue }
    }
    /// In non-canonical mode, the fewest bytes a read waits for (`VMIN`).
    public var minimum: UInt8 {
      get { self[VMIN] }
      set { self[VMIN] = newValue }
    }
    /// In non-canonical mode, the read timer in tenths of a second (`VTIME`): with
    /// ``minimum`` 0 a read waits at most this long; otherwise it is the gap allowed between
    /// bytes.
    public var time: UInt8 {
      get { self[VTIME] }
      set { self[VTIME] = newValue }
    }
  }
}
