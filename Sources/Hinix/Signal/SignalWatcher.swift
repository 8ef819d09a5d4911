import Synchronization
import SystemPackage

/// Delivered signals as an async sequence, in an ordinary multi-threaded Swift program.
///
/// ```swift
/// let signals = try SignalWatcher([.interrupt, .terminate], escalation: .seconds(3))
/// for await delivery in signals {
///   print("\(delivery.signal) from pid \(delivery.senderPID)")
///   break  // start shutting down
/// }
/// ```
///
/// **How it works.** Creating a watcher installs Hinix's handler for its signals (written in C,
/// async-signal-safe: it takes no lock and allocates nothing), which writes what the kernel
/// told (``SignalInfo``) whole into a non-blocking pipe; the reactor reads the pipe and hands
/// each delivery to every watcher of that signal. No thread has to block the signal, so it
/// works whichever thread the kernel picks. Watching starts when the watcher is created, not
/// when iteration starts, so nothing is missed in between.
///
/// **Ending.** A watcher ends when it is cancelled (``cancel()``) or released. Cancelling a task
/// that iterates it ends only that task's iteration (`next()` returns nil there): other tasks
/// iterating the same watcher go on, and deliveries meanwhile are kept for them. When the last
/// watcher of a signal ends, the disposition the program had before — the default action,
/// ignored, or its own handler — is restored exactly: a second Ctrl-C after that ends the
/// program as usual.
///
/// **Several iterators.** Each delivery goes to one iterator of a watcher (the one waiting
/// longest). For every task to see every delivery, give each task a watcher of its own.
///
/// **What can be lost, and what is reported.** The kernel keeps one pending instance of a
/// standard signal: several `SIGCHLD` or `SIGUSR1` sent close together may arrive as one
/// (real-time signals queue, each with its value). Beyond that nothing is lost silently: a
/// delivery the handler could not write (the pipe full) or a watcher could not buffer (it fell
/// 65,536 behind) is counted and reported in the next delivery of that signal, as
/// ``SignalInfo/lostBefore``; until then ``unreportedLosses`` shows it.
///
/// **Escalation.** With `escalation` set, a second delivery of a signal within that time of the
/// first restores the default action and delivers the signal again, in the handler itself: a
/// program stuck in its shutdown can always be stopped with a second Ctrl-C. Only for signals
/// whose default action ends the process. Keep the watcher alive while it should apply (a
/// `for await` loop over it does). Where the default action does not end the process — PID 1 of
/// a pid namespace, a server in a container without an init, ignores it — the handler ends the
/// process itself with exit status 128 + the signal's number, as a shell reports such a death.
///
/// **Fault signals.** `SIGILL`, `SIGTRAP`, `SIGSEGV`, `SIGBUS` and `SIGFPE` may be watched, but
/// only deliveries that were *sent* (by `kill`, `sigqueue`, ``Signal/send(to:value:)``) are
/// watched. A fault the kernel raised for the running instruction (a Swift trap, a bad pointer)
/// is never swallowed: the handler puts back the disposition it replaced and the instruction
/// faults again at once, reaching the program's previous handler (the Swift runtime's crash
/// report) or the default action. Returning from such a fault would run the instruction again
/// forever.
public final class SignalWatcher: AsyncSequence, Sendable {
  /// Each delivery, in the order the handler saw them.
  public typealias Element = SignalInfo

  /// The signals watched.
  public let signals: SignalSet
  private let id: Int
  let mailbox: Mailbox<SignalInfo>

  /// Starts watching `signals`.
  ///
  /// - Parameters:
  ///   - signals: the signals to watch; not empty, and neither `SIGKILL` nor `SIGSTOP`.
  ///   - escalation: if set, a second delivery of one of the signals within this time
  ///     of the one before ends the process with the signal's default action.
  /// - Throws: `.invalidArgument` for an empty set or for `SIGKILL` or `SIGSTOP`, which no
  ///   process can catch; the error of `sigaction` or `pipe2` otherwise.
  public init(_ signals: SignalSet, escalation: Duration? = nil) throws(HinixError) {
    if signals.isEmpty {
      throw HinixError(
        .invalidArgument, operation: "watch signals", detail: "the set of signals to watch is empty")
    }
    if let escalation, escalation <= .zero || escalation > .seconds(3600) {
      throw HinixError(
        .invalidArgument, operation: "watch signals",
        detail: "an escalation window of \(escalation) is not above 0 s and at most an hour")
    }
    if escalation != nil, let mild = signals.first(where: { !$0.defaultActionEnds }) {
      throw HinixError(
        .invalidArgument, operation: "watch signals", subject: "\(mild)",
        detail: "escalation re-raises with the default action, and \(mild)'s does not end the process")
    }
    if let uncatchable = signals.first(where: { !$0.isCatchable }) {
      throw HinixError(
        .invalidArgument, operation: "sigaction", subject: "\(uncatchable)",
        detail: "\(uncatchable) cannot be caught, blocked or ignored")
    }
    self.signals = signals
    mailbox = Mailbox(limit: SignalHub.bufferLimit)
    id = try SignalHub.shared.subscribe(signals, escalation: escalation, mailbox)
  }

