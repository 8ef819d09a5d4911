import Glibc
import SystemPackage

/// The read and write calls of every byte-stream descriptor (pipes, FIFOs, standard streams,
/// terminals, adopted descriptors), over the one transfer core (``Transfer``).
enum ByteStream {
  /// Reads once: the count (0 at end of stream), or `nil` when the form gave up waiting.
  @inline(__always)
  static func read(
    _ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, waiting: Waiting, strategy: WaitStrategy,
    subject: @autoclosure () -> String = ""
  ) throws(HinixError) -> Int? {
    let first = Transfer.first(waiting, strategy: strategy) { mode in readCall(fd, buffer, mode) }
    switch first {
    case .value(let count): return count
    case .notNow: return nil
    case .failed, .none: break
    }
    return try Transfer.wait(
      waiting, strategy: strategy, fd: fd, events: Int16(POLLIN), failed: first.error, operation: "read",
      { mode in readCall(fd, buffer, mode) },
      failure: { (error) throws(HinixError) in try readFailure(error, fd, subject: subject()) },
      subject: { name(fd, subject()) })
  }

  /// Writes once: how many bytes the kernel took, or `nil` when the form gave up waiting.
  ///
  /// A reader that has gone is `.brokenPipe`; Hinix never lets SIGPIPE end the process
  /// (see ``Pipe``).
  @inline(__always)
  static func write(
    _ fd: Int32, _ bytes: UnsafeRawBufferPointer, waiting: Waiting, strategy: WaitStrategy,
    subject: @autoclosure () -> String = ""
  ) throws(HinixError) -> Int? {
    // Any descriptor may be a pipe (an adopted OwnedDescriptor too): EPIPE, never SIGPIPE.
    Pipe.sigpipePolicy
    let first = Transfer.first(waiting, strategy: strategy) { mode in writeCall(fd, bytes, mode) }
    switch first {
    case .value(let count): return count
    case .notNow: return nil
    case .failed, .none: break
    }
    return try Transfer.wait(
      waiting, strategy: strategy, fd: fd, events: Int16(POLLOUT), failed: first.error, operation: "write",
      { mode in writeCall(fd, bytes, mode) },
      failure: { (error) throws(HinixError) in throw writeFailure(error, fd, subject: subject()) },
      subject: { name(fd, subject()) })
  }

  /// The async form of ``read(_:into:waiting:strategy:subject:)``.
  @inline(__always)
  static nonisolated(nonsending) func read(
    _ descriptor: FileDescriptor, into buffer: UnsafeMutableRawBufferPointer, strategy: WaitStrategy,
    history: WaitHistory, reactor: Reactor
  ) async throws -> Int {
    let fd = descriptor.rawValue
    return try await reactor.transfer(
      .readable, on: descriptor, strategy: strategy, history: history, { mode in readCall(fd, buffer, mode) },
      failure: { (error) throws(HinixError) in try readFailure(error, fd, subject: "") })
  }

  /// One read that never waits: the count, or `nil` when there is nothing yet.
  @inline(__always)
  static func attemptRead(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer) throws(HinixError) -> Int?
  {
    try Transfer.attempt(
      { mode in readCall(fd, buffer, mode) },
      failure: { (error) throws(HinixError) in try readFailure(error, fd, subject: "") })
  }

  /// The read a form makes: a blocking call, or one that never waits (`RWF_NOWAIT`).
  @inline(__always)
  private static func readCall(
    _ fd: Int32, _ buffer: UnsafeMutableRawBufferPointer, _ mode: CallMode
  ) -> Result<Int, Errno> {
    if case .blocking = mode { return Sys.read(fd, buffer) }
    return Sys.readNoWait(fd, buffer)
  }

  /// The write a form makes: a blocking call, or one that never waits.
  @inline(__always)
  private static func writeCall(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, _ mode: CallMode) -> Result<
    Int, Errno
  > {
    if case .blocking = mode { return Sys.write(fd, bytes) }
    return Sys.writeNoWait(fd, bytes)
  }

  /// A failed read: a terminal whose other side has gone is the end of the stream, anything
  /// else an error naming the descriptor.
  @inline(never)
  private static func readFailure(_ error: Errno, _ fd: Int32, subject: String) throws(HinixError) -> Int {
    // A terminal whose other side has gone reads EIO and polls POLLHUP: a pseudo-terminal's
    // master once no slave descriptor is open (the child exited), a slave once its master
    // closed. What was written before was read first, so this is the end of the stream.
    // (A background process reading its terminal also gets EIO, without POLLHUP: an error.)
    if error == .ioError, Sys.isHungUp(fd) { return 0 }
    throw HinixError.system(error, "read", subject: name(fd, subject))
  }

  /// A failed write: a reader that has gone is `.brokenPipe`.
  @inline(never)
  private static func writeFailure(_ error: Errno, _ fd: Int32, subject: String) -> HinixError {
    if error == .brokenPipe {
      return HinixError(
        .brokenPipe, operation: "write", subject: name(fd, subject), errno: .brokenPipe,
        detail: "the reading end is closed")
    }
    return HinixError.system(error, "write", subject: name(fd, subject))
  }

