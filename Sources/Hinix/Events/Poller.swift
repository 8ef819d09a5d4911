import Glibc
import Synchronization
import SystemPackage

/// An object that owns one open descriptor and closes it only when it is released: every
/// Hinix descriptor type. A ``Poller`` registration keeps its object alive, so the descriptor
/// cannot be closed while it is registered.
public protocol DescriptorOwner: AnyObject, Sendable {
  /// The descriptor, still owned by the object.
  var descriptor: FileDescriptor { get }
}

extension EventFD: DescriptorOwner {}
extension TimerFD: DescriptorOwner {}
extension SignalFD: DescriptorOwner {}
extension PipeReader: DescriptorOwner {}
extension PipeWriter: DescriptorOwner {}
extension Socket: DescriptorOwner {}
extension MessageQueue: DescriptorOwner {}
extension ProcessDescriptor: DescriptorOwner {}

/// Any descriptor, owned by a class so that it can be registered with a ``Poller``: for
/// descriptors no Hinix type wraps. It closes the descriptor when released.
public final class AdoptedDescriptor: DescriptorOwner {
  private let handle: OwnedDescriptor

  /// The descriptor, still owned by this object.
  public var descriptor: FileDescriptor { handle.descriptor }

  /// Takes ownership of `descriptor`.
  public init(adopting descriptor: FileDescriptor) {
    handle = OwnedDescriptor(adopting: descriptor)
  }

  /// Takes over an owned descriptor.
  public init(_ owned: consuming OwnedDescriptor) {
    handle = owned
  }
}

/// An epoll instance for programs that run their own event loop: register descriptors with a
/// token and the events of interest, then wait for readiness into a buffer the caller owns.
///
/// ```swift
/// let poller = try Poller()
/// let input = try poller.register(reader, token: 1, events: .readable)
/// let events = Poller.Events(capacity: 64)
/// while true {
///   let count = try await poller.wait(into: events)
///   for index in 0..<count where events[index].token == 1 { … }
/// }
/// ```
///
/// **Registrations are owned.** ``register(_:token:events:trigger:exclusive:)`` returns a
/// ``Registration`` that keeps the descriptor's owner alive and removes the descriptor from
/// the epoll set when it ends, before the owner can close it. This matters because epoll
/// watches the open file, not the descriptor number: a descriptor closed while registered keeps
/// being reported for as long as a duplicate of it lives (after `fork`, `dup` or passing it to
/// another process), with a token that now means nothing.
///
/// **No allocation per wait.** Waits fill an ``Events`` buffer made once.
///
/// **Side by side with the reactor.** The poller is the kernel object the ``Reactor`` uses,
/// made public; the async ``wait(into:reactor:)`` suspends on the poller's own descriptor in
/// the reactor, so a task can run a poller loop without blocking a thread.
public final class Poller: DescriptorOwner {
  private let handle: OwnedDescriptor

  /// The epoll descriptor, still owned by this poller.
  public var descriptor: FileDescriptor { handle.descriptor }

  /// Creates an epoll instance (close-on-exec).
  ///
  /// The corresponding C function is `epoll_create1`.
  public init() throws(HinixError) {
    switch Sys.epollCreate() {
    case .success(let fd): handle = OwnedDescriptor(adopting: FileDescriptor(rawValue: fd))
    case .failure(let error):
      throw HinixError.system(error, "epoll_create1", subject: nil) { error in
        switch error {
        case .tooManyOpenFiles, .tooManyOpenFilesInSystem:
          (.limitExceeded, "no descriptor left for the epoll instance (\(error))")
        case .noMemory:
          (.limitExceeded, "the kernel has no memory for another epoll instance")
        default: nil
        }
      }
    }
  }

  private var subject: String { "epoll \(descriptor.rawValue)" }

  // MARK: Registering

  /// How a registration reports readiness.
  public enum Trigger: Sendable, Hashable {
    /// Reported on every wait while the descriptor is ready (the default).
    case level
    /// Reported when the descriptor becomes ready (`EPOLLET`): read or write until it would
    /// block before waiting again.
    case edge
    /// Reported once, then disabled until ``Registration/modify(events:trigger:)`` re-arms it
    /// (`EPOLLONESHOT`).
    case oneShot

