import Glibc
import SystemPackage

/// Pseudo-terminals: a master, which a program such as a terminal emulator, `script` or a test
/// harness holds, and a slave, which looks like a real terminal to the program running in it.
/// What one side writes the other reads, through the slave's line discipline (echo, line
/// editing, CR/NL translation, signals from ^C) unless the slave is in raw mode.
///
/// ```swift
/// let session = try PseudoTerminal.spawn("/bin/sh", arguments: ["-c", "stty size; exit 3"],
///                                        size: WindowSize(rows: 24, columns: 80))
/// var output: [UInt8] = []
/// while case let chunk = try await session.master.read(upTo: 4096), !chunk.isEmpty {
///   output += chunk  // "24 80\r\n"
/// }
/// let status = try await session.child.wait()  // exit status 3
/// ```
///
/// Once every descriptor of the slave is closed (the child and everything it started have
/// exited), reads on the master end: Linux reports `EIO` there, and Hinix reads it as the end
/// of the stream, after every byte written before was read.
public enum PseudoTerminal {
  /// A pseudo-terminal's two sides.
  public struct Pair: Sendable {
    /// The master: what is written here is the slave's input; its output is read here. It is
    /// non-blocking (`O_NONBLOCK`), so try and async writes never wait for room (a terminal
    /// refuses `RWF_NOWAIT`); the blocking forms wait in `poll`.
    public let master: Terminal
    /// The slave, a terminal like any other for the program that uses it. It is non-blocking,
    /// as the master is; ``PseudoTerminal/openSlave(of:nonBlocking:)`` opens a blocking one to
    /// give a child or C code.
    public let slave: Terminal
    /// The slave's path (`/dev/pts/N`), which another process may open.
    public let slavePath: FilePath
  }

  /// A program running in a pseudo-terminal, as ``spawn(_:arguments:environment:size:attributes:passing:)``
  /// starts it.
  public struct Session: Sendable {
    /// The master: write the program's input here, read its output here.
    public let master: Terminal
    /// The program, whose controlling terminal is the slave.
    public let child: ChildProcess
    /// The slave's path (`/dev/pts/N`).
    public let slavePath: FilePath
  }

  /// Opens a pseudo-terminal: its master (`posix_openpt`, `grantpt`, `unlockpt`) and its slave
  /// (opened from the master, `TIOCGPTPEER`, or by its name before Linux 4.13), both
  /// non-blocking and close-on-exec, neither becoming this process's controlling terminal.
  ///
  /// - Parameters:
  ///   - size: the window size to set before anything runs in it (a new one is 0 by 0).
  ///   - attributes: the slave's attributes to set at once (``TerminalAttributes/raw`` for a
  ///     byte-transparent line); `nil` keeps the kernel's canonical defaults.
  /// - Throws: `.limitExceeded` when the system's pseudo-terminals are used up
  ///   (`/proc/sys/kernel/pty/max`) or this process has too many descriptors open.
  /// The corresponding C functions are `posix_openpt`, `grantpt`, `unlockpt`, `ptsname_r`.
  public static func open(
    size: WindowSize? = nil, attributes: TerminalAttributes? = nil
  ) throws(HinixError) -> Pair {
    let masterFD: Int32
    switch Sys.openPseudoTerminalMaster(nonBlocking: true) {
    case .success(let fd): masterFD = fd
    case .failure(let error):
      throw HinixError.system(error, "posix_openpt", subject: "/dev/ptmx") { error in
        switch error {
        case .noSpace, .resourceTemporarilyUnavailable:
          (.limitExceeded, "every pseudo-terminal the system allows is in use (\(ptyLimitText()))")
        default: nil
        }
      }
    }
    let master = try Terminal(adopting: FileDescriptor(rawValue: masterFD), name: "/dev/ptmx")
    let path: FilePath
    switch Sys.pseudoTerminalName(masterFD) {
    case .success(let name): path = name
    case .failure(let error): throw HinixError.system(error, "ptsname_r", subject: "/dev/ptmx")
    }
    let slaveFD = try openSlave(masterFD, path, nonBlocking: true)
    let slave = try Terminal(adopting: FileDescriptor(rawValue: slaveFD), name: path.printable)
    if let size { try master.setWindowSize(size) }
    if let attributes { try slave.setAttributes(attributes) }
    return Pair(master: master, slave: slave, slavePath: path)
  }

