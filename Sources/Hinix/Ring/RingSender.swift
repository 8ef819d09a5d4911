import SystemPackage

/// The producing end of a single-producer, single-consumer ring of `Element`s in shared
/// memory: zero-copy, no system call per element while the receiver keeps up, and safe against
/// a receiver that lies about its position (`.corrupt`) or dies (`.peerGone`).
///
/// A `RingSender` is the one producer of its ring: it cannot be copied, only moved, to another
/// task or thread. Closing it (letting it go) tells the receiver that the stream ended.
public struct RingSender<Element: RingElement>: ~Copyable, RingEndpoint {
  /// The end's core (``RingEndpoint``). Hinix's own.
  @_spi(RingInternals) public let core: RingEndCore
  @usableFromInline let side: RingSide
  /// An end owning `core`. Hinix's own.
  @_spi(RingInternals) public init(core: RingEndCore) { (self.core, side) = (core, core.side) }
  /// The kind of ring and side this end is. Hinix's own.
  @_spi(RingInternals) public static var shape: RingShape { .elements(Element.self, .producer) }

  /// Creates a ring in this process, for two threads or tasks: take its ``RingPair/sender``
  /// and ``RingPair/receiver`` apart (`let sender = pair.sender`).
  public static func makeRing(
    capacity: Int, options: RingOptions = RingOptions()
  ) throws(HinixError) -> RingPair<Element> {
    let sides = try RingEndCore.pair(shape, capacity: capacity, options: options)
    return RingPair(sender: RingSender(core: sides.producer), receiver: RingReceiver(core: sides.consumer))
  }

  // MARK: Zero-copy

  /// Lets `body` write elements in place into the free part of the ring: it gets up to
  /// `maxCount` uninitialized slots and returns how many it filled (a prefix). Called at most
  /// twice, when the free part wraps around the end. Returns ``Outcome/completed(_:)`` with the
  /// total written, published to the receiver once, or ``Outcome/wouldBlock`` when the ring is
  /// full. Never waits.
  @inlinable @inline(__always)
  @discardableResult
  public func trySend(
    maxCount: Int = .max, _ body: (UnsafeMutableBufferPointer<Element>) throws -> Int
  ) throws -> Outcome<Int> {
    let free = try side.available(upTo: maxCount)
    guard free > 0 else { return try full() }
    return .completed(try write(free: free, body))
  }

  /// The blocking form of ``trySend(maxCount:_:)``: waits (as the ``waitStrategy`` says) until
  /// at least `minimumCount` slots are free, then lets `body` fill them. A `minimumCount`
  /// above the capacity is `.invalidArgument`; a receiver that closed is `.peerGone`.
  @inlinable
  @discardableResult
  @available(
    *, noasync, message: "blocks its thread; use `await send(minimumCount:maxCount:_:)` in async code"
  )
  public func blockingSend(
    minimumCount: Int = 1, maxCount: Int = .max, _ body: (UnsafeMutableBufferPointer<Element>) throws -> Int
  ) throws -> Int {
    try ready(try side.wait(forMinimum: minimumCount, waiting: .forever))
    return try write(free: try side.available(upTo: maxCount), body)
  }

  /// The async form of ``blockingSend(minimumCount:maxCount:_:)``: suspends the task, not its thread.
  @discardableResult
  public nonisolated(nonsending) func send(
    minimumCount: Int = 1, maxCount: Int = .max, reactor: Reactor = .shared,
    _ body: (UnsafeMutableBufferPointer<Element>) throws -> Int
  ) async throws -> Int {
    try ready(try await side.wait(forMinimum: minimumCount, reactor: reactor))
    return try write(free: try side.available(upTo: maxCount), body)
  }

  // MARK: Elements

  /// Sends one element if there is room: ``Outcome/wouldBlock`` if the ring is full.
  @inlinable
  public func trySend(_ element: Element) throws(HinixError) -> Outcome<Void> {
    guard try side.available(atLeast: 1) >= 1 else { return try full() }
    put(element)
    return .completed
  }

