import Glibc
import SystemPackage

/// One side of a ring (the producer or the consumer): its private view of the positions, the
/// shared words it publishes to and reads from, and the descriptors it sleeps on.
///
/// Used by one owner at a time (``RingSender``, ``RingReceiver``, ``MessageSender``,
/// ``MessageReceiver`` are non-copyable), hence `@unchecked Sendable` with plain `var`s.
///
/// ## Wake-ups without a lost wake-up
///
/// A side that finds nothing to do spins for its strategy's time, then announces that it will
/// sleep: it stores 1 in its sleeping flag, issues a full fence, and checks the ring once more
/// before it blocks in `recv` (or, with a deadline, `epoll_wait`) on its end of the doorbell.
/// The other side, after it publishes a position with a release store, issues a full fence and
/// then loads that flag; only if it is 1 does it swap it to 0 and ring (send a byte). The two
/// fences order each side's store before its load (the store-buffer pattern), so at least one
/// of them sees the other's store: either the sleeper's last check sees the new position, or
/// the publisher sees the flag and rings. The byte stays queued until read, so a ring that
/// comes between the last check and the block is not lost. While the consumer keeps up (or
/// spins), the producer's per-message cost is one release store, one fence and one load of a
/// line nobody writes: no system call.
@usableFromInline
final class RingSide: @unchecked Sendable {
  @usableFromInline
  enum Role: Sendable {
    case producer
    case consumer
  }

  /// How a wait ended.
  @usableFromInline
  enum WaitResult {
    case ready
    case timedOut
    /// The other side closed the ring cleanly.
    case closed
  }

  @usableFromInline let role: Role
  /// Whether this side is a message ring's consumer, which learns of a message from the frame
  /// itself: the producer publishes each frame by storing its header word last (release) and
  /// zeroes the next frame's header word first, so the word at this side's position is 0 until
  /// a frame is there (see ``MessageFrame``). Polling that word reads the line the message is
  /// in, one line transfer per message, where polling the producer's position (a line of its
  /// own) and then reading the message took two in series.
  @usableFromInline let readsFrames: Bool
  let memory: SharedMemory
  @usableFromInline let capacity: Int
  @usableFromInline let data: UnsafeMutableRawPointer
  let elementSize: Int
  // The hot state below is touched on every element, also from code inlined into other modules
  // (the typed ends' @inlinable paths), where the compiler cannot prove accesses never overlap
  // and would call the runtime's exclusivity check each time. They never overlap: one
  // non-copyable end owns this side and uses it from one thread at a time, and no access
  // outlives the statement that makes it. Hence `@exclusivity(unchecked)`.

  /// Elements this side has written (producer) or read (consumer); the truth for this side.
  @usableFromInline @exclusivity(unchecked) var position: UInt64 = 0
  /// How far this side may move its position on what it last read of the other side's: the
  /// other side's position (validated), plus the capacity for the producer. So that both roles
  /// count what they may use as one subtraction, `limit - position`, with no branch on the role.
  @usableFromInline @exclusivity(unchecked) var limit: UInt64 = 0
  /// What ``limit`` adds to the other side's position: the capacity for the producer (free
  /// slots end a ring's length past the consumer), 0 for the consumer.
  @usableFromInline let limitOffset: UInt64
  /// The capacity less one (a power of two less one): a position's slot is `position & mask`.
  @usableFromInline let mask: UInt64
  /// The last value of the other side's position that this side read and validated.
  @usableFromInline var peerPosition: UInt64 { limit &- limitOffset }
  var strategy: WaitStrategy = .adaptive
  /// This side's history of waits, which ``WaitStrategy/adaptive`` spins by.
  let history = WaitHistory()
  /// Set when the ring failed validation or the peer vanished; every later call throws it.
  private(set) var failure: HinixError?
  /// Whether ``failure`` is set: the one word the hot paths test, without copying the error.
  @usableFromInline @exclusivity(unchecked) private(set) var failed = false
  private var isClosed = false
  /// When a spin next polls the doorbell for a hang-up (CLOCK_MONOTONIC nanoseconds).
  private var nextHangUpCheck: Int64 = 0
  /// How often a long spin polls the doorbell: a dead peer is noticed within this time.
  static let hangUpCheckNanoseconds: Int64 = 10_000_000