    var flags: UInt32 {
      switch self {
      case .level: 0
      case .edge: Sys.epollEdgeTriggered
      case .oneShot: Sys.epollOneShot
      }
    }
  }

  /// Registers `owner`'s descriptor for `events`, reported with `token`.
  ///
  /// - Parameters:
  ///   - owner: the owner of the descriptor to watch, kept alive by the registration.
  ///   - token: the value each ``Event`` of this descriptor carries, to tell it from others.
  ///   - events: the readiness to report (errors and hang-ups are always reported).
  ///   - trigger: level-triggered, edge-triggered or one-shot.
  ///   - exclusive: wake only one of several epoll instances waiting on the same descriptor
  ///     (`EPOLLEXCLUSIVE`, Linux 4.5): for several pollers that share one listening socket.
  ///     Not with `.oneShot`, and it cannot be changed later.
  /// - Throws: `.alreadyExists` when the descriptor is registered already; `.invalidArgument`
  ///   for a regular file or directory (always ready: epoll refuses them), for an exclusive
  ///   one-shot registration, or for the poller itself; `.limitExceeded` at the per-user
  ///   limit of `/proc/sys/fs/epoll/max_user_watches`.
  /// The corresponding C function is `epoll_ctl` with `EPOLL_CTL_ADD`.
  public func register(
    _ owner: some DescriptorOwner, token: UInt64, events: IOEvents, trigger: Trigger = .level,
    exclusive: Bool = false
  ) throws(HinixError) -> Registration {
    let fd = owner.descriptor.rawValue
    if exclusive && trigger == .oneShot {
      throw HinixError(
        .invalidArgument, operation: "epoll_ctl(EPOLL_CTL_ADD)", subject: "descriptor \(fd)",
        detail: "EPOLLEXCLUSIVE cannot be combined with EPOLLONESHOT")
    }
    let mask = events.rawValue | trigger.flags | (exclusive ? Sys.epollExclusive : 0)
    try control(Sys.epollAdd, fd, mask, token, "epoll_ctl(EPOLL_CTL_ADD)")
    return Registration(poller: self, owner: owner, token: token, exclusive: exclusive)
  }

  /// A descriptor's place in a poller: it keeps the descriptor's owner alive, and removes the
  /// descriptor from the poller when it ends (``deregister()`` or going out of scope).
  public struct Registration: ~Copyable, Sendable {
    /// The poller the descriptor is registered with.
    public let poller: Poller
    /// The object that owns the registered descriptor.
    public let owner: any DescriptorOwner
    /// The token its events carry.
    public let token: UInt64
    private let exclusive: Bool

    init(poller: Poller, owner: any DescriptorOwner, token: UInt64, exclusive: Bool) {
      self.poller = poller
      self.owner = owner
      self.token = token
      self.exclusive = exclusive
    }

    /// The registered descriptor.
    public var descriptor: FileDescriptor { owner.descriptor }

    /// Changes the events of interest and the trigger; for a one-shot registration, also
    /// re-arms it. The token stays.
    ///
    /// - Throws: `.invalidArgument` for an exclusive registration, whose events the kernel
    ///   does not let change.
    /// The corresponding C function is `epoll_ctl` with `EPOLL_CTL_MOD`.
    public func modify(events: IOEvents, trigger: Trigger = .level) throws(HinixError) {
      if exclusive {
        throw HinixError(
          .invalidArgument, operation: "epoll_ctl(EPOLL_CTL_MOD)",
          subject: "descriptor \(descriptor.rawValue)",
          detail: "an EPOLLEXCLUSIVE registration cannot be modified; deregister and register it again")
      }
      try poller.control(
        Sys.epollModify, descriptor.rawValue, events.rawValue | trigger.flags, token,
        "epoll_ctl(EPOLL_CTL_MOD)")
    }

    /// Removes the descriptor from the poller now, reporting a failure; the owner is released
    /// afterwards.
    ///
    /// The corresponding C function is `epoll_ctl` with `EPOLL_CTL_DEL`.
    public consuming func deregister() throws(HinixError) {
      // The deinit that follows removes it again, harmlessly (ENOENT), while `owner` still
      // holds the descriptor open.
      try poller.control(Sys.epollDelete, descriptor.rawValue, 0, 0, "epoll_ctl(EPOLL_CTL_DEL)")
    }

