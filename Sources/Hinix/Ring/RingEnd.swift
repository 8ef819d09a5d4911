import SystemPackage

/// What kind of ring an end belongs to: which side it is, the element layout and the header
/// flags, so that one set of factories serves all four public ends.
@usableFromInline
struct RingShape: Sendable {
  let role: RingSide.Role
  let elementSize: Int
  let elementAlignment: Int
  let flags: UInt32

  /// A ring of `Element`s.
  static func elements<Element: BitwiseCopyable>(_: Element.Type, _ role: RingSide.Role) -> RingShape {
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

/// What the four public ends (``RingSender``, ``RingReceiver``, ``MessageSender``,
/// ``MessageReceiver``) share: the one owner of a ring side, which closes it when it goes, and
/// the factories that make, offer, accept and inherit rings. Each public end holds one and keeps
/// only what is its own: its sending or receiving forms.
@usableFromInline
struct RingEnd: ~Copyable, Sendable {
  @usableFromInline let side: RingSide

  init(_ side: RingSide) {
    self.side = side
  }

  deinit {
    side.close()
  }

  func close() {
    side.close()
  }

  var capacity: Int { side.capacity }

  var waitStrategy: WaitStrategy {
    get { side.strategy }
    nonmutating set { side.strategy = newValue }
  }

  var waitDescriptor: FileDescriptor { side.waitDescriptor }

  // MARK: Factories

  /// Both sides of a new ring in this process; `shape` is the producer's.
  static func pair(
    _ shape: RingShape, capacity: Int, options: RingOptions
  ) throws(HinixError) -> (producer: RingSide, consumer: RingSide) {
    try shape.checkCapacity(capacity)
    let parts = try RingSetup.make(
      capacity: capacity, elementSize: shape.elementSize, elementAlignment: shape.elementAlignment,
      flags: shape.flags, options: options)
    return (try RingSetup.side(parts, .producer, link: nil), try RingSetup.side(parts, .consumer, link: nil))
  }

  /// Makes a ring, offers it to the peer of `socket` and returns this side.
  static func create(
    _ shape: RingShape, over socket: Socket, capacity: Int, policy: RingPeerPolicy, options: RingOptions
  ) throws(HinixError) -> RingEnd {
    try shape.checkCapacity(capacity)
    return RingEnd(
      try RingSetup.create(
        over: socket, role: shape.role, capacity: capacity, elementSize: shape.elementSize,
        elementAlignment: shape.elementAlignment, flags: shape.flags, policy: policy, options: options))
  }

  /// Accepts the ring the peer of `socket` offers, validated, as this side.
  static func accept(_ shape: RingShape, over socket: Socket, policy: RingPeerPolicy) throws(HinixError)
    -> RingEnd
  {
    RingEnd(
      try shape.checkOpened(
        try RingSetup.accept(
          over: socket, role: shape.role, elementSize: shape.elementSize,
          elementAlignment: shape.elementAlignment, flags: shape.flags, policy: policy)))
  }

  /// Makes a ring for a child about to start: this side and what the child inherits.
  static func createForChild(
    _ shape: RingShape, capacity: Int, options: RingOptions
  ) throws(HinixError) -> (side: RingSide, child: RingInheritance) {
    try shape.checkCapacity(capacity)
    return try RingSetup.createForChild(
      role: shape.role, capacity: capacity, elementSize: shape.elementSize,
      elementAlignment: shape.elementAlignment, flags: shape.flags, options: options)
  }

  /// Opens this side of a ring the parent process handed down.
  static func inherited(_ shape: RingShape, from argument: String) throws(HinixError) -> RingEnd {
    RingEnd(
      try shape.checkOpened(
        try RingSetup.inherited(
          from: argument, role: shape.role, elementSize: shape.elementSize,
          elementAlignment: shape.elementAlignment, flags: shape.flags)))
  }
}