  @usableFromInline let published: UnsafeMutablePointer<UInt64>
  @usableFromInline let peerPublished: UnsafeMutablePointer<UInt64>
  private let sleeping: UnsafeMutablePointer<UInt64>
  @usableFromInline let peerSleeping: UnsafeMutablePointer<UInt64>
  private let closedFlag: UnsafeMutablePointer<UInt64>
  private let peerClosedFlag: UnsafeMutablePointer<UInt64>
  /// This side's end of the ring's doorbell, a connected Unix stream pair whose other end only
  /// the other side holds. A byte sent on it wakes the other side; a byte arriving wakes this
  /// one; its hang-up means the other side is gone (closed or dead). Every call on it but the
  /// sleep with no deadline's `recv` is non-blocking by its own flag (`MSG_DONTWAIT`), so nothing
  /// the other process does to its end, or to a shared file description, can make a wake-up or
  /// a drain wait.
  let bell: Socket
  /// An epoll instance holding `bell` (readable, hang-up).
  private let waitSet: OwnedDescriptor

  init(role: Role, memory: SharedMemory, header: RingLayout.Header, bell: Socket) throws(HinixError) {
    self.role = role
    self.readsFrames = role == .consumer && header.flags & RingLayout.messageFlag != 0
    self.memory = memory
    self.capacity = header.capacity
    self.elementSize = header.elementSize
    self.limitOffset = role == .producer ? UInt64(header.capacity) : 0
    self.mask = UInt64(header.capacity) &- 1
    let base = memory.baseAddress
    self.data = base + RingLayout.dataOffset
    func word(_ offset: Int) -> UnsafeMutablePointer<UInt64> {
      (base + offset).assumingMemoryBound(to: UInt64.self)
    }
    let producer = role == .producer
    published = word(producer ? RingLayout.producerPosition : RingLayout.consumerPosition)
    peerPublished = word(producer ? RingLayout.consumerPosition : RingLayout.producerPosition)
    sleeping = word(producer ? RingLayout.producerSleeping : RingLayout.consumerSleeping)
    peerSleeping = word(producer ? RingLayout.consumerSleeping : RingLayout.producerSleeping)
    closedFlag = word(producer ? RingLayout.producerClosed : RingLayout.consumerClosed)
    peerClosedFlag = word(producer ? RingLayout.consumerClosed : RingLayout.producerClosed)
    self.bell = bell
    let epoll: Int32
    switch Sys.epollCreate() {
    case .success(let fd): epoll = fd
    case .failure(let error): throw HinixError.system(error, "epoll_create1", subject: "ring")
    }
    waitSet = OwnedDescriptor(adopting: FileDescriptor(rawValue: epoll))
    if case .failure(let error) = Sys.epollControl(
      epoll, Sys.epollAdd, bell.descriptor.rawValue, Sys.epollIn | Sys.epollReadHangUp, 0)
    {
      throw HinixError.system(error, "epoll_ctl", subject: "ring doorbell")
    }
    // A ring opened after the other side already moved: start from the published positions.
    // Both are validated against each other; the other side's is re-read on every refresh.
    position = Sys.loadAcquire(published)
    _ = try take(Sys.loadAcquire(peerPublished))
    // A message ring's positions are byte offsets of 8-aligned frames. One that is not would
    // make a header word straddle two lines, or the end of the mapping (a crash): refused.
    if header.flags & RingLayout.messageFlag != 0, (position | peerPosition) & 7 != 0 {
      throw HinixError(
        .corrupt, operation: producer ? "ring send" : "ring receive", subject: "shared ring",
        detail:
          "a message ring's positions must be multiples of 8, and this side's is \(position), the other side's \(peerPosition)"
      )
    }
    // A message ring's consumer counts only frames it has seen.
    if readsFrames { limit = position }
  }