  /// The subject of an error: the caller's, or the descriptor's number. Made only when a
  /// `poll` or an error needs it: a String per call was a tenth of the instructions of a
  /// pipe's write and read (Benchmarks/instructions.sh).
  private static func name(_ fd: Int32, _ given: String) -> String {
    given.isEmpty ? "descriptor \(fd)" : given
  }

  /// Refuses a `read(upTo:)` count that could never read a byte (an empty result is the end).
  static func checkReadCount(_ maxCount: Int, subject: @autoclosure () -> String) throws(HinixError) {
    guard maxCount >= 1 else {
      throw HinixError(
        .invalidArgument, operation: "read(upTo:)", subject: subject(),
        detail: "\(maxCount) bytes: it must be at least 1, since an empty result means the end of the stream")
    }
  }

  /// A read's outcome: 0 is the end of the stream, `nil` a form that gave up.
  static func outcome(_ count: Int?, _ waiting: Waiting) -> Outcome<Int> {
    count == 0 ? .ended : waiting.outcome(count)
  }

  /// Writes all of `bytes`, waiting as the form allows; returns how many were written (fewer
  /// than all only when a try or timed form gave up).
  static func writeAll(
    _ fd: Int32, _ bytes: UnsafeRawBufferPointer, waiting: Waiting, strategy: WaitStrategy,
    subject: @autoclosure () -> String = ""
  ) throws(HinixError) -> Int {
    var written = 0
    while written < bytes.count {
      let rest = UnsafeRawBufferPointer(rebasing: bytes[written...])
      let count: Int?
      do {
        count = try write(fd, rest, waiting: waiting, strategy: strategy, subject: subject())
      } catch {
        throw written > 0 ? error.afterPartialWrite(written, of: bytes.count) : error
      }
      guard let count else { break }
      written += count
    }
    return written
  }
}

/// A holder of a descriptor whose waits may keep a history for ``WaitStrategy/adaptive``: the
/// common part of ``ByteReader`` and ``ByteWriter``.
public protocol WaitHistoryKeeping: ~Copyable {
  /// The history ``WaitStrategy/adaptive`` spins by; ``WaitHistory/none`` (adaptive waits
  /// sleep at once) unless the conforming type keeps one.
  var waitHistory: WaitHistory { get }
}

extension WaitHistoryKeeping where Self: ~Copyable {
  /// No history: adaptive waits sleep at once.
  public var waitHistory: WaitHistory { .none }
}

/// A descriptor that bytes are read from: a pipe's or FIFO's reading end, standard input, or
/// any descriptor held by an ``OwnedDescriptor`` (one received from another process, say).
///
/// Every reader has the same forms, from this protocol's extension: blocking (`blockingRead(into:)`,
/// unavailable in async code), `tryRead(into:)`, timed and async, each waiting as its
/// ``waitStrategy`` says. A count of 0 from a blocking or async read, and ``Outcome/ended``
/// from a try or timed one, mean the end of the stream (every writer closed).
public protocol ByteReader: WaitHistoryKeeping, ~Copyable {
  /// The descriptor read from; the conforming value owns it.
  var descriptor: FileDescriptor { get }
  /// What the reads do while there is nothing to read.
  var waitStrategy: WaitStrategy { get }
}

/// A descriptor that bytes are written to: a pipe's or FIFO's writing end, standard output, or
/// any descriptor held by an ``OwnedDescriptor``.
///
/// Every writer has the same forms, from this protocol's extension: blocking `blockingWrite(_:)`
/// (unavailable in async code), `tryWrite(_:)`, timed and async, each waiting as its
/// ``waitStrategy`` says. A write whose reader has gone throws `.brokenPipe`; Hinix never lets
/// SIGPIPE end the process (see ``Pipe``).
public protocol ByteWriter: WaitHistoryKeeping, ~Copyable {
  /// The descriptor written to; the conforming value owns it.
  var descriptor: FileDescriptor { get }
  /// What the writes do while there is no room.
  var waitStrategy: WaitStrategy { get }
}

extension ByteReader where Self: ~Copyable {
  /// Reads what is available into `buffer`, blocking the thread while there is nothing; 0 means
  /// the end of the stream.
  ///
  /// The corresponding C function is `read`.
  @available(*, noasync, message: "blocks its thread; use `await read(into:)` in async code")
  public func blockingRead(into buffer: UnsafeMutableRawBufferPointer) throws(HinixError) -> Int {
    try ByteStream.read(descriptor.rawValue, into: buffer, waiting: .forever, strategy: waitStrategy)!
  }

  /// Reads what is available now: ``Outcome/wouldBlock`` if there is nothing yet,
  /// ``Outcome/ended`` at the end of the stream.
  ///
  /// Never waits, even on a blocking descriptor (`preadv2` with `RWF_NOWAIT`).
  public func tryRead(into buffer: UnsafeMutableRawBufferPointer) throws(HinixError) -> Outcome<Int> {
    ByteStream.outcome(
      try ByteStream.read(descriptor.rawValue, into: buffer, waiting: .never, strategy: waitStrategy), .never)
  }

