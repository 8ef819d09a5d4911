import Glibc

/// A signal: a standard one (`SIGINT`, `SIGTERM`, …) or a real-time one (`SIGRTMIN+n`).
///
/// Spell standard signals with the static members (`.interrupt`), real-time ones with
/// ``realtime(_:)``, and parse what a user typed with ``init(parsing:)`` (`INT`, `SIGINT`, `2`,
/// `RTMIN+3`). Its ``description`` is the name `kill -l` uses, with the `SIG` prefix.
public struct Signal: Sendable, Hashable, Comparable, CustomStringConvertible {
  /// The signal's number.
  public let rawValue: Int32

  /// The signal numbered `rawValue`, if Linux has one (1 to 64).
  public init?(rawValue: Int32) {
    guard rawValue >= 1, rawValue < Sys.signalLimit else { return nil }
    self.rawValue = rawValue
  }

  private init(_ number: Int32) {
    rawValue = number
  }

  /// Hang-up of the controlling terminal, or "reload your configuration" (`SIGHUP`).
  public static let hangUp = Signal(SIGHUP)
  /// Interrupt from the keyboard, Ctrl-C (`SIGINT`).
  public static let interrupt = Signal(SIGINT)
  /// Quit from the keyboard, Ctrl-\ (`SIGQUIT`).
  public static let quit = Signal(SIGQUIT)
  /// Abort (`SIGABRT`).
  public static let abort = Signal(SIGABRT)
  /// Kill; cannot be caught, blocked or ignored (`SIGKILL`).
  public static let kill = Signal(SIGKILL)
  /// User-defined signal 1 (`SIGUSR1`).
  public static let user1 = Signal(SIGUSR1)
  /// User-defined signal 2 (`SIGUSR2`).
  public static let user2 = Signal(SIGUSR2)
  /// Write to a pipe or socket with no reader (`SIGPIPE`).
  public static let pipe = Signal(SIGPIPE)
  /// Timer from `alarm` (`SIGALRM`).
  public static let alarm = Signal(SIGALRM)
  /// Termination request, the polite default of `kill` (`SIGTERM`).
  public static let terminate = Signal(SIGTERM)
  /// A child stopped, continued or ended (`SIGCHLD`).
  public static let child = Signal(SIGCHLD)
  /// Continue if stopped (`SIGCONT`).
  public static let `continue` = Signal(SIGCONT)
  /// Stop; cannot be caught, blocked or ignored (`SIGSTOP`).
  public static let stop = Signal(SIGSTOP)
  /// Stop from the terminal, Ctrl-Z (`SIGTSTP`).
  public static let terminalStop = Signal(SIGTSTP)
  /// The terminal's window size changed (`SIGWINCH`).
  public static let windowChange = Signal(SIGWINCH)
  /// I/O is possible on a descriptor set up for it (`SIGIO`).
  public static let io = Signal(SIGIO)

  /// The real-time signal `SIGRTMIN + offset`, if there is one (glibc keeps the first two
  /// kernel real-time signals for itself, so offsets run from 0 to `SIGRTMAX - SIGRTMIN`).
  /// Real-time signals queue: each `sigqueue` is delivered, in order, with its value.
  public static func realtime(_ offset: Int) -> Signal? {
    let low = Int(Sys.lowestRealtimeSignal)
    guard offset >= 0, offset <= Int(Sys.highestRealtimeSignal) - low else { return nil }
    return Signal(Int32(low + offset))
  }

  /// Whether this is a real-time signal (`SIGRTMIN` to `SIGRTMAX`), which queues.
  public var isRealtime: Bool {
    rawValue >= Sys.lowestRealtimeSignal && rawValue <= Sys.highestRealtimeSignal
  }

  /// Whether a process can catch, block or ignore this signal (all but `SIGKILL` and `SIGSTOP`).
  public var isCatchable: Bool { self != .kill && self != .stop }

  /// Whether the default action ends the process (all but the signals whose default is to
  /// ignore them, `SIGCHLD`, `SIGCONT`, `SIGURG` and `SIGWINCH`, or to stop it, `SIGSTOP`,
  /// `SIGTSTP`, `SIGTTIN` and `SIGTTOU`).
  public var defaultActionEnds: Bool {
    ![SIGCHLD, SIGCONT, SIGURG, SIGWINCH, SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU].contains(rawValue)
  }

  private static let names: [Int32: String] = [
    SIGHUP: "HUP", SIGINT: "INT", SIGQUIT: "QUIT", SIGILL: "ILL", SIGTRAP: "TRAP", SIGABRT: "ABRT",
    SIGBUS: "BUS", SIGFPE: "FPE", SIGKILL: "KILL", SIGUSR1: "USR1", SIGSEGV: "SEGV", SIGUSR2: "USR2",
    SIGPIPE: "PIPE", SIGALRM: "ALRM", SIGTERM: "TERM", SIGSTKFLT: "STKFLT", SIGCHLD: "CHLD",
    SIGCONT: "CONT", SIGSTOP: "STOP", SIGTSTP: "TSTP", SIGTTIN: "TTIN", SIGTTOU: "TTOU", SIGURG: "URG",
    SIGXCPU: "XCPU", SIGXFSZ: "XFSZ", SIGVTALRM: "VTALRM", SIGPROF: "PROF", SIGWINCH: "WINCH",
    SIGIO: "IO", SIGPWR: "PWR", SIGSYS: "SYS",
  ]

