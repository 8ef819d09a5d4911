import Glibc
import SystemPackage

/// The read and write cores shared by every byte-stream descriptor (pipes, FIFOs, standard
/// streams; stream sockets later): one call per form that `Waiting` names.
enum ByteStream {
  /// Reads once: the count (0 at end of stream), or `nil` when the form gave up waiting.
  @inline(__always)
  static func read(
    _ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, waiting: Waiting, strategy: WaitStrategy,
    subject: @autoclosure () -> String = ""
  ) throws(HinixError) -> Int? {
    // The blocking form's common case, when it does not spin first: one call, inlined. A
    // failure (a non-blocking description's EAGAIN, an error) goes on the whole way.
    var failed: Errno?
    if case .forever = waiting, strategy.spinNanoseconds <= 0 {
      switch Sys.read(fd, buffer) {
      case .success(let count): return count
      case .failure(let error): failed = error
      }
    }
    return try transfer(
      fd, buffer, writing: false, waiting: waiting, strategy: strategy, subject: subject(), failed: failed)
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
    // The blocking form's common case, as in reading.
    var failed: Errno?
    if case .forever = waiting, strategy.spinNanoseconds <= 0 {
      switch Sys.write(fd, bytes) {
      case .success(let count): return count
      case .failure(let error): failed = error
      }
    }
    return try transfer(
      fd, UnsafeMutableRawBufferPointer(mutating: bytes), writing: true, waiting: waiting, strategy: strategy,
      subject: subject(), failed: failed)
  }

  /// One read or write in the form `waiting` names, after the spin `strategy` asks for; or,
  /// when the caller's own call `failed` already, going on from that failure (no system call
  /// is made twice: a second blocking call could wait again). Out of line: the fast paths
  /// above inline into every caller.
  @inline(never)
  private static func transfer(
    _ fd: Int32, _ buffer: UnsafeMutableRawBufferPointer, writing: Bool, waiting: Waiting,
    strategy: WaitStrategy, subject: @autoclosure () -> String, failed: Errno?
  ) throws(HinixError) -> Int? {
    func name() -> String {
      let given = subject()
      return given.isEmpty ? "descriptor \(fd)" : given
    }
    if failed == nil,
      let count = try strategy.spinFirst(
        waiting,
        { () throws(HinixError) in
          try transfer(
            fd, buffer, writing: writing, waiting: .never, strategy: .sleep, subject: name(), failed: nil)
        })
    {
      return count
    }
    // Made only when a wait or an error needs it: a String per call was a tenth of the
    // instructions of a pipe's write and read (Benchmarks/instructions.sh).
    func operation() -> String { writing ? "write" : "read" }
    var pending = failed
    while true {
      let result: Result<Int, Errno>
      if let error = pending {
        result = .failure(error)
        pending = nil
      } else {
        result = call(fd, buffer, writing: writing, waiting: waiting)
      }
      switch result {
      case .success(let count):
        return count
      case .failure(.resourceTemporarilyUnavailable):
        let events = Int16(writing ? POLLOUT : POLLIN)
        guard try waiting.poll(fd, for: events, operation: operation(), subject: name()) else { return nil }
      case .failure(.ioError) where !writing && Sys.isHungUp(fd):
        // A terminal whose other side has gone reads EIO and polls POLLHUP: a pseudo-terminal's
        // master once no slave descriptor is open (the child exited), a slave once its master
        // closed. What was written before was read first, so this is the end of the stream.
        // (A background process reading its terminal also gets EIO, without POLLHUP: an error.)
        return 0
      case .failure(.brokenPipe) where writing:
        throw HinixError(
          .brokenPipe, operation: operation(), subject: name(), errno: .brokenPipe,
          detail: "the reading end is closed")
      case .failure(let error):
        throw HinixError.system(error, operation(), subject: name())
      }
    }
  }

  /// The read or write a form makes: a blocking call for `.forever`, else one that never waits.
  @inline(__always)
  private static func call(
    _ fd: Int32, _ buffer: UnsafeMutableRawBufferPointer, writing: Bool, waiting: Waiting
  ) -> Result<Int, Errno> {
    switch (writing, waiting) {
    case (false, .forever): Sys.read(fd, buffer)
    case (false, _): Sys.readNoWait(fd, buffer)
    case (true, .forever): Sys.write(fd, UnsafeRawBufferPointer(buffer))
    case (true, _): Sys.writeNoWait(fd, UnsafeRawBufferPointer(buffer))
    }
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
  nonisolated(nonsending)
    public func read(into buffer: UnsafeMutableRawBufferPointer, reactor: Reactor = .shared) async throws
    -> Int
  {
    let fd = descriptor.rawValue
    return try await reactor.perform(.readable, on: descriptor, strategy: waitStrategy, history: waitHistory)
    {
      () throws(HinixError) in
      try ByteStream.read(fd, into: buffer, waiting: .never, strategy: .sleep)
    }
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
        Result { () throws(HinixError) in
          try ByteStream.read(fd, into: buffer, waiting: .never, strategy: .sleep)
        }
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