  deinit {
    close()
  }

  /// The descriptor that becomes readable when this side should look at the ring again: for
  /// one thread serving many rings with `poll` or epoll.
  var waitDescriptor: FileDescriptor { waitSet.descriptor }

  // MARK: Positions

  /// Elements this side may use now without reading the other side's position: free slots for
  /// the producer, readable elements for the consumer.
  @inlinable @inline(__always)
  var cachedCount: Int {
    // Between 0 and the capacity: ``take(_:)`` checked it, and ``stop(_:)`` makes it 0.
    Int(truncatingIfNeeded: limit &- position)
  }

  /// Re-reads the other side's position (acquire) and validates it; returns ``cachedCount``.
  ///
  /// Not `@inline(__always)`: forced into the async `wait(for:)`, it crashes Swift 6.3's
  /// coroutine splitting (signal 11 in `emitSetAndGetSwiftErrorValueAround`).
  @inlinable
  func refresh() throws(HinixError) -> Int {
    if failed { throw storedFailure() }
    // A message ring's consumer learns of frames from their header words alone, in the lines
    // it reads anyway. It never loads the producer's position, which the producer stores on
    // every send: that load was one more line transfer per message, and halved a stream of
    // small messages.
    if readsFrames { return takeFrames() }
    return try take(Sys.loadAcquire(peerPublished))
  }

  /// A message ring's consumer (``readsFrames``): the bytes the producer has published at this
  /// side's position, read from the header word there (acquire) and made the cached count: 0
  /// while the word is 0, else the frame's extent, and for a padding frame the rest of the ring
  /// and the frame at offset 0. At most the capacity, and not validated: ``MessageFrame`` checks
  /// every word it uses before it reads a message.
  @usableFromInline
  func takeFrames() -> Int {
    @inline(__always) func frameSize(_ word: UInt64) -> Int {
      MessageFrame.frameSize(Int(word & 0xFFFF_FFFF))
    }
    let offset = slot
    let word = Sys.loadAcquire((data + offset).assumingMemoryBound(to: UInt64.self))
    var extent = 0
    if word >> 32 == MessageFrame.paddingKind {
      // A padding frame covers the rest of the ring; the sender published the frame at 0 first.
      extent = capacity - offset
      let second = Sys.loadAcquire(data.assumingMemoryBound(to: UInt64.self))
      if second != 0 { extent += frameSize(second) }
    } else if word != 0 {
      extent = frameSize(word)
    }
    limit = position &+ UInt64(min(extent, capacity))
    return cachedCount
  }

  /// Validates `peer`, a value just loaded (acquire) from the other side's position, and makes
  /// it the cached one; returns ``cachedCount``.
  @inlinable @inline(__always)
  func take(_ peer: UInt64) throws(HinixError) -> Int {
    // The count this position allows: free slots (capacity - (position - peer)) for the
    // producer, elements (peer - position) for the consumer. No honest peer makes it exceed the
    // capacity; one behind the producer or ahead of the consumer wraps it past the capacity too.
    let count = peer &+ limitOffset &- position
    if count > mask &+ 1 {
      try checkDistance(peer)
    }
    limit = peer &+ limitOffset
    return Int(truncatingIfNeeded: count)
  }

  /// ``failure``, once ``failed`` says it is set (``fail(_:)`` sets both): out of line, so the
  /// check in the hot path stays one comparison.
  @usableFromInline @inline(never)
  func storedFailure() -> HinixError {
    failure ?? HinixError(.corrupt, operation: "ring", subject: "shared ring", detail: "the ring failed")
  }

  /// The count available now: the cached one if it is at least `needed`, else a fresh one.
  @inlinable @inline(__always)
  func available(atLeast needed: Int) throws(HinixError) -> Int {
    let cached = cachedCount
    return cached >= needed ? cached : try refresh()
  }

