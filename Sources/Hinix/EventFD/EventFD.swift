import Glibc
import SystemPackage

/// An eventfd: a 64-bit kernel counter that one side adds to and the other reads, the cheapest
/// way to wake another thread or process.
///
/// Reading returns the counter and resets it to zero, or in semaphore mode returns 1 and
/// decrements it. The counter holds at most ``maximumValue``; an add that would pass it waits
/// (or, in the try form, reports "would block"). An `EventFD` is `Sendable` and closes its
/// descriptor when the last reference goes. To wake a child process, hand it the descriptor with
/// ``ChildProcess/spawn(_:arguments:environment:passing:cpu:inheriting:)`` and adopt it there with
/// ``init(adopting:)``.
public final class EventFD: Sendable {
  /// The largest value the counter holds: 0xfffffffffffffffe.
  public static let maximumValue: UInt64 = 0xffff_ffff_ffff_fffe

  private let handle: OwnedDescriptor

  /// The eventfd's descriptor, still owned by this value.
  public var descriptor: FileDescriptor { handle.descriptor }

  /// This object's history of waits, which ``WaitStrategy/adaptive`` spins by.
  public let waitHistory = WaitHistory()

  /// What reads and adds do while they cannot go on (``WaitStrategy/adaptive`` unless changed):
  /// a spinning strategy retries the non-blocking call before the blocking, timed or async
  /// form parks (``WaitStrategy/adaptive`` in the async forms only, as ``waitHistory`` says).
  /// Any task may change it at any time.
  public var waitStrategy: WaitStrategy {
    get { handle.waitStrategy }
    set { handle.waitStrategy = newValue }
  }

  /// Creates an eventfd, close-on-exec.
  ///
  /// - Parameters:
  ///   - initialValue: the counter's starting value.
  ///   - semaphore: each read returns 1 and decrements the counter (`EFD_SEMAPHORE`).
  ///   - nonBlocking: the description is non-blocking (`EFD_NONBLOCK`); every form of
  ///     reading and adding (``blockingRead()``, ``tryRead()``, ``read(reactor:)``, …) keeps its
  ///     meaning either way.
  /// The corresponding C function is `eventfd`.
  public init(initialValue: UInt32 = 0, semaphore: Bool = false, nonBlocking: Bool = false) throws(HinixError)
  {
    switch Sys.eventfd(initialValue, semaphore: semaphore, nonBlocking: nonBlocking) {
    case .success(let fd):
      handle = OwnedDescriptor(adopting: FileDescriptor(rawValue: fd))
    case .failure(let error):
      throw HinixError.system(error, "eventfd")
    }
  }

  /// Takes ownership of an eventfd descriptor, for example one a parent process handed down.
  public init(adopting descriptor: FileDescriptor) {
    handle = OwnedDescriptor(adopting: descriptor)
  }

  // MARK: Reading

  /// Reads the counter, blocking the thread while it is zero.
  ///
  /// The corresponding C function is `read`.
  @available(*, noasync, message: "blocks its thread; use `await read()` in async code")
  public func blockingRead() throws(HinixError) -> UInt64 {
    try read(waiting: .forever)!
  }

  /// Reads the counter if it is not zero: ``Outcome/wouldBlock`` if a read would wait.
  ///
  /// Works on a blocking descriptor too (`preadv2` with `RWF_NOWAIT`).
  public func tryRead() throws(HinixError) -> Outcome<UInt64> {
    Waiting.never.outcome(try read(waiting: .never))
  }

  /// Reads the counter, blocking the thread at most `timeout`: ``Outcome/timedOut`` if it
  /// stayed zero.
  @available(*, noasync, message: "blocks its thread; use `await read()` in async code")
  public func blockingRead(timeout: Duration) throws(HinixError) -> Outcome<UInt64> {
    try Waiting.timed(timeout) { (waiting) throws(HinixError) in try read(waiting: waiting) }
  }

  /// Reads the counter, suspending the task (not its thread) while it is zero.
  ///
  /// Throws `CancellationError` if the task is cancelled while it waits.
  public func read(reactor: Reactor = .shared) async throws -> UInt64 {
    try await reactor.perform(.readable, on: descriptor, strategy: waitStrategy, history: waitHistory) {
      () throws(HinixError) in
      try read(waiting: .never)
    }
  }

  // MARK: Adding

  /// Adds `value` to the counter, blocking the thread while the sum would pass
  /// ``maximumValue``.
  ///
  /// - Throws: `.invalidArgument` for `0xffffffffffffffff`, which no counter can ever hold.
  /// The corresponding C function is `write`.
  @available(*, noasync, message: "blocks its thread; use `await add(_:)` in async code")
  public func blockingAdd(_ value: UInt64 = 1) throws(HinixError) {
    _ = try add(value, waiting: .forever)
  }

  /// Adds `value` if the counter has room now: ``Outcome/wouldBlock`` if the add would wait for
  /// a reader. Adding 0 always completes, as the kernel never waits to add it.
  ///
  /// On a non-blocking description this is one `write`. The kernel has no non-blocking write
  /// for a blocking eventfd description (`pwritev2` with `RWF_NOWAIT` is refused), so there the
  /// room is checked first (`poll`, and the counter in fdinfo), then written: if another
  /// process sharing the description adds in between and fills the counter, the write waits
  /// for a reader. Create an eventfd that other processes add to with `nonBlocking: true`.
  public func tryAdd(_ value: UInt64 = 1) throws(HinixError) -> Outcome<Void> {
    Waiting.never.outcome(try add(value, waiting: .never) ? () : nil)
  }