    deinit {
      // Before `owner` is released, so its descriptor is never closed while registered.
      _ = Sys.epollControl(poller.descriptor.rawValue, Sys.epollDelete, descriptor.rawValue, 0, 0)
    }
  }

  fileprivate func control(_ operation: Int32, _ fd: Int32, _ mask: UInt32, _ token: UInt64, _ name: String)
    throws(HinixError)
  {
    guard case .failure(let error) = Sys.epollControl(descriptor.rawValue, operation, fd, mask, token) else {
      return
    }
    throw HinixError.system(error, name, subject: "descriptor \(fd) in \(subject)") { error in
      switch error {
      case .fileExists:
        (.alreadyExists, "descriptor \(fd) is registered with this poller already")
      case .noSuchFileOrDirectory:
        (.notFound, "descriptor \(fd) is not registered with this poller")
      case .notPermitted:
        (
          .invalidArgument,
          "descriptor \(fd) does not support epoll (a regular file or directory is always ready)"
        )
      case .noSpace:
        (
          .limitExceeded,
          "the per-user limit of epoll registrations (/proc/sys/fs/epoll/max_user_watches = "
            + "\(procValue("/proc/sys/fs/epoll/max_user_watches"))) is reached"
        )
      case .tooManySymbolicLinkLevels:
        (.invalidArgument, "registering descriptor \(fd) would nest epoll instances in a loop or too deep")
      case .invalidArgument:
        (
          .invalidArgument,
          "the kernel refused the registration of descriptor \(fd) (the poller itself, or flags it does not allow)"
        )
      case .badFileDescriptor:
        (.invalidArgument, "descriptor \(fd) is not open")
      default: nil
      }
    }
  }

  // MARK: Waking

  /// Wakes a thread waiting on the poller from any thread: ``wake()`` makes one event with
  /// the waker's token appear. It holds an eventfd registered edge-triggered, so every wake is
  /// reported once and nothing needs draining.
  public final class Waker: Sendable {
    private let event: EventFD
    private let registration: Mutex<Registration?>
    /// The token its events carry.
    public let token: UInt64

    fileprivate init(poller: Poller, token: UInt64) throws(HinixError) {
      let event = try EventFD(nonBlocking: true)
      self.event = event
      self.token = token
      registration = Mutex(try poller.register(event, token: token, events: .readable, trigger: .edge))
    }

    /// Makes the poller report an event with ``token``; it never blocks.
    public func wake() {
      // A full counter (after 2^64 - 2 wakes) is still readable: the wake is not lost.
      _ = try? event.tryAdd(1)
    }
  }

  /// A waker whose wakes the poller reports with `token`.
  ///
  /// The corresponding C functions are `eventfd` and `epoll_ctl`.
  public func makeWaker(token: UInt64) throws(HinixError) -> Waker {
    try Waker(poller: self, token: token)
  }

  // MARK: Waiting

  /// One readiness report: the registration's token and what the descriptor is ready for.
  public struct Event: Sendable, Hashable {
    /// The token given when registering.
    public var token: UInt64
    /// The events the descriptor reported (errors and hang-ups always included).
    public var events: IOEvents
  }

  /// A buffer of events that waits fill, allocated once by its owner: a wait allocates
  /// nothing. Iterate it (or index it up to ``count``) after a wait.
  ///
  /// Waits take it borrowed, not `inout`, and fill the memory it owns: so a buffer declared at
  /// the top level of `main.swift`, which is isolated to the main actor, can be passed to the
  /// async form (Swift refuses to pass such a variable `inout` to an async call).
  public struct Events: ~Copyable {
    /// The count of the last wait, then `capacity` epoll events.
    private let storage: UnsafeMutableRawPointer
    /// How many events a wait can report at most.
    public let capacity: Int