  /// The count available now, at most `maxCount`: the cached one if it is enough, else a fresh
  /// one.
  @inlinable @inline(__always)
  func available(upTo maxCount: Int) throws(HinixError) -> Int {
    min(try available(atLeast: min(maxCount, capacity)), maxCount)
  }

  /// Checks that a wait for `minimumCount` elements (or free slots) can ever end.
  @inlinable @inline(__always)
  func checkMinimum(_ minimumCount: Int) throws(HinixError) {
    guard minimumCount >= 1, minimumCount <= capacity else { throw minimumError(minimumCount) }
  }

  /// The slot at this side's position: where its next element goes (or comes from).
  @inlinable @inline(__always)
  var slot: Int { Int(truncatingIfNeeded: position & mask) }

  /// Hands `count` slots from this side's position to `body` as at most two runs (`start`,
  /// `count`): the second, from slot 0, only when the first ends at the ring's end and `body`
  /// used all of it. Clamps what `body` reports to each run, commits the total once and
  /// returns it.
  @inlinable @inline(__always)
  func transfer<E: Error>(count: Int, _ body: (_ start: Int, _ count: Int) throws(E) -> Int) throws(E) -> Int
  {
    guard count > 0 else { return 0 }
    let start = slot
    let first = min(count, capacity &- start)
    var done = min(max(try body(start, first), 0), first)
    if done == first, count > first {
      done &+= min(max(try body(0, count &- first), 0), count &- first)
    }
    if done > 0 { commit(done) }
    return done
  }

  /// Waits, as `waiting` says, until `minimumCount` elements (or free slots) are there, after
  /// checking that some wait can end.
  @inlinable
  func wait(forMinimum minimumCount: Int, waiting: Waiting) throws(HinixError) -> WaitResult {
    try checkMinimum(minimumCount)
    return try wait(for: minimumCount, waiting: waiting)
  }

  /// The async form of ``wait(forMinimum:waiting:)``.
  func wait(forMinimum minimumCount: Int, reactor: Reactor) async throws -> WaitResult {
    try checkMinimum(minimumCount)
    return try await wait(for: minimumCount, reactor: reactor)
  }

  /// The error for a count no wait can satisfy, built out of line (off the inlined paths).
  @usableFromInline @inline(never)
  func minimumError(_ minimumCount: Int) -> HinixError {
    HinixError(
      .invalidArgument, operation: role == .producer ? "ring send" : "ring receive", subject: "shared ring",
      detail:
        "cannot wait for \(minimumCount) \(role == .producer ? "free slots" : "elements") in a ring of \(capacity)"
    )
  }

  /// Throws `.corrupt` (and fails the ring) when `peer`, the other side's published position,
  /// is further from this side's than the capacity allows, or on the wrong side of it.
  @usableFromInline
  func checkDistance(_ peer: UInt64) throws(HinixError) {
    let distance = role == .producer ? position &- peer : peer &- position
    guard distance <= UInt64(capacity) else {
      let error = HinixError(
        .corrupt, operation: role == .producer ? "ring send" : "ring receive", subject: "shared ring",
        detail:
          "the other side's position is \(distance) elements from this side's, more than the capacity \(capacity)"
      )
      try fail(error)
    }
  }

  /// Marks the ring failed with `error` and throws it.
  func fail(_ error: HinixError) throws(HinixError) -> Never {
    stop(error)
    throw error
  }

  /// Makes every later call on this side throw `error`: sets it, and empties the cached count
  /// so that no call can go on from the cache without reaching the check in ``refresh()``.
  private func stop(_ error: HinixError) {
    guard !failed else { return }
    failure = error
    failed = true
    limit = position
  }

  /// Moves this side's position by `count` and publishes it, waking the other side only if it
  /// announced that it sleeps.
  @inlinable @inline(__always)
  func commit(_ count: Int) {
    // Every caller passes at most the count it was allowed, never a negative one.
    position &+= UInt64(truncatingIfNeeded: count)
    Sys.storeRelease(published, position)
    Sys.fence()
    if Sys.loadRelaxed(peerSleeping) != 0, Sys.exchange(peerSleeping, 0) != 0 {
      wake()
    }
  }

