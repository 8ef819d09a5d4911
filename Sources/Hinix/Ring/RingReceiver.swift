import SystemPackage

/// The consuming end of a single-producer, single-consumer ring of `Element`s in shared
/// memory (see ``RingSender``).
///
/// Reads happen in place; the elements a closure sees stay put until it returns. Against a
/// hostile sender: positions are validated on every read (`.corrupt` for one that no honest
/// sender writes), but the element bytes themselves are the sender's to choose, and a hostile
/// sender can change them while they are read; copy before validating what matters.
/// A blocking or async receive returns `nil` (or 0) at the end, and a try or timed one
/// ``Outcome/ended``: once the sender has closed the ring and everything it sent has been read.
public struct RingReceiver<Element: RingElement>: ~Copyable, RingEndpoint {
  /// The end's core (``RingEndpoint``). Hinix's own.
  @_spi(RingInternals) public let core: RingEndCore
  @usableFromInline let side: RingSide
  /// An end owning `core`. Hinix's own.
  @_spi(RingInternals) public init(core: RingEndCore) { (self.core, side) = (core, core.side) }
  /// The kind of ring and side this end is. Hinix's own.
  @_spi(RingInternals) public static var shape: RingShape { .elements(Element.self, .consumer) }

  /// Whether the sender has closed the ring and every element it sent has been read.
  public var isFinished: Bool {
    (try? side.check(1)) == .closed
  }

  // MARK: Zero-copy

  /// Lets `body` read elements in place: it gets up to `maxCount` of them and returns how many
  /// it consumed (a prefix). Called at most twice, when the data wraps around the end. Returns
  /// ``Outcome/completed(_:)`` with the total consumed, released to the sender once;
  /// ``Outcome/wouldBlock`` when the ring is empty, ``Outcome/ended`` at the end of the stream.
  /// Never waits.
  @inlinable @inline(__always)
  @discardableResult
  public func tryReceive(maxCount: Int = .max, _ body: (UnsafeBufferPointer<Element>) throws -> Int) throws
    -> Outcome<Int>
  {
    let count = try side.available(upTo: maxCount)
    guard count > 0 else { return try empty() }
    return .completed(try read(count: count, body))
  }

  /// The blocking form of ``tryReceive(maxCount:_:)``: waits (as the ``waitStrategy`` says)
  /// until at least `minimumCount` elements are there (fewer only at the end of the stream),
  /// then lets `body` read them. Returns 0 at the end.
  @inlinable
  @discardableResult
  @available(
    *, noasync, message: "blocks its thread; use `await receive(minimumCount:maxCount:_:)` in async code"
  )
  public func blockingReceive(
    minimumCount: Int = 1, maxCount: Int = .max, _ body: (UnsafeBufferPointer<Element>) throws -> Int
  ) throws -> Int {
    _ = try side.wait(forMinimum: minimumCount, waiting: .forever)
    return try read(count: try side.available(upTo: maxCount), body)
  }

  /// The async form of ``blockingReceive(minimumCount:maxCount:_:)``: suspends the task, not its thread.
  @discardableResult
  public nonisolated(nonsending) func receive(
    minimumCount: Int = 1, maxCount: Int = .max, reactor: Reactor = .shared,
    _ body: (UnsafeBufferPointer<Element>) throws -> Int
  ) async throws -> Int {
    _ = try await side.wait(forMinimum: minimumCount, reactor: reactor)
    return try read(count: try side.available(upTo: maxCount), body)
  }

  // MARK: Elements

  /// The next element if there is one now: ``Outcome/wouldBlock`` if the ring is empty,
  /// ``Outcome/ended`` at the end of the stream.
  @inlinable
  public func tryReceive() throws(HinixError) -> Outcome<Element> {
    guard try side.available(atLeast: 1) >= 1 else { return try empty() }
    return .completed(take())
  }

