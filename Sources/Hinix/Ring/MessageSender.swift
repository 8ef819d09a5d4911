import SystemPackage

/// The producing end of a shared-memory ring of variable-length byte messages.
///
/// Each message arrives whole and in one piece, however the ring wraps: never truncated, never
/// split, never merged with the next. A message may be up to ``maximumMessageSize`` bytes (half
/// the ring less 16 bytes of headers); a larger one is `.messageTooLarge` at once, not a wait that
/// could never end. As with ``RingSender``, the sender is the one producer of its ring (it can
/// only be moved), no system call is made while the receiver keeps up, and a receiver that lies
/// about its position (`.corrupt`) or dies (`.peerGone`) is an error, never a crash.
public struct MessageSender: ~Copyable, RingEndpoint {
  /// The end's core (``RingEndpoint``). Hinix's own.
  @_spi(RingInternals) public let core: RingEndCore
  @usableFromInline let side: RingSide
  /// An end owning `core`. Hinix's own.
  @_spi(RingInternals) public init(core: RingEndCore) { (self.core, side) = (core, core.side) }
  /// The kind of ring and side this end is. Hinix's own.
  @_spi(RingInternals) public static var shape: RingShape { .messages(.producer) }

  /// The largest message a send accepts (`capacity / 2 - 8`); a larger one is
  /// `.messageTooLarge` at once.
  public var maximumMessageSize: Int { MessageFrame.maximumMessageSize(capacity: side.capacity) }

  /// Creates a message ring of `capacity` bytes (a power of two from 64 to 2^32) in this
  /// process, for two threads or tasks: take its ``MessageRingPair/sender`` and
  /// ``MessageRingPair/receiver`` apart.
  public static func makeRing(
    capacity: Int, options: RingOptions = RingOptions()
  ) throws(HinixError) -> MessageRingPair {
    let sides = try RingEndCore.pair(shape, capacity: capacity, options: options)
    return MessageRingPair(
      sender: MessageSender(core: sides.producer), receiver: MessageReceiver(core: sides.consumer))
  }

  // MARK: Zero-copy

  /// Lets `body` write a message of up to `maxCount` bytes in place, if there is room for that
  /// many now: it gets `maxCount` uninitialized bytes (in one piece) and returns the message's
  /// length. Returns ``Outcome/completed(_:)`` with that length, or ``Outcome/wouldBlock`` when
  /// the ring lacks room (nothing is sent). If `body` throws, nothing is sent.
  public func trySend(
    upTo maxCount: Int, _ body: (UnsafeMutableRawBufferPointer) throws -> Int
  ) throws -> Outcome<Int> {
    let place = try placement(maxCount, operation: "ring send")
    guard try side.available(atLeast: place.needed) >= place.needed else { return try full() }
    return .completed(try write(place, maxCount, body))
  }

  /// The blocking form of ``trySend(upTo:_:)``: waits (as the ``waitStrategy`` says) for room
  /// for `maxCount` bytes, then lets `body` write the message.
  @discardableResult
  @available(*, noasync, message: "blocks its thread; use `await send(upTo:_:)` in async code")
  public func blockingSend(upTo maxCount: Int, _ body: (UnsafeMutableRawBufferPointer) throws -> Int) throws
    -> Int
  {
    let place = try placement(maxCount, operation: "ring send")
    try ready(try side.wait(for: place.needed, waiting: .forever))
    return try write(place, maxCount, body)
  }

  /// The async form of ``blockingSend(upTo:_:)``: suspends the task, not its thread.
  @discardableResult
  public nonisolated(nonsending) func send(
    upTo maxCount: Int, reactor: Reactor = .shared, _ body: (UnsafeMutableRawBufferPointer) throws -> Int
  ) async throws -> Int {
    let place = try placement(maxCount, operation: "ring send")
    try ready(try await side.wait(for: place.needed, reactor: reactor))
    return try write(place, maxCount, body)
  }

  // MARK: Copying

  /// Sends a copy of `bytes` if there is room now: ``Outcome/wouldBlock`` if the ring lacks
  /// room.
  public func trySend(_ bytes: some MessageBytes) throws(HinixError) -> Outcome<Void> {
    try bytes.withMessageBytes { bytes in Result { () throws(HinixError) in try trySend(bytes) } }.get()
  }

  /// `trySend(_:)` for a raw buffer, without generic indirection: the form
  /// for hot loops.
  public func trySend(_ bytes: UnsafeRawBufferPointer) throws(HinixError) -> Outcome<Void> {
    let place = try placement(bytes.count, operation: "ring send")
    guard try side.available(atLeast: place.needed) >= place.needed else { return try full() }
    copy(place, bytes)
    return .completed
  }

  /// Sends a copy of `bytes`, blocking the thread while the ring lacks room.
  @available(*, noasync, message: "blocks its thread; use `await send(_:)` in async code")
  public func blockingSend(_ bytes: some MessageBytes) throws(HinixError) {
    try bytes.withMessageBytes { bytes in Result { () throws(HinixError) in try blockingSend(bytes) } }.get()
  }