  /// Rings the other side's doorbell: one byte, sent with `MSG_DONTWAIT`, so it never waits. A
  /// full queue (`EAGAIN`: the other side has not drained its earlier wake-ups) means a wake-up
  /// is pending already; any other failure is the other side's to report (its hang-up).
  @usableFromInline
  func wake() {
    var ring: UInt8 = 1
    _ = withUnsafeBytes(of: &ring) { Sys.send(bell.fd, $0, flags: Sys.dontWait) }
  }

  /// Tells the other side that this side is done, and wakes it whatever it is doing; every
  /// later call on this side throws `.closed`.
  func close() {
    guard !isClosed else { return }
    isClosed = true
    Sys.storeRelease(closedFlag, 1)
    Sys.fence()
    wake()
    stop(
      HinixError(
        .closed, operation: role == .producer ? "ring send" : "ring receive", subject: "shared ring",
        detail: "this end was closed"))
  }

  /// Whether the other side closed the ring cleanly.
  @usableFromInline
  var peerClosed: Bool { Sys.loadAcquire(peerClosedFlag) != 0 }

  /// Ready if `needed` elements are there, closed if the other side closed with fewer, else
  /// nil. The other side publishes its last position before it sets its closed flag, so once
  /// the flag is seen, a refresh after it sees everything that side sent: the position is read
  /// again before "closed" is reported, or data still in the ring could be reported lost. The
  /// flag's line is read only when the ring lacks what is needed, off the hot path.
  @inline(__always)
  func check(_ needed: Int) throws(HinixError) -> WaitResult? {
    if try refresh() >= needed { return .ready }
    guard peerClosed else { return nil }
    return try refresh() >= needed ? .ready : .closed
  }

  // MARK: Waiting

  /// Waits until `needed` elements are available, as the strategy and `waiting` allow. Inlined:
  /// when they are there already, as while the other side keeps up, it is one check.
  @inlinable @inline(__always)
  func wait(for needed: Int, waiting: Waiting) throws(HinixError) -> WaitResult {
    if try available(atLeast: needed) >= needed { return .ready }
    return try waitForMore(needed, waiting: waiting)
  }

  /// ``wait(for:waiting:)`` once what is there is not enough: out of line, the spin and the
  /// sleep.
  @usableFromInline
  func waitForMore(_ needed: Int, waiting: Waiting) throws(HinixError) -> WaitResult {
    if case .never = waiting { return try check(needed) ?? .timedOut }
    // The wait's spin, asked for once; for an adaptive history, when the wait began (the
    // other strategies read no clock before their spin's 64th round).
    let budget = strategy.spinBudget(history)
    let learner = strategy.isAdaptive && budget > 0 ? history.learner : nil
    let start = learner == nil ? 0 : Deadline.Instant.now.nanoseconds
    if let ready = try spin(for: needed, until: waiting, budget: budget) {
      learner?.record(Deadline.Instant.now.nanoseconds &- start, budget: budget, caught: true)
      return ready
    }
    // A miss only when the spin could run its course: a timed wait's deadline may cut it short.
    var cutShort = false
    if case .until(let deadline) = waiting { cutShort = deadline.nanoseconds < start &+ budget }
    if let learner, !cutShort { learner.record(0, budget: budget, caught: false) }
    while true {
      if let settled = try announceSleep(for: needed) { return settled }
      let timeout: Int32
      switch waiting {
      case .never: timeout = 0
      case .forever: timeout = -1
      case .until(let deadline): timeout = deadline.pollMilliseconds
      }
      let peerGone = try block(timeoutMilliseconds: timeout)
      Sys.storeRelaxed(sleeping, 0)
      if let settled = try settle(for: needed, peerGone: peerGone) { return settled }
      if case .until(let deadline) = waiting, deadline <= .now { return .timedOut }
    }
  }

