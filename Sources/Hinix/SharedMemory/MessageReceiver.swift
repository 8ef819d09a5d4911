import SystemPackage

/// The consuming end of a shared-memory ring of variable-length byte messages (see
/// ``MessageSender``).
///
/// Messages are read in place: a closure gets each one as a single buffer that stays put until
/// it returns. Every frame header is validated before use (`.corrupt` for one no honest sender
/// writes, and the ring is then unusable); the message bytes are the sender's to choose, and a
/// hostile sender can change them while they are read, so copy before validating what matters.
/// Receiving calls return nil at the end: once the sender closed the ring and every message it
/// sent has been read.
public struct MessageReceiver: ~Copyable, Sendable {
  let side: RingSide

  init(_ side: RingSide) {
    self.side = side
  }

  deinit {
    side.close()
  }

  /// Closes this end now, as letting it go does: the sender throws `.peerGone` once it has to
  /// wait for room (what it sent into the room left is not read). For an end stored where it
  /// cannot be consumed (a class property); every later receive throws `.closed`.
  /// Calling it again does nothing.
  public func close() {
    side.close()
  }

  /// The ring's size in bytes.
  public var capacity: Int { side.capacity }

  /// The largest message this ring carries: `capacity / 2 - 8`.
  public var maximumMessageSize: Int { MessageFrame.maximumMessageSize(capacity: side.capacity) }

  /// What the receiver does while the ring is empty (``WaitStrategy/sleep`` unless changed).
  public var waitStrategy: WaitStrategy {
    get { side.strategy }
    nonmutating set { side.strategy = newValue }
  }

  /// The descriptor that becomes readable when a message may have arrived (or the sender is
  /// gone): for serving many rings from one thread with `poll` or epoll, then ``tryReceive(_:)``.
  public var waitDescriptor: FileDescriptor { side.waitDescriptor }

  /// Whether the sender has closed the ring and every message it sent has been read.
  public var isFinished: Bool {
    (try? side.check(MessageFrame.headerSize)) == .closed
  }

  /// Creates a message ring of `capacity` bytes, offers it to the peer of `socket` (which calls
  /// ``MessageSender/accept(over:policy:)``), and returns its receiving end.
  public static func create(
    over socket: Socket, capacity: Int, policy: RingPeerPolicy = .sameUser,
    options: RingOptions = RingOptions()
  ) throws(HinixError) -> MessageReceiver {
    try MessageFrame.checkCapacity(capacity, operation: "create ring")
    return MessageReceiver(
      try RingSetup.create(
        over: socket, role: .consumer, capacity: capacity, elementSize: 1, elementAlignment: 8,
        flags: RingLayout.messageFlag, policy: policy, options: options))
  }

  /// Accepts the message ring the peer of `socket` created with
  /// ``MessageSender/create(over:capacity:policy:options:)``, after checking its credentials, the
  /// memory file's seals and size, and the header.
  public static func accept(over socket: Socket, policy: RingPeerPolicy = .sameUser) throws(HinixError)
    -> MessageReceiver
  {
    let side = try RingSetup.accept(
      over: socket, role: .consumer, elementSize: 1, elementAlignment: 8, flags: RingLayout.messageFlag,
      policy: policy)
    try MessageFrame.checkOpened(side)
    return MessageReceiver(side)
  }

  /// Creates a ring of `capacity` bytes for a child process this process is about to start
  /// (see ``RingForChild``); the child opens its end with ``MessageSender/inherited(from:)``.
  public static func createForChild(
    capacity: Int, options: RingOptions = RingOptions()
  ) throws(HinixError) -> RingForChild<MessageReceiver> {
    try MessageFrame.checkCapacity(capacity, operation: "create ring")
    let (side, child) = try RingSetup.createForChild(
      role: .consumer, capacity: capacity, elementSize: 1, elementAlignment: 8, flags: RingLayout.messageFlag,
      options: options)
    return RingForChild(end: MessageReceiver(side), child: child)
  }

