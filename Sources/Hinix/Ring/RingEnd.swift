import SystemPackage

/// What kind of ring an end belongs to: which side it is, the element layout and the header
/// flags, so that one set of factories serves all four public ends. Hinix's own (SPI).
@_spi(RingInternals)
public struct RingShape: Sendable {
  let role: RingSide.Role
  let elementSize: Int
  let elementAlignment: Int
  let flags: UInt32

  /// A ring of `Element`s.
  static func elements<Element: RingElement>(_: Element.Type, _ role: RingSide.Role) -> RingShape {
    RingShape(
      role: role, elementSize: MemoryLayout<Element>.stride,
      elementAlignment: MemoryLayout<Element>.alignment,
      flags: 0)
  }

  /// A ring of framed byte messages.
  static func messages(_ role: RingSide.Role) -> RingShape {
    RingShape(role: role, elementSize: 1, elementAlignment: 8, flags: RingLayout.messageFlag)
  }

  private var carriesMessages: Bool { flags & RingLayout.messageFlag != 0 }

  /// Checks a capacity before anything is made (a message ring's are stricter).
  func checkCapacity(_ capacity: Int) throws(HinixError) {
    if carriesMessages { try MessageFrame.checkCapacity(capacity, operation: "create ring") }
  }

  /// Checks a side opened from another process's ring.
  func checkOpened(_ side: RingSide) throws(HinixError) -> RingSide {
    if carriesMessages { try MessageFrame.checkOpened(side) }
    return side
  }
}

/// The part of a ring end that is Hinix's own (SPI): the one owner of the ring side, which
/// closes it when the end goes.
@_spi(RingInternals)
public final class RingEndCore: Sendable {
  let side: RingSide

  init(_ side: RingSide) {
    self.side = side
  }

  deinit {
    side.close()
  }

  /// Both sides of a new ring in this process; `shape` is the producer's.
  static func pair(
    _ shape: RingShape, capacity: Int, options: RingOptions
  ) throws(HinixError) -> (producer: RingEndCore, consumer: RingEndCore) {
    try shape.checkCapacity(capacity)
    let parts = try RingSetup.make(
      capacity: capacity, elementSize: shape.elementSize, elementAlignment: shape.elementAlignment,
      flags: shape.flags, options: options)
    return (
      RingEndCore(try RingSetup.side(parts, .producer)),
      RingEndCore(try RingSetup.side(parts, .consumer))
    )
  }
}

/// What the four ends of a shared-memory ring have in common: ``RingSender`` and
/// ``RingReceiver`` (typed elements), ``MessageSender`` and ``MessageReceiver`` (framed byte
/// messages).
///
/// An end is the one owner of its side of the ring: it cannot be copied, only moved, and letting
/// it go (or ``close()``) closes that side. The factories here make a ring and offer it over a
/// Unix socket (``create(over:capacity:policy:options:reactor:)``, the peer calls
/// ``accept(over:policy:reactor:)``), or make it for a child process (``createForChild(capacity:options:)``,
/// the child calls ``inherited(from:)``). Only Hinix's four ends conform.
public protocol RingEndpoint: ~Copyable, Sendable {
  /// The end's core. Hinix's own.
  @_spi(RingInternals) var core: RingEndCore { get }
  /// An end owning `core`. Hinix's own.
  @_spi(RingInternals) init(core: RingEndCore)
  /// The kind of ring and the side this type of end is. Hinix's own.
  @_spi(RingInternals) static var shape: RingShape { get }
}

extension RingEndpoint where Self: ~Copyable {
  /// Closes this end now, as letting it go does. A sender's receiver then gets what was sent and
  /// the end of the stream; a receiver's sender throws `.peerGone` once it has to wait for room.
  /// For an end stored where it cannot be consumed (a class property); every later call on it
  /// throws `.closed`. Calling it again does nothing.
  public func close() { core.side.close() }

  /// The ring's size: elements for a typed ring, bytes for a message ring.
  public var capacity: Int { core.side.capacity }

  /// What this end does while it cannot go on (a sender while the ring is full, a receiver
  /// while it is empty): ``WaitStrategy/adaptive`` unless changed.
  public var waitStrategy: WaitStrategy {
    get { core.side.strategy }
    nonmutating set { core.side.strategy = newValue }
  }

  /// This end's history of waits, which ``WaitStrategy/adaptive`` spins by.
  public var waitHistory: WaitHistory { core.side.history }

  /// The descriptor that becomes readable when this end may go on again (or the other end is
  /// gone): for serving many rings from one thread with `poll` or epoll, then a try form.
  public var waitDescriptor: FileDescriptor { core.side.waitDescriptor }