  /// Adds `value`, blocking the thread at most `timeout` for room: ``Outcome/timedOut`` if the
  /// time ran out.
  @available(*, noasync, message: "blocks its thread; use `await add(_:)` in async code")
  public func blockingAdd(_ value: UInt64, timeout: Duration) throws(HinixError) -> Outcome<Void> {
    try Waiting.timed(timeout) { (waiting) throws(HinixError) in try add(value, waiting: waiting) ? () : nil }
  }

  /// Adds `value`, suspending the task (not its thread) while the counter has no room.
  public func add(_ value: UInt64 = 1, reactor: Reactor = .shared) async throws {
    while true {
      let added = try await reactor.perform(
        .writable, on: descriptor, strategy: waitStrategy, history: waitHistory
      ) {
        () throws(HinixError) -> Bool? in
        if try add(value, waiting: .never) { return true }
        // Writable means 1 fits: a larger value that does not fit yet rechecks every millisecond.
        if value > 1, try hasRoomForOne() { return false }
        return nil
      }
      if added { return }
      try await Task.sleep(for: .milliseconds(1))
    }
  }

  // MARK: Implementation

  private var subject: String { "eventfd \(descriptor.rawValue)" }

  private func read(waiting: Waiting) throws(HinixError) -> UInt64? {
    if let value = try waitStrategy.spinFirst(waiting, { () throws(HinixError) in try read(waiting: .never) })
    {
      return value
    }
    var value: UInt64 = 0
    let count = try withUnsafeMutableBytes(of: &value) { buffer in
      Result { () throws(HinixError) in
        try ByteStream.read(
          descriptor.rawValue, into: buffer, waiting: waiting, strategy: .sleep, subject: subject)
      }
    }.get()
    switch count {
    case nil: return nil
    case 8: return value
    case let count?:
      throw HinixError(
        .system, operation: "read", subject: subject, detail: "read \(count) bytes instead of 8")
    }
  }

  /// Whether adding `value` now would not block, checked without blocking. A non-blocking
  /// description answers by itself (EAGAIN); a blocking one is asked through `poll`, which only
  /// tells that 1 fits, and for larger values through the counter the kernel shows in fdinfo.
  private func fits(_ value: UInt64) throws(HinixError) -> Bool {
    // 0 always fits (the kernel never waits to add it), though poll shows no room at the maximum.
    if value == 0 { return true }
    if case .success(true) = descriptor.isNonBlocking() { return true }
    guard try hasRoomForOne() else { return false }
    if value <= 1 { return true }
    guard let counter = try? counter() else { return false }
    return counter <= EventFD.maximumValue - value
  }

  /// Whether adding 1 would not block now (POLLOUT).
  private func hasRoomForOne() throws(HinixError) -> Bool {
    try Waiting.until(.now).poll(
      descriptor.rawValue, for: Int16(POLLOUT), operation: "write", subject: subject)
  }

  /// The counter as `/proc/self/fdinfo` shows it, without reading (and so resetting) it.
  public func counter() throws(HinixError) -> UInt64 {
    let path = "/proc/self/fdinfo/\(descriptor.rawValue)"
    let text = try readProcFile(FilePath(path))
    for line in text.split(separator: "\n") where line.hasPrefix("eventfd-count:") {
      if let value = UInt64(line.dropFirst("eventfd-count:".count).trimmingWhitespace(), radix: 16) {
        return value
      }
    }
    throw HinixError(.system, operation: "read", subject: path, detail: "no eventfd-count line")
  }

  private func add(_ value: UInt64, waiting: Waiting) throws(HinixError) -> Bool {
    guard value <= EventFD.maximumValue else {
      throw HinixError(
        .invalidArgument, operation: "write", subject: subject,
        detail: "\(value) is above the counter's maximum 0xfffffffffffffffe")
    }
    if try waitStrategy.spinFirst(
      waiting, { () throws(HinixError) in try add(value, waiting: .never) ? true : nil })
      != nil
    {
      return true
    }
    let fd = descriptor.rawValue
    var copy = value
    while true {
      // Only the blocking form may write without knowing the value fits: on a blocking
      // descriptor that write waits in the kernel for a reader.
      let mayWrite: Bool
      if case .forever = waiting { mayWrite = true } else { mayWrite = try fits(value) }
      if mayWrite {
        switch withUnsafeBytes(of: &copy, { Sys.write(fd, $0) }) {
        case .success: return true
        case .failure(.resourceTemporarilyUnavailable): break
        case .failure(let error): throw HinixError.system(error, "write", subject: subject)
        }
      }
      switch waiting {
      case .never:
        return false
      case .forever:
        try pauseForRoom(fd, value: value, until: nil)
      case .until(let deadline):
        guard deadline.remaining > .zero else { return false }
        try pauseForRoom(fd, value: value, until: deadline)
      }
    }
  }

  /// Waits for a reader to make room before the deadline. `poll` reports POLLOUT as soon as 1
  /// fits, so a larger value that still does not fit is rechecked every millisecond.
  private func pauseForRoom(_ fd: Int32, value: UInt64, until deadline: Deadline.Instant?)
    throws(HinixError)
  {
    let waiting = deadline.map { Waiting.until($0) } ?? .forever
    let ready = try waiting.poll(fd, for: Int16(POLLOUT), operation: "write", subject: subject)
    if ready && value > 1 { _ = Sys.sleep(nanoseconds: 1_000_000) }
  }
}