  /// The async form of ``wait(for:waiting:)``: the reactor's core spins in slices, then
  /// suspends on ``waitDescriptor`` with the same sleep announcement as the blocking form.
  func wait(for needed: Int, reactor: Reactor) async throws -> WaitResult {
    try await reactor.perform(
      .readable, on: waitSet.descriptor, strategy: strategy, history: history,
      attempt: { () throws(HinixError) -> WaitResult? in
        try available(atLeast: needed) >= needed ? .ready : nil
      },
      spin: { end throws(HinixError) -> WaitResult? in
        // The core chose the spin (`end`): no budget of this side's own.
        try spin(for: needed, until: .until(Deadline.Instant(nanoseconds: end)), budget: .max)
      },
      beforeSuspending: { () throws(HinixError) -> WaitResult? in try announceSleep(for: needed) },
      afterSuspending: { woke throws(HinixError) -> WaitResult? in
        // Drain the wake-up, withdraw the announcement, then look: as the blocking form does.
        let peerGone =
          woke ? Result { () throws(HinixError) in try block(timeoutMilliseconds: 0) } : .success(false)
        Sys.storeRelaxed(sleeping, 0)
        guard woke else { return nil }
        return try settle(for: needed, peerGone: try peerGone.get())
      })
  }

  /// Spins on the shared position until `needed` elements are there or the spin of `budget`
  /// nanoseconds (bounded by `waiting`'s deadline) runs out; nil when it did. The caller has
  /// just looked at the ring.
  ///
  /// Inlined, so that a wait that ends in the spin goes straight on into the caller's reading
  /// or writing: the round trip's critical path is the exit from this loop. Everything done
  /// only every 64 rounds is in ``spinCheck(for:round:waiting:budget:end:)``, out of line.
  @inline(__always)
  private func spin(for needed: Int, until waiting: Waiting, budget: Int64) throws(HinixError) -> WaitResult?
  {
    guard budget > 0 else { return nil }
    if case .never = waiting { return nil }
    var end = Int64.max
    // The hot loop reads one word, as the C baseline's round does: the other side's position,
    // compared with the last value seen (a new value is validated and counted), or for a
    // message ring's consumer the frame header word at its own position.
    // (`failed` cannot change while this loop runs: only this side sets it, and it throws
    // when it does.)
    var round = 0
    let frame = (data + slot).assumingMemoryBound(to: UInt64.self)
    while true {
      if readsFrames {
        // The header word at this side's position: 0 until the producer publishes a frame there.
        if Sys.loadAcquire(frame) != 0, takeFrames() >= needed { return .ready }
      } else {
        let peer = Sys.loadAcquire(peerPublished)
        if peer != peerPosition, try take(peer) >= needed { return .ready }
      }
      round &+= 1
      if round & 63 == 0,
        let stop = try spinCheck(for: needed, round: round, waiting: waiting, budget: budget, end: &end)
      {
        switch stop {
        case .settled(let result): return result
        case .expired: return nil
        }
      }
      WaitStrategy.relax()
    }
  }

  /// Why a spin stopped without the elements it waited for.
  private enum SpinStop {
    case settled(WaitResult)
    case expired
  }

  /// What a spin looks at every 64 rounds: the closed flag, the clock, and every
  /// ``hangUpCheckNanoseconds`` the doorbell's hang-up. The clock is first read at round 64, not
  /// before the first look, so a wait that ends sooner (every wait while messages flow) reads
  /// no clock; the spin then lasts its budget from that reading.
  @inline(never)
  private func spinCheck(
    for needed: Int, round: Int, waiting: Waiting, budget: Int64, end: inout Int64
  ) throws(HinixError) -> SpinStop? {
    if let settled = try check(needed) { return .settled(settled) }
    let now = Deadline.Instant.now.nanoseconds
    if round == 64 {
      let limit: Deadline.Instant?
      if case .until(let deadline) = waiting { limit = deadline } else { limit = nil }
      end = WaitStrategy.spinEnd(from: now, budget: budget, limit: limit)
    } else if now >= end {
      return .expired
    }
    if now >= nextHangUpCheck {
      nextHangUpCheck = now &+ Self.hangUpCheckNanoseconds
      if let settled = try settle(for: needed, peerGone: try block(timeoutMilliseconds: 0)) {
        return .settled(settled)
      }
    }
    return nil
  }