  /// Creates a ring of `capacity` (a power of two: elements, or bytes for a message ring),
  /// offers it to the peer of `socket` (a connected Unix socket; the peer accepts it with the
  /// other end's ``accept(over:policy:reactor:)``), and returns this end. The peer's credentials are
  /// checked against `policy` first. It blocks its thread while the socket's buffer is full.
  @available(
    *, noasync,
    message: "blocks its thread in the handshake; use `await create(over:capacity:policy:options:)`"
  )
  public static func blockingCreate(
    over socket: Socket, capacity: Int, policy: RingPeerPolicy = .sameUser,
    options: RingOptions = RingOptions()
  ) throws(HinixError) -> Self {
    let offer = try offer(over: socket, capacity: capacity, policy: policy, options: options)
    try socket.blockingSend(offer.greeting, descriptors: offer.descriptors)
    return Self(core: RingEndCore(try RingSetup.side(offer.parts, shape.role)))
  }

  /// The async form of ``blockingCreate(over:capacity:policy:options:)``: suspends the task, not its
  /// thread, while the socket's buffer is full.
  public static func create(
    over socket: Socket, capacity: Int, policy: RingPeerPolicy = .sameUser,
    options: RingOptions = RingOptions(), reactor: Reactor = .shared
  ) async throws -> Self {
    let offer = try offer(over: socket, capacity: capacity, policy: policy, options: options)
    try await socket.send(offer.greeting, descriptors: offer.descriptors, reactor: reactor)
    return Self(core: RingEndCore(try RingSetup.side(offer.parts, shape.role)))
  }

  /// Accepts the ring the peer of `socket` created with the other end's
  /// ``create(over:capacity:policy:options:reactor:)``, after checking the peer's credentials, the
  /// memory file's seals and size, and the header (element size, alignment, version, kind). It
  /// blocks its thread until the peer's offer comes.
  @available(*, noasync, message: "blocks its thread until the offer comes; use `await accept(over:policy:)`")
  public static func blockingAccept(over socket: Socket, policy: RingPeerPolicy = .sameUser)
    throws(HinixError)
    -> Self
  {
    try policy.check(socket, operation: "accept ring")
    let buffer = RingSetup.offerBuffer()
    defer { buffer.deallocate() }
    return try accept(try socket.blockingReceive(into: buffer, maxDescriptors: 2), in: buffer, over: socket)
  }

  /// The async form of ``blockingAccept(over:policy:)``: suspends the task, not its thread, until the
  /// offer comes.
  public static func accept(
    over socket: Socket, policy: RingPeerPolicy = .sameUser, reactor: Reactor = .shared
  ) async throws -> Self {
    try policy.check(socket, operation: "accept ring")
    let buffer = RingSetup.offerBuffer()
    defer { buffer.deallocate() }
    let message = try await socket.receive(into: buffer, maxDescriptors: 2, reactor: reactor)
    return try accept(message, in: buffer, over: socket)
  }

  private static func offer(
    over socket: Socket, capacity: Int, policy: RingPeerPolicy, options: RingOptions
  ) throws(HinixError) -> RingSetup.Offer {
    try shape.checkCapacity(capacity)
    return try RingSetup.offer(
      over: socket, role: shape.role, capacity: capacity, elementSize: shape.elementSize,
      elementAlignment: shape.elementAlignment, flags: shape.flags, policy: policy, options: options)
  }

  private static func accept(
    _ message: ReceivedMessage, in buffer: UnsafeMutableRawBufferPointer, over socket: Socket
  ) throws(HinixError) -> Self {
    let side = try RingSetup.accept(
      message, in: buffer, over: socket, role: shape.role, elementSize: shape.elementSize,
      elementAlignment: shape.elementAlignment, flags: shape.flags)
    return Self(core: RingEndCore(try shape.checkOpened(side)))
  }

  /// Creates a ring of `capacity` for a child process this process is about to start (see
  /// ``RingForChild``); the child opens the other end with its ``inherited(from:)``.
  public static func createForChild(
    capacity: Int, options: RingOptions = RingOptions()
  ) throws(HinixError) -> RingForChild<Self> {
    try shape.checkCapacity(capacity)
    let (side, child) = try RingSetup.createForChild(
      role: shape.role, capacity: capacity, elementSize: shape.elementSize,
      elementAlignment: shape.elementAlignment, flags: shape.flags, options: options)
    return RingForChild(end: Self(core: RingEndCore(side)), child: child)
  }

  /// Opens the end of a ring that this process's parent made with the other end's
  /// ``createForChild(capacity:options:)`` and handed down, from the text of
  /// ``RingInheritance/argument(from:)``. Checks the descriptors like ``accept(over:policy:reactor:)``.
  public static func inherited(from argument: String) throws(HinixError) -> Self {
    let side = try RingSetup.inherited(
      from: argument, role: shape.role, elementSize: shape.elementSize,
      elementAlignment: shape.elementAlignment, flags: shape.flags)
    return Self(core: RingEndCore(try shape.checkOpened(side)))
  }
}