  /// Opens the end of a ring that this process's parent made with
  /// ``MessageSender/createForChild(capacity:options:)`` and handed down, from the text of
  /// ``RingInheritance/argument(from:)``. Checks the descriptors like ``accept(over:policy:)``.
  public static func inherited(from argument: String) throws(HinixError) -> MessageReceiver {
    let side = try RingSetup.inherited(
      from: argument, role: .consumer, elementSize: 1, elementAlignment: 8, flags: RingLayout.messageFlag)
    try MessageFrame.checkOpened(side)
    return MessageReceiver(side)
  }

  // MARK: Zero-copy

  /// Lets `body` read the next message in place, if one is there now, and releases it to the
  /// sender when `body` returns (or throws). Returns `body`'s result, or nil if the ring is empty.
  public func tryReceive<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) throws -> Result? {
    guard let found = try MessageFrame.next(side) else { return nil }
    return try read(found, body)
  }

  /// The blocking form of ``tryReceive(_:)``: waits (as the ``waitStrategy`` says) for a message;
  /// nil at the end of the stream.
  public func receive<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) throws -> Result? {
    guard let found = try next(waiting: .forever) else {
      return nil
    }
    return try read(found, body)
  }

  /// ``receive(_:)`` waiting at most `timeout`; nil if no message came in time or the stream
  /// ended (``isFinished`` tells which).
  public func receive<Result>(
    timeout: Duration, _ body: (UnsafeRawBufferPointer) throws -> Result
  ) throws -> Result? {
    guard let found = try next(waiting: .until(.after(timeout))) else { return nil }
    return try read(found, body)
  }

  /// The async form of ``receive(_:)``: suspends the task, not its thread.
  public func receive<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) async throws -> Result? {
    guard let found = try await nextAsync() else { return nil }
    return try read(found, body)
  }

  // MARK: Copying

  /// Copies the next message into `buffer`, waiting for one; returns its length, or nil at the
  /// end of the stream. A message longer than `buffer` is `.messageTooLarge` and stays in the
  /// ring (never truncated): receive it with a larger buffer.
  public func receive(into buffer: UnsafeMutableRawBufferPointer) throws(HinixError) -> Int? {
    guard let found = try next(waiting: .forever) else {
      return nil
    }
    return try copy(found, into: buffer)
  }

  /// Copies the next message into `buffer` if one is there now; nil if the ring is empty.
  public func tryReceive(into buffer: UnsafeMutableRawBufferPointer) throws(HinixError) -> Int? {
    guard let found = try MessageFrame.next(side) else { return nil }
    return try copy(found, into: buffer)
  }

  /// The async form of ``receive(into:)``.
  public func receive(into buffer: UnsafeMutableRawBufferPointer) async throws -> Int? {
    guard let found = try await nextAsync() else { return nil }
    return try copy(found, into: buffer)
  }

  /// The next message as a new array, waiting for one; nil at the end of the stream.
  public func receive() throws(HinixError) -> [UInt8]? {
    guard let found = try next(waiting: .forever) else {
      return nil
    }
    return array(found)
  }

  /// The async form of ``receive()``.
  public func receive() async throws -> [UInt8]? {
    guard let found = try await nextAsync() else { return nil }
    return array(found)
  }

  // MARK: Internals

  /// Waits for a frame header as `waiting` allows, then reads the next frame. The wait's
  /// result only ends the waiting: after `.closed` or `.timedOut` a complete message may still
  /// have arrived in between, so the ring itself says whether there is one (nil if not).
  @inline(__always)
  private func next(waiting: Waiting) throws(HinixError) -> MessageFrame.Found? {
    _ = try side.wait(for: MessageFrame.headerSize, waiting: waiting)
    return try MessageFrame.next(side)
  }

  /// The async form of ``next(waiting:)``.
  @inline(__always)
  private func nextAsync() async throws -> MessageFrame.Found? {
    _ = try await side.wait(for: MessageFrame.headerSize)
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