  /// Announces the sleep and checks once more (see the type's comment); a result when the wait
  /// is over without sleeping.
  private func announceSleep(for needed: Int) throws(HinixError) -> WaitResult? {
    Sys.storeRelaxed(sleeping, 1)
    Sys.fence()
    guard let settled = try check(needed) else { return nil }
    Sys.storeRelaxed(sleeping, 0)
    return settled
  }

  /// After a wake-up: ready, closed, or the peer gone (after draining what it left).
  private func settle(for needed: Int, peerGone: Bool) throws(HinixError) -> WaitResult? {
    if let settled = try check(needed) { return settled }
    if peerGone {
      try fail(
        HinixError(
          .peerGone, operation: role == .producer ? "ring send" : "ring receive", subject: "shared ring",
          detail: "the other process exited or closed its connection without closing the ring"))
    }
    return nil
  }

  /// Blocks until the doorbell rings or the time runs out (-1: no limit), then drains it; true
  /// when the other side hung up.
  private func block(timeoutMilliseconds: Int32) throws(HinixError) -> Bool {
    if timeoutMilliseconds < 0, let hungUp = receiveBlocking() { return hungUp }
    var token: UInt64 = 0
    var events: UInt32 = 0
    switch Sys.epollWait(
      waitSet.descriptor.rawValue, &token, &events, capacity: 1, timeoutMilliseconds: timeoutMilliseconds)
    {
    case .success: break
    case .failure(let error): throw HinixError.system(error, "epoll_wait", subject: "shared ring")
    }
    return drainBell() || events & (Sys.epollReadHangUp | Sys.epollHangUp | Sys.epollError) != 0
  }

  /// Waits in `recv` on the doorbell, as the C ring does: one system call that sleeps and takes
  /// what rang, where `epoll_wait` and a `recv` after it were two. True when the other side hung
  /// up; nil when this end does not block (an end another process handed over non-blocking),
  /// for the caller to wait in `epoll_wait` instead.
  private func receiveBlocking() -> Bool? {
    switch receiveRung(flags: 0) {
    case .hungUp: true
    case .taken: false
    case .full: drainBell()
    case .empty: nil
    }
  }

  /// Takes what arrived on the doorbell, never waiting, at most 1 KiB a call (a peer that
  /// floods it costs a spurious wake-up, not a loop); true when the other side hung up.
  private func drainBell() -> Bool {
    for _ in 0..<16 {
      switch receiveRung(flags: Sys.dontWait) {
      case .hungUp: return true
      case .taken, .empty: return false
      case .full: continue
      }
    }
    return false
  }

  /// What one `recv` of up to 64 bytes from the doorbell found.
  private enum Rung {
    /// The other side hung up (end of stream, or an error on the connection).
    case hungUp
    /// Less than a full buffer: nothing more is queued (no second call to learn it).
    case taken
    /// A full buffer: more may be queued.
    case full
    /// Nothing, on a call that may not wait.
    case empty
  }

  /// One `recv` from the doorbell with `flags`.
  private func receiveRung(flags: Int32) -> Rung {
    var bytes = (UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0))
    switch withUnsafeMutableBytes(of: &bytes, { Sys.receive(bell.fd, $0, flags: flags) }) {
    case .success(0): return .hungUp
    case .success(let count) where count < MemoryLayout.size(ofValue: bytes): return .taken
    case .success: return .full
    case .failure(.resourceTemporarilyUnavailable): return .empty
    case .failure: return .hungUp
    }
  }
}