  /// Starts `executable` in a new pseudo-terminal, as its controlling terminal: the child leads
  /// a new session (`setsid`), makes the slave its controlling terminal (`TIOCSCTTY`) and has
  /// it as standard input, output and error. This process keeps only the master.
  ///
  /// The child starts as ``ChildProcess/spawn(_:arguments:environment:passing:cpu:inheriting:)`` starts
  /// one: every signal at its default action, none blocked, no descriptor inherited but those
  /// named. ^C written to the master sends SIGINT to it, and a window-size change on the master
  /// sends it SIGWINCH.
  ///
  /// - Parameters:
  ///   - executable: the path of the program to run.
  ///   - arguments: the arguments after argv[0].
  ///   - environment: `KEY=VALUE` strings; `nil` passes this process's environment.
  ///   - size: the window size the child sees from the start.
  ///   - attributes: the slave's attributes before the child starts; `nil` keeps canonical
  ///     input with echo, as a terminal emulator's shell has.
  ///   - descriptors: more descriptors for the child, by the number it sees (3 and up).
  /// - Throws: the errors of ``open(size:attributes:)`` and of the spawn, naming
  ///   the executable; `.invalidArgument` for a descriptor passed as 0, 1 or 2.
  public static func spawn(
    _ executable: FilePath, arguments: [String] = [], environment: [String]? = nil, size: WindowSize? = nil,
    attributes: TerminalAttributes? = nil, passing descriptors: [FileDescriptor: Int32] = [:]
  ) throws(HinixError) -> Session {
    try spawn(
      executable, argumentBytes: arguments.map { Array($0.utf8) }, environment: environment, size: size,
      attributes: attributes, passing: descriptors)
  }

  /// ``spawn(_:arguments:environment:size:attributes:passing:)`` with arguments given as bytes,
  /// passed to the program as they are (see ``ChildProcess/spawn(_:argumentBytes:environment:passing:cpu:inheriting:)``).
  public static func spawn(
    _ executable: FilePath, argumentBytes arguments: [[UInt8]], environment: [String]? = nil,
    size: WindowSize? = nil, attributes: TerminalAttributes? = nil,
    passing descriptors: [FileDescriptor: Int32] = [:]
  ) throws(HinixError) -> Session {
    if let standard = descriptors.values.first(where: { (0...2).contains($0) }) {
      throw HinixError(
        .invalidArgument, operation: "spawn", subject: executable.printable,
        detail: "descriptor \(standard) is the pseudo-terminal's slave in the child; pass others as 3 and up")
    }
    let pair = try open(size: size, attributes: attributes)
    var passing = descriptors
    // The child's slave is blocking, as programs expect their standard streams; one source
    // goes to one target, so standard output and error are copies of it.
    let childSlave = try openSlave(of: pair)
    let slave = childSlave.descriptor
    let output = OwnedDescriptor(adopting: try slave.duplicateCloseOnExec(subject: pair.slavePath.printable))
    let error = OwnedDescriptor(adopting: try slave.duplicateCloseOnExec(subject: pair.slavePath.printable))
    passing[slave] = 0
    passing[output.descriptor] = 1
    passing[error.descriptor] = 2
    // Every descriptor named in `passing` stays open until the child has its copies.
    let child = try withExtendedLifetime(childSlave) { () throws(HinixError) -> ChildProcess in
      try ChildProcess.spawn(
        executable, argumentBytes: arguments, environment: environment, passing: passing, cpu: nil,
        controllingTerminal: 0)
    }
    _ = consume output
    _ = consume error
    return Session(master: pair.master, child: child, slavePath: pair.slavePath)
  }

  /// Another descriptor of `pair`'s slave, a new open file description: blocking unless asked,
  /// as C code or a child given it expects (``Pair/slave`` itself is non-blocking).
  ///
  /// The corresponding C function is `ioctl` with `TIOCGPTPEER`.
  public static func openSlave(of pair: Pair, nonBlocking: Bool = false) throws(HinixError) -> Terminal {
    let fd = try openSlave(pair.master.descriptor.rawValue, pair.slavePath, nonBlocking: nonBlocking)
    return try Terminal(adopting: FileDescriptor(rawValue: fd), name: pair.slavePath.printable)
  }

  /// The slave of `master`, opened from it (`TIOCGPTPEER`), or by its name before Linux 4.13.
  private static func openSlave(_ master: Int32, _ path: FilePath, nonBlocking: Bool) throws(HinixError)
    -> Int32
  {
    switch Sys.openPseudoTerminalSlave(master, nonBlocking: nonBlocking) {
    case .success(let fd):
      return fd
    case .failure(.inappropriateIOCTLForDevice), .failure(.invalidArgument):
      switch Sys.open(path, O_RDWR | O_NOCTTY | (nonBlocking ? O_NONBLOCK : 0)) {
      case .success(let fd): return fd
      case .failure(let error): throw HinixError.system(error, "open", subject: path.printable)
      }
    case .failure(let error):
      throw HinixError.system(error, "TIOCGPTPEER", subject: path.printable)
    }
  }

  private static func ptyLimitText() -> String {
    "/proc/sys/kernel/pty/nr = \(procValue("/proc/sys/kernel/pty/nr")) in use of /proc/sys/kernel/pty/max = "
      + "\(procValue("/proc/sys/kernel/pty/max")); a devpts mount's max= option can set a lower limit"
  }
}
