import CHinix
import Glibc
import SystemPackage

/// Terminals: termios2, window size, pseudo-terminals, modem lines and raw ioctl (see ``Sys``).
extension Sys {
  /// The kernel's `struct termios2`, as the shim mirrors it.
  typealias RawTerminalAttributes = hinix_termios

  static let rateMask = HINIX_CBAUD
  static let otherRate = HINIX_BOTHER
  static let inputRateShift = HINIX_IBSHIFT
  static let controlCharacterCount = Int(HINIX_NCCS2)

  static let modemDTR = HINIX_TIOCM_DTR
  static let modemRTS = HINIX_TIOCM_RTS
  static let modemCTS = HINIX_TIOCM_CTS
  static let modemDSR = HINIX_TIOCM_DSR
  static let modemCD = HINIX_TIOCM_CD
  static let modemRI = HINIX_TIOCM_RI

  /// `TCGETS2`: the attributes with the rates in force.
  static func terminalAttributes(_ fd: Int32) -> Result<RawTerminalAttributes, Errno> {
    var raw = hinix_termios()
    return result(hinix_tcgets2(fd, &raw)).map { _ in raw }
  }

  /// `TCSETS2` (`when` 0), `TCSETSW2` (1) or `TCSETSF2` (2).
  static func setTerminalAttributes(_ fd: Int32, _ raw: RawTerminalAttributes, when: Int32) -> Result<
    Void, Errno
  > {
    var raw = raw
    return result(hinix_tcsets2(fd, &raw, when)).map { _ in () }
  }

  /// 1 when `fd` is a terminal; `ENOTTY` when it is not.
  static func isTerminal(_ fd: Int32) -> Result<Void, Errno> {
    result(hinix_isatty(fd)).map { _ in () }
  }

  static func drain(_ fd: Int32) -> Result<Void, Errno> { result(hinix_tcdrain(fd)).map { _ in () } }

  /// `queue`: 0 input, 1 output, 2 both.
  static func flush(_ fd: Int32, queue: Int32) -> Result<Void, Errno> {
    result(hinix_tcflush(fd, queue)).map { _ in () }
  }

  /// `action`: 0 suspend output, 1 resume it, 2 send STOP, 3 send START.
  static func flow(_ fd: Int32, action: Int32) -> Result<Void, Errno> {
    result(hinix_tcflow(fd, action)).map { _ in () }
  }

  /// A break of 0.25–0.5 s (`deciseconds` 0) or of `deciseconds` tenths of a second.
  static func sendBreak(_ fd: Int32, deciseconds: Int32) -> Result<Void, Errno> {
    result(hinix_tcsendbreak(fd, deciseconds)).map { _ in () }
  }

  static func windowSize(_ fd: Int32) -> Result<
    (rows: UInt16, columns: UInt16, width: UInt16, height: UInt16), Errno
  > {
    var rows: UInt16 = 0
    var columns: UInt16 = 0
    var width: UInt16 = 0
    var height: UInt16 = 0
    return result(hinix_get_window_size(fd, &rows, &columns, &width, &height)).map { _ in
      (rows, columns, width, height)
    }
  }

  static func setWindowSize(_ fd: Int32, rows: UInt16, columns: UInt16, width: UInt16, height: UInt16)
    -> Result<Void, Errno>
  {
    result(hinix_set_window_size(fd, rows, columns, width, height)).map { _ in () }
  }

  static func setExclusive(_ fd: Int32, _ exclusive: Bool) -> Result<Void, Errno> {
    result(hinix_set_exclusive(fd, exclusive ? 1 : 0)).map { _ in () }
  }

  static func isExclusive(_ fd: Int32) -> Result<Bool, Errno> {
    var exclusive: Int32 = 0
    return result(hinix_get_exclusive(fd, &exclusive)).map { _ in exclusive != 0 }
  }

  static func modemLines(_ fd: Int32) -> Result<Int32, Errno> {
    var lines: Int32 = 0
    return result(hinix_modem_get(fd, &lines)).map { _ in lines }
  }

  /// Raises (`on`) or lowers `lines`.
  static func setModemLines(_ fd: Int32, _ lines: Int32, on: Bool) -> Result<Void, Errno> {
    result(hinix_modem_change(fd, lines, on ? 1 : 0)).map { _ in () }
  }

  /// Starts a `TIOCMIWAIT` on a thread of the shim's; `done(context, result)` runs on that
  /// thread (or on the canceller's, with `-ECANCELED`). Returns the wait's handle.
  static func startModemWait(
    _ fd: Int32, lines: Int32, context: UnsafeMutableRawPointer,
    done: @convention(c) (UnsafeMutableRawPointer?, Int32) -> Void
  ) -> Result<OpaquePointer, Errno> {
    var handle: UnsafeMutableRawPointer?
    return result(hinix_modem_wait_start(fd, lines, done, context, &handle)).map { _ in OpaquePointer(handle!)
    }
  }

  static func cancelModemWait(_ handle: OpaquePointer) {
    hinix_modem_wait_cancel(UnsafeMutableRawPointer(handle))
  }
  static func releaseModemWait(_ handle: OpaquePointer) {
    hinix_modem_wait_release(UnsafeMutableRawPointer(handle))
  }

  /// The error number of a cancelled modem wait.
  static func isCancellation(_ code: Int32) -> Bool { code == -ECANCELED }

  /// `posix_openpt`, `grantpt`, `unlockpt`: a pseudo-terminal's master, close-on-exec.
  static func openPseudoTerminalMaster(nonBlocking: Bool) -> Result<Int32, Errno> {
    result(hinix_open_pty_master(nonBlocking ? 1 : 0))
  }

  /// `ptsname_r`: the path of the master's slave.
  static func pseudoTerminalName(_ master: Int32) -> Result<FilePath, Errno> {
    var buffer = [CChar](repeating: 0, count: 128)
    return result(hinix_pty_name(master, &buffer, buffer.count)).map { _ in
      FilePath(platformString: buffer)
    }
  }

  /// `TIOCGPTPEER` (Linux 4.13): the slave opened from its master, close-on-exec, not
  /// becoming the caller's controlling terminal.
  static func openPseudoTerminalSlave(_ master: Int32, nonBlocking: Bool) -> Result<Int32, Errno> {
    result(hinix_open_pty_slave(master, nonBlocking ? 1 : 0))
  }

  /// `TIOCGPGRP`: the terminal's foreground process group.
  static func foregroundGroup(_ fd: Int32) -> Result<pid_t, Errno> {
    result(hinix_foreground_group(fd))
  }

  /// For tests: a mount namespace of this (single-threaded) process's own whose `/dev/pts`
  /// allows only `max` pseudo-terminals.
  package static func enterPrivateDevpts(max: Int32) -> Result<Void, Errno> {
    result(hinix_private_devpts(max)).map { _ in () }
  }

  static func ioctl(_ fd: Int32, _ request: UInt, _ argument: UnsafeMutableRawPointer?) -> Result<
    Int32, Errno
  > {
    result(hinix_ioctl_pointer(fd, request, argument))
  }

  static func ioctl(_ fd: Int32, _ request: UInt, value: UInt) -> Result<Int32, Errno> {
    result(hinix_ioctl_value(fd, request, value))
  }

  static func deviceNumbers(_ device: UInt64) -> (major: UInt32, minor: UInt32) {
    (hinix_major(device), hinix_minor(device))
  }
}
