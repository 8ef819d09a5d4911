import CHinix
import Glibc

/// Signals: the handler's installation, sending, masks and signalfd (see ``Sys``).
extension Sys {
  /// What the kernel told about one delivery, as the shim's handler or a signalfd records it.
  typealias SignalRecord = hinix_signal_record

  /// One past the highest signal number.
  static let signalLimit = Int32(HINIX_SIGNAL_LIMIT)

  static var lowestRealtimeSignal: Int32 { hinix_signal_min_realtime() }
  static var highestRealtimeSignal: Int32 { hinix_signal_max_realtime() }

  // MARK: The handler

  /// Sets the pipe the handler writes its records to; set once, before the first install.
  static func setSignalPipe(_ fd: Int32) {
    hinix_signal_set_pipe(fd)
  }

  /// Installs the shim's handler for `signal`, saving the disposition it replaces.
  package static func installSignalHandler(_ signal: Int32) -> Result<Void, Errno> {
    result(hinix_signal_install(signal)).map { _ in () }
  }

  /// Restores exactly the disposition the install saved.
  package static func restoreSignalHandler(_ signal: Int32) -> Result<Void, Errno> {
    result(hinix_signal_restore(signal)).map { _ in () }
  }

  /// The disposition before the handler (or now, when none is installed): 0 default, 1
  /// ignored, 2 the program's own handler.
  static func previousDisposition(_ signal: Int32) -> Result<Int32, Errno> {
    result(hinix_signal_previous_kind(signal))
  }

  /// Makes a second delivery within `window` nanoseconds restore the default action and raise
  /// the signal again; 0 turns it off.
  static func escalate(_ signal: Int32, windowNanoseconds window: Int64) {
    hinix_signal_escalate(signal, window)
  }

  /// The deliveries the handler could not write since the last call.
  static func takeDroppedSignals(_ signal: Int32) -> UInt64 {
    hinix_signal_take_dropped(signal)
  }

  // MARK: Sending

  static func signalQueue(_ pid: pid_t, _ signal: Int32, value: Int64) -> Result<Void, Errno> {
    result(hinix_sigqueue(pid, signal, value)).map { _ in () }
  }

  static func signalThisThread(_ signal: Int32) -> Result<Void, Errno> {
    result(hinix_tgkill_self(signal)).map { _ in () }
  }

  static func pidfdSendSignal(_ pidfd: Int32, _ signal: Int32, value: Int64?) -> Result<Void, Errno> {
    guard let value else { return result(hinix_pidfd_send_signal(pidfd, signal, nil)).map { _ in () } }
    var record = SignalRecord()
    record.value = value
    return result(hinix_pidfd_send_signal(pidfd, signal, &record)).map { _ in () }
  }

  // MARK: Masks and signalfd

  /// Changes the calling thread's signal mask (`how`: 0 block, 1 unblock, 2 set; `bits` nil
  /// only reads) and returns the mask before.
  static func threadMask(_ how: Int32, _ bits: UInt64?) -> Result<UInt64, Errno> {
    var old: UInt64 = 0
    let status =
      if var bits { hinix_thread_mask(how, &bits, &old) } else { hinix_thread_mask(how, nil, &old) }
    return result(status).map { _ in old }
  }

  static func pendingSignals() -> Result<UInt64, Errno> {
    var bits: UInt64 = 0
    return result(hinix_pending(&bits)).map { _ in bits }
  }

  /// A new signalfd (close-on-exec) for the signals in `bits`, or `fd` changed to them.
  static func signalFD(_ fd: Int32, _ bits: UInt64, nonBlocking: Bool) -> Result<Int32, Errno> {
    var bits = bits
    return result(hinix_signalfd(fd, &bits, nonBlocking ? 1 : 0))
  }

  /// Reads up to `records.count` (at most 16) records from a signalfd.
  static func readSignalFD(_ fd: Int32, into records: UnsafeMutableBufferPointer<SignalRecord>)
    -> Result<Int, Errno>
  {
    retrying(true) { hinix_signalfd_read(fd, records.baseAddress, Int32(records.count)) }.map(Int.init)
  }

  // MARK: pidfd

  static func pidfdGetDescriptor(_ pidfd: Int32, _ target: Int32) -> Result<Int32, Errno> {
    result(hinix_pidfd_getfd(pidfd, target))
  }

  /// `waitid(P_PIDFD)` with `options`: the child's record, or nil when `WNOHANG` found nothing.
  static func waitID(pidfd: Int32, options: Int32) -> Result<SignalRecord?, Errno> {
    var record = SignalRecord()
    return retrying(true) { hinix_waitid_pidfd(pidfd, options, &record) }.map { $0 == 0 ? nil : record }
  }
}
