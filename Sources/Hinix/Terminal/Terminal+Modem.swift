import Glibc
import Synchronization
import SystemPackage

/// The modem control lines of a serial port (`TIOCM_*`).
public struct ModemLines: OptionSet, Sendable, Hashable, CustomStringConvertible {
  /// The `TIOCM_*` bits.
  public let rawValue: Int32
  /// The lines of these bits.
  public init(rawValue: Int32) { self.rawValue = rawValue }

  /// Data Terminal Ready, an output (`TIOCM_DTR`).
  public static let dataTerminalReady = ModemLines(rawValue: Sys.modemDTR)
  /// Request To Send, an output (`TIOCM_RTS`).
  public static let requestToSend = ModemLines(rawValue: Sys.modemRTS)
  /// Clear To Send, an input (`TIOCM_CTS`).
  public static let clearToSend = ModemLines(rawValue: Sys.modemCTS)
  /// Data Set Ready, an input (`TIOCM_DSR`).
  public static let dataSetReady = ModemLines(rawValue: Sys.modemDSR)
  /// Carrier Detect, an input (`TIOCM_CD`).
  public static let carrierDetect = ModemLines(rawValue: Sys.modemCD)
  /// Ring Indicator, an input (`TIOCM_RI`).
  public static let ringIndicator = ModemLines(rawValue: Sys.modemRI)

  /// The two lines a program sets: DTR and RTS.
  public static let outputs: ModemLines = [.dataTerminalReady, .requestToSend]
  /// The four lines a program reads and waits on: CTS, DSR, CD and RI.
  public static let inputs: ModemLines = [.clearToSend, .dataSetReady, .carrierDetect, .ringIndicator]

  private static let names: [(ModemLines, String)] = [
    (.dataTerminalReady, "DTR"), (.requestToSend, "RTS"), (.clearToSend, "CTS"), (.dataSetReady, "DSR"),
    (.carrierDetect, "CD"), (.ringIndicator, "RI"),
  ]

  /// The raised lines' names joined by `|` in the order DTR, RTS, CTS, DSR, CD, RI
  /// (`DTR|RTS|CTS`), or `none`.
  public var description: String {
    let raised = ModemLines.names.filter { contains($0.0) }.map(\.1)
    return raised.isEmpty ? "none" : raised.joined(separator: "|")
  }
}

extension Terminal {
  /// The modem lines, raised or not.
  ///
  /// - Throws: `.unsupported` on a terminal without modem lines (a pseudo-terminal, a console).
  /// The corresponding C function is `ioctl` with `TIOCMGET`.
  public func modemLines() throws(HinixError) -> ModemLines {
    switch Sys.modemLines(descriptor.rawValue) {
    case .success(let lines): return ModemLines(rawValue: lines)
    case .failure(let error): throw noModemLines(error, "TIOCMGET")
    }
  }

  /// Raises (`true`) or lowers (`false`) output lines: DTR, RTS or both.
  ///
  /// - Throws: `.invalidArgument` for an input line (CTS, DSR, CD, RI), which only the other
  ///   side sets; `.unsupported` on a terminal without modem lines.
  /// The corresponding C function is `ioctl` with `TIOCMBIS` or `TIOCMBIC`.
  public func setModemLines(_ lines: ModemLines, raised: Bool) throws(HinixError) {
    let inputs = lines.subtracting(.outputs)
    guard inputs.isEmpty else {
      throw HinixError(
        .invalidArgument, operation: raised ? "TIOCMBIS" : "TIOCMBIC", subject: name,
        detail: "\(inputs) are input lines, which the other side sets; only DTR and RTS can be set")
    }
    if case .failure(let error) = Sys.setModemLines(descriptor.rawValue, lines.rawValue, on: raised) {
      throw noModemLines(error, raised ? "TIOCMBIS" : "TIOCMBIC")
    }
  }

  /// Waits, blocking the thread, until one of the input `lines` changes, and returns the
  /// lines as they are then.
  ///
  /// - Throws: `.invalidArgument` for an empty set or output lines; `.unsupported` on a
  ///   terminal without modem lines; `.closed` when the port hangs up (`EIO`).
  /// The corresponding C function is `ioctl` with `TIOCMIWAIT`.
  @available(*, noasync, message: "blocks its thread; use `await waitForModemChange(of:)` in async code")
  public func blockingWaitForModemChange(of lines: ModemLines = .inputs) throws(HinixError) -> ModemLines {
    try checkWaitable(lines)
    while true {
      switch Sys.ioctl(descriptor.rawValue, Terminal.modemWaitRequest, value: UInt(lines.rawValue)) {
      case .success: return try modemLines()
      case .failure(.interrupted): continue
      case .failure(let error): throw modemWaitFailure(error)
      }
    }
  }