  /// Reads what is available, blocking the thread at most `timeout`: ``Outcome/timedOut`` if
  /// nothing came, ``Outcome/ended`` at the end of the stream.
  @available(*, noasync, message: "blocks its thread; use `await read(into:)` in async code")
  public func blockingRead(into buffer: UnsafeMutableRawBufferPointer, timeout: Duration) throws(HinixError)
    -> Outcome<Int>
  {
    let waiting = Waiting.until(.after(timeout))
    return ByteStream.outcome(
      try ByteStream.read(descriptor.rawValue, into: buffer, waiting: waiting, strategy: waitStrategy),
      waiting)
  }

  /// Reads what is available into `buffer`, suspending the task (not its thread) while there is
  /// nothing; 0 means the end of the stream. The buffer must stay valid until the call returns.
  public nonisolated(nonsending) func read(
    into buffer: UnsafeMutableRawBufferPointer, reactor: Reactor = .shared
  ) async throws
    -> Int
  {
    try await ByteStream.read(
      descriptor, into: buffer, strategy: waitStrategy, history: waitHistory, reactor: reactor)
  }

  /// Reads up to `maxCount` bytes, suspending the task (not its thread) while there is
  /// nothing; an empty result means the end of the stream. A `maxCount` below 1 is
  /// `.invalidArgument`.
  public func read(upTo maxCount: Int, reactor: Reactor = .shared) async throws -> [UInt8] {
    try ByteStream.checkReadCount(maxCount, subject: "descriptor \(descriptor.rawValue)")
    var bytes = [UInt8](repeating: 0, count: maxCount)
    let fd = descriptor.rawValue
    let count = try await reactor.perform(
      .readable, on: descriptor, strategy: waitStrategy, history: waitHistory
    ) {
      () throws(HinixError) in
      try bytes.withUnsafeMutableBytes { buffer in
        Result { () throws(HinixError) in try ByteStream.attemptRead(fd, into: buffer) }
      }.get()
    }
    bytes.removeLast(bytes.count - count)
    return bytes
  }
}

extension ByteWriter where Self: ~Copyable {
  /// Writes all of `bytes`, blocking the thread while there is no room.
  ///
  /// The corresponding C function is `write`.
  @available(*, noasync, message: "blocks its thread; use `await write(_:)` in async code")
  public func blockingWrite(_ bytes: some MessageBytes) throws(HinixError) {
    _ = try writeAll(bytes, waiting: .forever)
  }

  /// Writes what fits now: ``Outcome/completed(_:)`` with the count written (perhaps fewer than
  /// all), or ``Outcome/wouldBlock`` if nothing fit.
  public func tryWrite(_ bytes: some MessageBytes) throws(HinixError) -> Outcome<Int> {
    Waiting.never.outcome(try writeAll(bytes, waiting: .never))
  }

  /// Writes, blocking the thread at most `timeout` for room: ``Outcome/completed(_:)`` with the
  /// count written (fewer than all when the time ran out midway), or ``Outcome/timedOut`` if
  /// nothing fit in time.
  @available(*, noasync, message: "blocks its thread; use `await write(_:)` in async code")
  public func blockingWrite(_ bytes: some MessageBytes, timeout: Duration) throws(HinixError) -> Outcome<Int>
  {
    try Waiting.timed(timeout) { (waiting) throws(HinixError) in try writeAll(bytes, waiting: waiting) }
  }

  /// Writes all of `bytes`, suspending the task (not its thread) while there is no room.
  public func write(_ bytes: some MessageBytes, reactor: Reactor = .shared) async throws {
    let fd = descriptor.rawValue
    let total = bytes.withMessageBytes { $0.count }
    var written = 0
    while written < total {
      written += try await reactor.perform(
        .writable, on: descriptor, strategy: waitStrategy, history: waitHistory
      ) {
        () throws(HinixError) -> Int? in
        let count = try bytes.withMessageBytes { all in
          Result { () throws(HinixError) in
            try ByteStream.writeAll(
              fd, UnsafeRawBufferPointer(rebasing: all[written...]), waiting: .never, strategy: .sleep)
          }
        }.get()
        return count > 0 ? count : nil
      }
    }
  }

  /// Writes all it can as `waiting` allows; `nil` when nothing was written because the form
  /// gave up.
  private func writeAll(_ bytes: some MessageBytes, waiting: Waiting) throws(HinixError) -> Int? {
    let fd = descriptor.rawValue
    let strategy = waitStrategy
    return try bytes.withMessageBytes { buffer in
      Result { () throws(HinixError) -> Int? in
        let count = try ByteStream.writeAll(fd, buffer, waiting: waiting, strategy: strategy)
        return count > 0 || buffer.isEmpty ? count : nil
      }
    }.get()
  }
}