  /// `send(_:)` for a raw buffer, without generic indirection: the form
  /// for hot loops.
  @available(*, noasync, message: "blocks its thread; use `await send(_:)` in async code")
  public func blockingSend(_ bytes: UnsafeRawBufferPointer) throws(HinixError) {
    let place = try placement(bytes.count, operation: "ring send")
    try ready(try side.wait(for: place.needed, waiting: .forever))
    copy(place, bytes)
  }

  /// Sends a copy of `bytes`, blocking the thread at most `timeout` for room:
  /// ``Outcome/timedOut`` if none came in time.
  @available(*, noasync, message: "blocks its thread; use `await send(_:)` in async code")
  public func blockingSend(_ bytes: some MessageBytes, timeout: Duration) throws(HinixError) -> Outcome<Void>
  {
    let deadline = Deadline.Instant.after(timeout)
    return try bytes.withMessageBytes { bytes in
      Result { () throws(HinixError) -> Outcome<Void> in
        let place = try placement(bytes.count, operation: "ring send")
        switch try side.wait(for: place.needed, waiting: .until(deadline)) {
        case .ready: copy(place, bytes)
        case .timedOut: return .timedOut
        case .closed: throw closedError()
        }
        return .completed
      }
    }.get()
  }

  /// Sends a copy of `bytes`, suspending the task while the ring lacks room.
  public func send(_ bytes: some MessageBytes, reactor: Reactor = .shared) async throws {
    let place = try placement(bytes.withMessageBytes { $0.count }, operation: "ring send")
    try ready(try await side.wait(for: place.needed, reactor: reactor))
    bytes.withMessageBytes { copy(place, $0) }
  }

  // MARK: Internals

  @inline(__always)
  private func placement(_ length: Int, operation: String) throws(HinixError) -> MessageFrame.Placement {
    guard length >= 0, length <= maximumMessageSize else {
      throw MessageFrame.tooLarge(length, capacity: side.capacity, operation: operation)
    }
    return MessageFrame.place(length, position: side.position, capacity: side.capacity)
  }

  /// Writes the padding frame (if any) and the message header, then publishes both with the
  /// message: one commit, so the receiver never sees padding without its message.
  @inline(__always)
  private func publish(_ place: MessageFrame.Placement, length: Int) {
    let frame = MessageFrame.frameSize(length)
    func header(_ offset: Int) -> UnsafeMutablePointer<UInt64> {
      (side.data + offset).assumingMemoryBound(to: UInt64.self)
    }
    // The next frame's header word is zeroed first, then this frame's written last (release):
    // the receiver, polling the word at its position, finds 0 until a whole frame is there.
    Sys.storeRelaxed(header((place.offset + frame) & (side.capacity - 1)), 0)
    Sys.storeRelease(header(place.offset), MessageFrame.word(length: length, kind: MessageFrame.messageKind))
    if place.padding > 0 {
      // After the message at offset 0, which the receiver reads once it sees the padding.
      Sys.storeRelease(
        header(side.slot), MessageFrame.word(length: place.padding, kind: MessageFrame.paddingKind))
    }
    side.commit(place.padding + frame)
  }

  @inline(__always)
  private func copy(_ place: MessageFrame.Placement, _ bytes: UnsafeRawBufferPointer) {
    if let source = bytes.baseAddress, !bytes.isEmpty {
      (side.data + place.offset + MessageFrame.headerSize).copyMemory(from: source, byteCount: bytes.count)
    }
    publish(place, length: bytes.count)
  }

  @inline(__always)
  private func write(
    _ place: MessageFrame.Placement, _ maxCount: Int, _ body: (UnsafeMutableRawBufferPointer) throws -> Int
  ) rethrows -> Int {
    let room = UnsafeMutableRawBufferPointer(
      start: side.data + place.offset + MessageFrame.headerSize, count: maxCount)
    let length = min(max(try body(room), 0), maxCount)
    publish(place, length: length)
    return length
  }

  @inline(__always)
  private func ready(_ result: RingSide.WaitResult) throws(HinixError) {
    if case .closed = result { throw closedError() }
  }

  /// The outcome of a try form that found no room: would block, unless the receiver closed.
  private func full<T>() throws(HinixError) -> Outcome<T> {
    if side.peerClosed { throw closedError() }
    return .wouldBlock
  }

  @inline(never)
  private func closedError() -> HinixError {
    HinixError(
      .peerGone, operation: "ring send", subject: "shared ring", detail: "the receiver closed the ring")
  }
}

/// Both ends of a message ring made in one process by ``MessageSender/makeRing(capacity:options:)``.
@frozen
public struct MessageRingPair: ~Copyable, Sendable {
  /// The producing end.
  public let sender: MessageSender
  /// The consuming end.
  public let receiver: MessageReceiver
}
