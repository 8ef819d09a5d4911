import SystemPackage

/// The consuming end of a shared-memory ring of variable-length byte messages (see
/// ``MessageSender``).
///
/// Messages are read in place: a closure gets each one as a single buffer that stays put until
/// it returns. Every frame header is validated before use (`.corrupt` for one no honest sender
/// writes, and the ring is then unusable); the message bytes are the sender's to choose, and a
/// hostile sender can change them while they are read, so copy before validating what matters.
/// Blocking and async receives return nil at the end, try and timed ones ``Outcome/ended``:
/// once the sender closed the ring and every message it sent has been read.
public struct MessageReceiver: ~Copyable, RingEndpoint {
  /// The end's core (``RingEndpoint``). Hinix's own.
  @_spi(RingInternals) public let core: RingEndCore
  @usableFromInline let side: RingSide
  /// An end owning `core`. Hinix's own.
  @_spi(RingInternals) public init(core: RingEndCore) { (self.core, side) = (core, core.side) }
  /// The kind of ring and side this end is. Hinix's own.
  @_spi(RingInternals) public static var shape: RingShape { .messages(.consumer) }

  /// The largest message the sender can send (`capacity / 2 - 8`): a buffer this size holds
  /// any message that arrives.
  public var maximumMessageSize: Int { MessageFrame.maximumMessageSize(capacity: side.capacity) }

  /// Whether the sender has closed the ring and every message it sent has been read.
  public var isFinished: Bool {
    (try? side.check(MessageFrame.headerSize)) == .closed
  }

  // MARK: Zero-copy