  /// Waits until one of the input `lines` changes, suspending the task, and returns the lines
  /// as they are then.
  ///
  /// `TIOCMIWAIT` blocks in the kernel with no timeout and no readiness event, so it runs on a
  /// thread of its own, never on the cooperative pool. Cancelling the task ends that wait at
  /// once (the thread is cancelled in the ioctl) and throws `CancellationError`.
  public func waitForModemChange(of lines: ModemLines = .inputs) async throws -> ModemLines {
    try checkWaitable(lines)
    let wait = ModemWait()
    let code = await withTaskCancellationHandler {
      await withCheckedContinuation { continuation in
        wait.start(descriptor.rawValue, lines.rawValue, continuation)
      }
    } onCancel: {
      wait.cancel()
    }
    wait.finish()
    if code == 0 { return try modemLines() }
    if Sys.isCancellation(code) { throw CancellationError() }
    throw modemWaitFailure(Errno(rawValue: -code))
  }

  private func checkWaitable(_ lines: ModemLines) throws(HinixError) {
    guard !lines.isEmpty, lines.isSubset(of: .inputs) else {
      throw HinixError(
        .invalidArgument, operation: "TIOCMIWAIT", subject: name,
        detail: lines.isEmpty
          ? "no lines to wait for"
          : "\(lines.subtracting(.inputs)) are outputs; waits are for CTS, DSR, CD and RI")
    }
  }

  private func modemWaitFailure(_ error: Errno) -> HinixError {
    if error == .ioError {
      return HinixError(
        .closed, operation: "TIOCMIWAIT", subject: name, errno: error,
        detail: "the port hung up while waiting")
    }
    return noModemLines(error, "TIOCMIWAIT")
  }

  private func noModemLines(_ error: Errno, _ operation: String) -> HinixError {
    HinixError.system(error, operation, subject: name) { error in
      switch error {
      case .inappropriateIOCTLForDevice, .invalidArgument, .notSupported:
        (.unsupported, "this terminal has no modem lines (a pseudo-terminal or console has none)")
      default: nil
      }
    }
  }

  static let modemWaitRequest = UInt(TIOCMIWAIT)
}

/// One async `TIOCMIWAIT`: the shim's thread reports once, with the ioctl's result or with
/// `-ECANCELED`; the task's continuation is resumed from that report.
private final class ModemWait: Sendable {
  private enum State {
    case idle
    case cancelledEarly
    /// The shim's handle, as its address (a pointer is not `Sendable`).
    case waiting(UInt)
    case over
  }

  private let state = Mutex<State>(.idle)
  private let continuation = Mutex<CheckedContinuation<Int32, Never>?>(nil)

  /// Starts the shim's wait, unless the task was cancelled first.
  func start(_ fd: Int32, _ lines: Int32, _ continuation: CheckedContinuation<Int32, Never>) {
    self.continuation.withLock { $0 = continuation }
    let cancelled = state.withLock { state in
      if case .cancelledEarly = state { return true }
      return false
    }
    if cancelled { return report(-Int32(ECANCELED)) }
    let context = Unmanaged.passRetained(self).toOpaque()
    let started = Sys.startModemWait(fd, lines: lines, context: context) { context, result in
      Unmanaged<ModemWait>.fromOpaque(context!).takeRetainedValue().report(result)
    }
    switch started {
    case .success(let handle):
      // A cancellation that came while the thread started ends it now.
      let cancelNow = state.withLock { state in
        if case .cancelledEarly = state {
          state = .over
          return true
        }
        state = .waiting(UInt(bitPattern: Int(bitPattern: UnsafeRawPointer(handle))))
        return false
      }
      if cancelNow { Sys.cancelModemWait(handle) }
    case .failure(let error):
      Unmanaged<ModemWait>.fromOpaque(context).release()
      report(-error.rawValue)
    }
  }

  /// The task was cancelled: ends the wait (which reports `-ECANCELED` unless it already
  /// reported).
  func cancel() {
    let address: UInt? = state.withLock { state in
      switch state {
      case .idle:
        state = .cancelledEarly
        return nil
      case .waiting(let handle):
        state = .over
        return handle
      case .cancelledEarly, .over:
        return nil
      }
    }
    if let handle = ModemWait.handle(address) { Sys.cancelModemWait(handle) }
  }

  /// The wait reported: gives back the handle unless a cancellation did.
  func finish() {
    let address: UInt? = state.withLock { state in
      guard case .waiting(let handle) = state else { return nil }
      state = .over
      return handle
    }
    if let handle = ModemWait.handle(address) { Sys.releaseModemWait(handle) }
  }

  private static func handle(_ address: UInt?) -> OpaquePointer? {
    address.flatMap { OpaquePointer(bitPattern: $0) }
  }

  private func report(_ result: Int32) {
    continuation.withLock { $0.take() }?.resume(returning: result)
  }
}