  /// Sends one element, blocking the thread while the ring is full.
  @inlinable
  @available(*, noasync, message: "blocks its thread; use `await send(_:)` in async code")
  public func blockingSend(_ element: Element) throws(HinixError) {
    try ready(try side.wait(for: 1, waiting: .forever))
    put(element)
  }

  /// Sends one element, blocking the thread at most `timeout` for room: ``Outcome/timedOut``
  /// if none came in time.
  @available(*, noasync, message: "blocks its thread; use `await send(_:)` in async code")
  public func blockingSend(_ element: Element, timeout: Duration) throws(HinixError) -> Outcome<Void> {
    switch try side.wait(for: 1, waiting: .until(.after(timeout))) {
    case .ready: put(element)
    case .timedOut: return .timedOut
    case .closed: throw closedError()
    }
    return .completed
  }

  /// Sends one element, suspending the task while the ring is full.
  public func send(_ element: Element, reactor: Reactor = .shared) async throws {
    try ready(try await side.wait(for: 1, reactor: reactor))
    put(element)
  }

  /// Sends all of `elements`, in order, as room appears (in pieces when they outnumber the
  /// capacity), blocking the thread while the ring is full.
  @inlinable
  @available(*, noasync, message: "blocks its thread; use `await send(contentsOf:)` in async code")
  public func blockingSend(contentsOf elements: UnsafeBufferPointer<Element>) throws(HinixError) {
    var sent = 0
    while sent < elements.count {
      try ready(try side.wait(for: 1, waiting: .forever))
      sent += try copy(from: elements, at: sent)
    }
  }

  /// The async form of ``blockingSend(contentsOf:)``.
  public nonisolated(nonsending) func send(
    contentsOf elements: UnsafeBufferPointer<Element>, reactor: Reactor = .shared
  )
    async throws
  {
    var sent = 0
    while sent < elements.count {
      try ready(try await side.wait(for: 1, reactor: reactor))
      sent += try copy(from: elements, at: sent)
    }
  }

  // MARK: Internals

  @inlinable
  func put(_ element: Element) {
    (side.data.assumingMemoryBound(to: Element.self) + side.slot).initialize(to: element)
    side.commit(1)
  }

  @inlinable
  func copy(from elements: UnsafeBufferPointer<Element>, at offset: Int) throws(HinixError) -> Int {
    let rest = UnsafeBufferPointer(rebasing: elements[offset...])
    var taken = 0
    let free = try side.available(upTo: rest.count)
    return write(free: free) { slots in
      let count = slots.count
      _ = slots.initialize(from: UnsafeBufferPointer(rebasing: rest[taken..<(taken + count)]))
      taken += count
      return count
    }
  }

  @inlinable
  func ready(_ result: RingSide.WaitResult) throws(HinixError) {
    if case .closed = result { throw closedError() }
  }

  /// The outcome of a try form that found the ring full: would block, unless the receiver
  /// closed (then nothing it sends will ever be read).
  @usableFromInline
  func full<T>() throws(HinixError) -> Outcome<T> {
    if side.peerClosed { throw closedError() }
    return .wouldBlock
  }

  @usableFromInline
  func closedError() -> HinixError {
    HinixError(
      .peerGone, operation: "ring send", subject: "shared ring", detail: "the receiver closed the ring")
  }

  @inlinable
  func write<E: Error>(
    free: Int, _ body: (UnsafeMutableBufferPointer<Element>) throws(E) -> Int
  ) throws(E) -> Int {
    let base = side.data.assumingMemoryBound(to: Element.self)
    return try side.transfer(count: free) { (start, count) throws(E) in
      try body(UnsafeMutableBufferPointer(start: base + start, count: count))
    }
  }
}

/// Both ends of a ring made in one process by ``RingSender/makeRing(capacity:options:)``.
@frozen
public struct RingPair<Element: RingElement>: ~Copyable, Sendable {
  /// The producing end.
  public let sender: RingSender<Element>
  /// The consuming end.
  public let receiver: RingReceiver<Element>
}