  deinit {
    SignalHub.shared.unsubscribe(id)
  }

  /// Stops watching: the sequence ends, and signals no other watcher watches get back the
  /// disposition they had before.
  public func cancel() {
    SignalHub.shared.unsubscribe(id)
  }

  /// Deliveries lost (see "What can be lost") that no delivery has reported yet, by signal:
  /// each is reported with the next delivery of its signal.
  public var unreportedLosses: [Signal: Int] { SignalHub.shared.unreportedLosses(id) }

  /// The disposition `signal` had before Hinix's handler (or has now, when none is installed).
  public static func previousDisposition(of signal: Signal) throws(HinixError) -> Disposition {
    switch Sys.previousDisposition(signal.rawValue) {
    case .success(0): .defaultAction
    case .success(1): .ignored
    case .success: .handler
    case .failure(let error): throw HinixError.system(error, "sigaction", subject: "\(signal)")
    }
  }

  /// What a process does with a signal when Hinix is not watching it.
  public enum Disposition: Sendable, Hashable {
    /// The default action (`SIG_DFL`): for most signals, end the process.
    case defaultAction
    /// Ignored (`SIG_IGN`).
    case ignored
    /// A handler of the program's own.
    case handler
  }

  /// Iterates the deliveries; it keeps the watcher alive while iteration lasts.
  public struct AsyncIterator: AsyncIteratorProtocol {
    let watcher: SignalWatcher

    /// The next delivery; nil once the watcher is cancelled, or when the task is cancelled
    /// (which ends this iteration only; the watcher goes on watching).
    public mutating func next() async -> SignalInfo? {
      await watcher.mailbox.next {}
    }
  }

  /// An iterator of the deliveries.
  public func makeAsyncIterator() -> AsyncIterator {
    AsyncIterator(watcher: self)
  }
}

/// The one reader of the handler's pipe, and the registry of watchers: it installs the
/// handler for a signal when its first watcher comes and restores the old disposition when
/// the last one goes.
final class SignalHub: Sendable {
  static let shared = SignalHub()

  /// How many deliveries a watcher may fall behind before they are counted as lost.
  static let bufferLimit = 65536

  private struct Watcher {
    let signals: SignalSet
    let escalation: Duration?
    let mailbox: Mailbox<SignalInfo>
    /// Per signal number: deliveries lost since the last one this watcher got.
    var lost: [Int32: Int] = [:]
    /// The signals with an entry above 0 in `lost`: a delivery that finds its bit clear
    /// (the usual case) reads no dictionary.
    var losing = SignalSet()

    /// Counts `count` more deliveries of `signal` lost.
    mutating func lose(_ signal: Signal, _ count: Int) {
      lost[signal.rawValue, default: 0] += count
      losing.insert(signal)
    }
  }

  private struct State {
    var watchers: [Int: Watcher] = [:]
    var nextID = 0
    var pipe: (read: Int32, write: Int32)?
  }

  private let state = Mutex(State())

  /// Registers a watcher (first), then installs the handler for each signal not yet watched.
  func subscribe(
    _ signals: SignalSet, escalation: Duration?, _ mailbox: Mailbox<SignalInfo>
  ) throws(HinixError) -> Int {
    let outcome = state.withLock { state -> Result<Int, HinixError> in
      if state.pipe == nil {
        switch Sys.pipe(nonBlocking: true) {
        case .success(let ends):
          // Room for a burst while the reactor is busy: 1 MiB holds 26,000 records, where
          // the default 64 KiB holds 1,600 (best effort: pipe-max-size may be lower).
          _ = Sys.fcntl(ends.write, Sys.setPipeSize, 1 << 20)
          state.pipe = ends
          do throws(HinixError) {
            try startReading(ends.read)
          } catch {
            state.pipe = nil
            _ = Sys.close(ends.read)
            _ = Sys.close(ends.write)
            return .failure(error)
          }
          Sys.setSignalPipe(ends.write)
        case .failure(let error):
          return .failure(HinixError.system(error, "pipe2", subject: "signal watcher"))
        }
      }
      state.nextID += 1
      let id = state.nextID
      let watched = watchedSignals(state)
      state.watchers[id] = Watcher(signals: signals, escalation: escalation, mailbox: mailbox)
      for signal in signals where !watched.contains(signal) {
        if case .failure(let error) = Sys.installSignalHandler(signal.rawValue) {
          state.watchers[id] = nil
          restoreUnwatched(state, from: signals)
          return .failure(HinixError.system(error, "sigaction", subject: "\(signal)"))
        }
      }
      updateEscalation(state, for: signals)
      return .success(id)
    }
    return try outcome.get()
  }