  /// Lets `body` read the next message in place, if one is there now, and releases it to the
  /// sender when `body` returns (or throws). Returns ``Outcome/completed(_:)`` with `body`'s
  /// result, ``Outcome/wouldBlock`` if the ring is empty, ``Outcome/ended`` at the end of the
  /// stream.
  public func tryReceive<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) throws -> Outcome<Result>
  {
    try next(waiting: .never).map { found in try read(found, body) }
  }

  /// The blocking form of ``tryReceive(_:)``: waits (as the ``waitStrategy`` says) for a
  /// message; nil at the end of the stream.
  @available(*, noasync, message: "blocks its thread; use `await receive(_:)` in async code")
  public func blockingReceive<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) throws -> Result? {
    try next(waiting: .forever).value.map { found in try read(found, body) }
  }

  /// ``blockingReceive(_:)`` blocking the thread at most `timeout`: ``Outcome/timedOut`` if no message
  /// came in time, ``Outcome/ended`` at the end of the stream.
  @available(*, noasync, message: "blocks its thread; use `await receive(_:)` in async code")
  public func blockingReceive<Result>(
    timeout: Duration, _ body: (UnsafeRawBufferPointer) throws -> Result
  ) throws -> Outcome<Result> {
    try next(waiting: .until(.after(timeout))).map { found in try read(found, body) }
  }

  /// The async form of ``blockingReceive(_:)``: suspends the task, not its thread.
  public nonisolated(nonsending) func receive<Result>(
    reactor: Reactor = .shared, _ body: (UnsafeRawBufferPointer) throws -> Result
  ) async throws -> Result? {
    guard let found = try await nextAsync(reactor) else { return nil }
    return try read(found, body)
  }

  // MARK: Copying

  /// Copies the next message into `buffer`, blocking the thread while there is none; returns
  /// its length, or nil at the end of the stream. A message longer than `buffer` is
  /// `.messageTooLarge` and stays in the ring (never truncated): receive it with a larger buffer.
  @available(*, noasync, message: "blocks its thread; use `await receive(into:)` in async code")
  public func blockingReceive(into buffer: UnsafeMutableRawBufferPointer) throws(HinixError) -> Int? {
    try next(waiting: .forever).value.map { found throws(HinixError) in try copy(found, into: buffer) }
  }

  /// Copies the next message into `buffer` if one is there now: ``Outcome/wouldBlock`` if the
  /// ring is empty, ``Outcome/ended`` at the end of the stream.
  public func tryReceive(into buffer: UnsafeMutableRawBufferPointer) throws(HinixError) -> Outcome<Int> {
    try next(waiting: .never).map { found throws(HinixError) in try copy(found, into: buffer) }
  }

  /// ``blockingReceive(into:)`` blocking the thread at most `timeout`: ``Outcome/timedOut`` if no
  /// message came in time.
  @available(*, noasync, message: "blocks its thread; use `await receive(into:)` in async code")
  public func blockingReceive(into buffer: UnsafeMutableRawBufferPointer, timeout: Duration)
    throws(HinixError)
    -> Outcome<Int>
  {
    try next(waiting: .until(.after(timeout))).map { found throws(HinixError) in try copy(found, into: buffer)
    }
  }

  /// The async form of ``blockingReceive(into:)``.
  public nonisolated(nonsending) func receive(
    into buffer: UnsafeMutableRawBufferPointer, reactor: Reactor = .shared
  ) async throws
    -> Int?
  {
    guard let found = try await nextAsync(reactor) else { return nil }
    return try copy(found, into: buffer)
  }

  /// The next message as a new array, blocking the thread while there is none; nil at the end
  /// of the stream.
  @available(*, noasync, message: "blocks its thread; use `await receive()` in async code")
  public func blockingReceive() throws(HinixError) -> [UInt8]? {
    try next(waiting: .forever).value.map { found in array(found) }
  }

  /// The next message as a new array if one is there now: ``Outcome/wouldBlock`` if the ring is
  /// empty, ``Outcome/ended`` at the end of the stream.
  public func tryReceive() throws(HinixError) -> Outcome<[UInt8]> {
    try next(waiting: .never).map { found in array(found) }
  }

  /// The next message as a new array, blocking the thread at most `timeout`:
  /// ``Outcome/timedOut`` if none came in time.
  @available(*, noasync, message: "blocks its thread; use `await receive()` in async code")
  public func blockingReceive(timeout: Duration) throws(HinixError) -> Outcome<[UInt8]> {
    try next(waiting: .until(.after(timeout))).map { found in array(found) }
  }

  /// The async form of ``blockingReceive()``.
  public func receive(reactor: Reactor = .shared) async throws -> [UInt8]? {
    guard let found = try await nextAsync(reactor) else { return nil }
    return array(found)
  }

  // MARK: Internals

  /// Waits for a frame header as `waiting` allows, then reads the next frame. The wait's
  /// result only ends the waiting: after `.closed` or `.timedOut` a complete message may still
  /// have arrived in between, so the ring itself says whether there is one.
  @inline(__always)
  private func next(waiting: Waiting) throws(HinixError) -> Outcome<MessageFrame.Found> {
    let waited = try side.wait(for: MessageFrame.headerSize, waiting: waiting)
    if let found = try MessageFrame.next(side) { return .completed(found) }
    switch waited {
    case .closed: return .ended
    case .timedOut, .ready: return waiting.outcome(nil)
    }
  }

  /// The async form of ``next(waiting:)``: nil at the end of the stream.
  @inline(__always)
  private func nextAsync(_ reactor: Reactor) async throws -> MessageFrame.Found? {
    _ = try await side.wait(for: MessageFrame.headerSize, reactor: reactor)
    return try MessageFrame.next(side)
  }

  @inline(__always)
  private func read<Result>(
    _ found: MessageFrame.Found, _ body: (UnsafeRawBufferPointer) throws -> Result
  ) rethrows -> Result {
    defer { side.commit(found.consumed) }
    return try body(
      UnsafeRawBufferPointer(
        start: side.data + found.offset + MessageFrame.headerSize, count: found.length))
  }

  /// The error for a message longer than the caller's buffer. Out of line, so the message
  /// formatting stays out of the copying receive paths.
  @inline(never)
  private static func bufferTooSmall(_ length: Int, buffer: Int) -> HinixError {
    HinixError(
      .messageTooLarge, operation: "ring receive", subject: "shared ring",
      detail:
        "the next message is \(length) bytes, larger than the \(buffer)-byte buffer; it stays in the ring")
  }

  @inline(__always)
  private func copy(
    _ found: MessageFrame.Found, into buffer: UnsafeMutableRawBufferPointer
  ) throws(HinixError) -> Int {
    guard found.length <= buffer.count else {
      throw Self.bufferTooSmall(found.length, buffer: buffer.count)
    }
    if found.length > 0 {
      buffer.baseAddress!.copyMemory(
        from: side.data + found.offset + MessageFrame.headerSize, byteCount: found.length)
    }
    side.commit(found.consumed)
    return found.length
  }

  private func array(_ found: MessageFrame.Found) -> [UInt8] {
    let bytes = [UInt8](
      UnsafeRawBufferPointer(start: side.data + found.offset + MessageFrame.headerSize, count: found.length))
    side.commit(found.consumed)
    return bytes
  }
}