    /// A buffer for at most `capacity` events (at least 1).
    public init(capacity: Int = 64) {
      self.capacity = min(max(capacity, 1), (Int(Int32.max) - 8) / Sys.epollEventSize)
      storage = .allocate(byteCount: 8 + self.capacity * Sys.epollEventSize, alignment: 8)
      storage.storeBytes(of: 0, as: Int.self)
    }

    deinit { storage.deallocate() }

    /// How many events the last wait reported.
    public var count: Int { storage.load(as: Int.self) }

    /// The event at `index`, below ``count``.
    public subscript(index: Int) -> Event {
      precondition(index >= 0 && index < count, "event \(index) of \(count)")
      let base = buffer + index * Sys.epollEventSize
      return Event(
        token: base.loadUnaligned(fromByteOffset: Sys.epollDataOffset, as: UInt64.self),
        events: IOEvents(rawValue: base.loadUnaligned(as: UInt32.self)))
    }

    fileprivate var buffer: UnsafeMutableRawPointer { storage + 8 }

    fileprivate func setCount(_ count: Int) { storage.storeBytes(of: count, as: Int.self) }
  }

  /// Waits until at least one registered descriptor is ready, blocking the thread, and fills
  /// `events`; returns how many it reported.
  ///
  /// The corresponding C function is `epoll_wait`.
  @available(*, noasync, message: "blocks its thread; use `await wait(into:)` in async code")
  @discardableResult
  public func blockingWait(into events: borrowing Events) throws(HinixError) -> Int {
    try wait(into: events, waiting: .forever)
  }

  /// Fills `events` with what is ready now, without waiting: ``Outcome/completed(_:)`` with
  /// how many events it reported, or ``Outcome/wouldBlock`` when nothing is ready.
  public func tryWait(into events: borrowing Events) throws(HinixError) -> Outcome<Int> {
    let count = try wait(into: events, waiting: .never)
    return count > 0 ? .completed(count) : .wouldBlock
  }

  /// Waits at most `timeout` for a ready descriptor, blocking the thread:
  /// ``Outcome/completed(_:)`` with how many events it reported, or ``Outcome/timedOut``.
  @available(*, noasync, message: "blocks its thread; use `await wait(into:)` in async code")
  public func blockingWait(into events: borrowing Events, timeout: Duration) throws(HinixError) -> Outcome<
    Int
  > {
    let count = try wait(into: events, waiting: .until(.after(timeout)))
    return count > 0 ? .completed(count) : .timedOut
  }

  /// Waits for a ready descriptor, suspending the task (not its thread) on the poller's own
  /// descriptor in `reactor`; returns how many events it reported.
  ///
  /// Throws `CancellationError` if the task is cancelled while it waits.
  ///
  /// It runs on the caller's actor (`nonisolated(nonsending)`), so the buffer is filled and
  /// read in one isolation: two tasks of one actor that share a buffer (a top-level one in
  /// `main.swift`, say) take turns with it rather than filling it at once.
  @discardableResult
  public nonisolated(nonsending) func wait(into events: borrowing Events, reactor: Reactor = .shared)
    async throws -> Int
  {
    while true {
      let count = try wait(into: events, waiting: .never)
      if count > 0 { return count }
      _ = try await reactor.wait(for: .readable, on: descriptor)
    }
  }

  private func wait(into events: borrowing Events, waiting: Waiting) throws(HinixError) -> Int {
    while true {
      let timeout: Int32
      switch waiting {
      case .never: timeout = 0
      case .forever: timeout = -1
      case .until(let deadline): timeout = deadline.pollMilliseconds
      }
      switch Sys.epollWait(
        descriptor.rawValue, into: events.buffer, capacity: Int32(events.capacity),
        timeoutMilliseconds: timeout)
      {
      case .success(let count):
        events.setCount(Int(count))
        // 0 events: the time ran out, or a signal interrupted the wait (wait again).
        if count > 0 || timeout == 0 { return Int(count) }
        if case .until(let deadline) = waiting, deadline.remaining <= .zero { return 0 }
      case .failure(let error):
        events.setCount(0)
        throw HinixError.system(error, "epoll_wait", subject: subject)
      }
    }
  }
}

extension Poller.Events {
  /// The events of the last wait, in the order the kernel reported them.
  public var reported: [Poller.Event] { (0..<count).map { self[$0] } }
}