  /// The next element, blocking the thread while the ring is empty; nil at the end of the
  /// stream.
  @inlinable
  @available(*, noasync, message: "blocks its thread; use `await receive()` in async code")
  public func blockingReceive() throws(HinixError) -> Element? {
    switch try side.wait(for: 1, waiting: .forever) {
    case .ready: take()
    case .closed, .timedOut: nil
    }
  }

  /// The next element, blocking the thread at most `timeout`: ``Outcome/timedOut`` if none
  /// came in time, ``Outcome/ended`` at the end of the stream.
  @available(*, noasync, message: "blocks its thread; use `await receive()` in async code")
  public func blockingReceive(timeout: Duration) throws(HinixError) -> Outcome<Element> {
    switch try side.wait(for: 1, waiting: .until(.after(timeout))) {
    case .ready: .completed(take())
    case .closed: .ended
    case .timedOut: .timedOut
    }
  }

  /// The next element, suspending the task while the ring is empty; nil at the end.
  public func receive(reactor: Reactor = .shared) async throws -> Element? {
    switch try await side.wait(for: 1, reactor: reactor) {
    case .ready: take()
    case .closed, .timedOut: nil
    }
  }

  /// Copies elements into `buffer`, blocking the thread until at least one is there; returns
  /// how many (0 at the end of the stream).
  @inlinable
  @available(*, noasync, message: "blocks its thread; use `await receive(into:)` in async code")
  public func blockingReceive(into buffer: UnsafeMutableBufferPointer<Element>) throws(HinixError) -> Int {
    guard !buffer.isEmpty else { return 0 }
    _ = try side.wait(for: 1, waiting: .forever)
    return try copy(into: buffer)
  }

  /// Copies the elements there are now into `buffer`: ``Outcome/wouldBlock`` if the ring is
  /// empty, ``Outcome/ended`` at the end of the stream.
  @inlinable
  public func tryReceive(into buffer: UnsafeMutableBufferPointer<Element>) throws(HinixError) -> Outcome<Int>
  {
    guard try side.available(atLeast: 1) >= 1 else { return try empty() }
    return .completed(try copy(into: buffer))
  }

  /// The async form of ``blockingReceive(into:)``.
  public nonisolated(nonsending) func receive(
    into buffer: UnsafeMutableBufferPointer<Element>, reactor: Reactor = .shared
  )
    async throws -> Int
  {
    guard !buffer.isEmpty else { return 0 }
    _ = try await side.wait(for: 1, reactor: reactor)
    return try copy(into: buffer)
  }

  // MARK: Internals

  @inlinable
  func take() -> Element {
    let element = (UnsafeRawPointer(side.data) + side.slot * MemoryLayout<Element>.stride).loadUnaligned(
      as: Element.self)
    side.commit(1)
    return element
  }

  @inlinable
  func copy(into buffer: UnsafeMutableBufferPointer<Element>) throws(HinixError) -> Int {
    var filled = 0
    let count = try side.available(upTo: buffer.count)
    return read(count: count) { elements in
      UnsafeMutableRawPointer(buffer.baseAddress! + filled).copyMemory(
        from: elements.baseAddress!, byteCount: elements.count * MemoryLayout<Element>.stride)
      filled += elements.count
      return elements.count
    }
  }

  /// The outcome of a try form that found the ring empty: the end of the stream once the
  /// sender closed it, else "would block". Off the hot path: the closed flag is read only here.
  @usableFromInline
  func empty<T>() throws(HinixError) -> Outcome<T> {
    try side.check(1) == .closed ? .ended : .wouldBlock
  }

  @inlinable
  func read<E: Error>(count: Int, _ body: (UnsafeBufferPointer<Element>) throws(E) -> Int) throws(E)
    -> Int
  {
    let base = UnsafePointer(side.data.assumingMemoryBound(to: Element.self))
    return try side.transfer(count: count) { (start, count) throws(E) in
      try body(UnsafeBufferPointer(start: base + start, count: count))
    }
  }
}