  /// Removes a watcher and ends its sequence; restores the disposition of each signal no
  /// other watcher watches. Does nothing for an id already removed.
  func unsubscribe(_ id: Int) {
    let ended = state.withLock { state -> Watcher? in
      guard let watcher = state.watchers.removeValue(forKey: id) else { return nil }
      restoreUnwatched(state, from: watcher.signals)
      updateEscalation(state, for: watcher.signals)
      return watcher
    }
    ended?.mailbox.finish()
  }

  private func watchedSignals(_ state: State) -> SignalSet {
    state.watchers.values.reduce(into: SignalSet()) { $0.formUnion($1.signals) }
  }

  private func restoreUnwatched(_ state: State, from signals: SignalSet) {
    let watched = watchedSignals(state)
    for signal in signals where !watched.contains(signal) {
      _ = Sys.restoreSignalHandler(signal.rawValue)
    }
  }

  /// Sets each signal's escalation window to the shortest any of its watchers asked for.
  private func updateEscalation(_ state: State, for signals: SignalSet) {
    for signal in signals {
      let window = state.watchers.values.filter { $0.signals.contains(signal) }.compactMap(\.escalation)
        .filter { $0 > .zero }.min()
      let nanoseconds = window.map {
        $0.components.seconds * 1_000_000_000 + $0.components.attoseconds / 1_000_000_000
      }
      Sys.escalate(signal.rawValue, windowNanoseconds: max(nanoseconds ?? 0, 0))
    }
  }

  /// Serves the pipe on the reactor's thread: each time it is readable, the reactor drains it
  /// and hands the records to the watchers, with no task, re-arming or thread hand-off of its
  /// own (a watcher's task that prefers the reactor's executor then runs on that thread too).
  private func startReading(_ fd: Int32) throws(HinixError) {
    // Allocated once and only used on the reactor's thread: a temporary allocation of this
    // size would come from the heap on each drain. The hub lives as long as the process.
    let records = UnsafeMutableBufferPointer<Sys.SignalRecord>.allocate(capacity: 64)
    do throws(HinixError) {
      try serve(fd, into: records)
    } catch {
      records.deallocate()
      throw error
    }
  }

  private func serve(_ fd: Int32, into records: UnsafeMutableBufferPointer<Sys.SignalRecord>)
    throws(HinixError)
  {
    nonisolated(unsafe) let records = records
    try Reactor.shared.serve(fd) { [self] in
      while true {
        switch Sys.read(fd, UnsafeMutableRawBufferPointer(records)) {
        case .success(let count):
          let whole = count / MemoryLayout<Sys.SignalRecord>.stride
          deliver(UnsafeBufferPointer(rebasing: records[..<whole]))
          // A short read took everything there was; the next record makes it readable again.
          if whole < records.count { return }
        case .failure(.interrupted): continue
        case .failure: return
        }
      }
    }
  }

  /// Hands each record to the watchers of its signal, with what was lost before it; then
  /// takes the handler's count of records it could not write, for every watched signal, to
  /// report with each watcher's next delivery of that signal.
  private func deliver(_ records: UnsafeBufferPointer<Sys.SignalRecord>) {
    state.withLock { state in
      // In place, by index: no copy of the registry per record.
      let watchers = state.watchers.values.indices
      for record in records {
        guard var info = SignalInfo(record) else { continue }
        for index in watchers where state.watchers.values[index].signals.contains(info.signal) {
          let losing = state.watchers.values[index].losing.contains(info.signal)
          let lost = losing ? state.watchers.values[index].lost[record.signal] ?? 0 : 0
          info.lostBefore = lost
          switch state.watchers.values[index].mailbox.post(info) {
          case .dropped: state.watchers.values[index].lose(info.signal, 1)
          case .accepted:
            if losing {
              state.watchers.values[index].lost[record.signal] = 0
              state.watchers.values[index].losing.remove(info.signal)
            }
          case .finished: break
          }
        }
      }
      for signal in watchedSignals(state) {
        let dropped = Int(Sys.takeDroppedSignals(signal.rawValue))
        guard dropped > 0 else { continue }
        for index in watchers where state.watchers.values[index].signals.contains(signal) {
          state.watchers.values[index].lose(signal, dropped)
        }
      }
    }
  }

  /// The losses of watcher `id` not reported yet, by signal.
  func unreportedLosses(_ id: Int) -> [Signal: Int] {
    state.withLock { state in
      var losses: [Signal: Int] = [:]
      for (number, count) in state.watchers[id]?.lost ?? [:] where count > 0 {
        if let signal = Signal(rawValue: number) { losses[signal] = count }
      }
      return losses
    }
  }
}