  /// The name without the `SIG` prefix: `INT`, `RTMIN+3`, or the number for one glibc keeps.
  public var name: String {
    if let name = Signal.names[rawValue] { return name }
    if isRealtime {
      let offset = rawValue - Sys.lowestRealtimeSignal
      return offset == 0 ? "RTMIN" : "RTMIN+\(offset)"
    }
    return "\(rawValue)"
  }

  /// `SIGINT`, `SIGRTMIN+3`, or `signal 32` for a number glibc keeps for itself.
  public var description: String {
    Signal.names[rawValue] != nil || isRealtime ? "SIG\(name)" : "signal \(rawValue)"
  }

  /// The signal a user named: `INT`, `SIGINT`, `int`, `2`, `RTMIN`, `RTMIN+3`, `RTMAX-1`;
  /// nil for anything else.
  public init?(parsing text: String) {
    var name = text.uppercased()
    if let number = Int32(name) {
      self.init(rawValue: number)
      return
    }
    if name.hasPrefix("SIG") { name.removeFirst(3) }
    if let (number, _) = Signal.names.first(where: { $0.value == name }) {
      self.init(number)
      return
    }
    let low = Int(Sys.lowestRealtimeSignal)
    let high = Int(Sys.highestRealtimeSignal)
    let number: Int?
    if name == "RTMIN" {
      number = low
    } else if name == "RTMAX" {
      number = high
    } else if name.hasPrefix("RTMIN+"), let offset = Int(name.dropFirst(6)), offset >= 0, offset <= high - low
    {
      number = low + offset
    } else if name.hasPrefix("RTMAX-"), let offset = Int(name.dropFirst(6)), offset >= 0, offset <= high - low
    {
      number = high - offset
    } else {
      number = nil
    }
    guard let number, number >= low, number <= high else { return nil }
    self.init(Int32(number))
  }

  /// Orders signals by number.
  public static func < (left: Signal, right: Signal) -> Bool { left.rawValue < right.rawValue }
}

/// A set of signals, for watching, blocking and signalfd.
public struct SignalSet: Sendable, Hashable, SetAlgebra, ExpressibleByArrayLiteral, Sequence,
  CustomStringConvertible
{
  /// Signal N is bit N - 1.
  var bits: UInt64

  init(bits: UInt64) {
    self.bits = bits
  }

  /// The empty set.
  public init() {
    bits = 0
  }

  /// The set of `signals`.
  public init(arrayLiteral signals: Signal...) {
    self.init(signals)
  }

  /// Every signal there is, from 1 to 64 (`sigfillset`).
  public static var all: SignalSet { SignalSet(bits: .max) }

  private static func bit(_ signal: Signal) -> UInt64 { 1 << UInt64(signal.rawValue - 1) }

  /// Whether `signal` is in the set.
  public func contains(_ signal: Signal) -> Bool { bits & Self.bit(signal) != 0 }

  /// Adds `signal`; says whether it was new.
  @discardableResult
  public mutating func insert(_ signal: Signal) -> (inserted: Bool, memberAfterInsert: Signal) {
    let new = !contains(signal)
    bits |= Self.bit(signal)
    return (new, signal)
  }

  /// Removes `signal`; returns it if it was there.
  @discardableResult
  public mutating func remove(_ signal: Signal) -> Signal? {
    guard contains(signal) else { return nil }
    bits &= ~Self.bit(signal)
    return signal
  }

  /// Adds `signal`, returning it if it was there already.
  @discardableResult
  public mutating func update(with signal: Signal) -> Signal? {
    defer { bits |= Self.bit(signal) }
    return contains(signal) ? signal : nil
  }

  /// The signals in either set.
  public func union(_ other: SignalSet) -> SignalSet { SignalSet(bits: bits | other.bits) }
  /// The signals in both sets.
  public func intersection(_ other: SignalSet) -> SignalSet { SignalSet(bits: bits & other.bits) }
  /// The signals in one set but not both.
  public func symmetricDifference(_ other: SignalSet) -> SignalSet { SignalSet(bits: bits ^ other.bits) }
  /// Adds the signals of `other`.
  public mutating func formUnion(_ other: SignalSet) { bits |= other.bits }
  /// Keeps only the signals also in `other`.
  public mutating func formIntersection(_ other: SignalSet) { bits &= other.bits }
  /// Keeps the signals in one set but not both.
  public mutating func formSymmetricDifference(_ other: SignalSet) { bits ^= other.bits }

  /// The signals in ascending order.
  public func makeIterator() -> Iterator {
    Iterator(bits: bits)
  }

  /// Walks a set's signals in ascending order, one set bit at a time.
  public struct Iterator: IteratorProtocol, Sendable {
    var bits: UInt64

    /// The next signal of the set, or nil after the last.
    public mutating func next() -> Signal? {
      while bits != 0 {
        let number = Int32(bits.trailingZeroBitCount) + 1
        bits &= bits - 1
        if let signal = Signal(rawValue: number) { return signal }
      }
      return nil
    }
  }

  /// `[SIGINT, SIGTERM]`.
  public var description: String { "[" + map(\.description).joined(separator: ", ") + "]" }
}
