import Glibc
import Synchronization
import SystemPackage

/// One epoll instance and one thread that turn descriptor readiness into resumed continuations.
///
/// Every async operation in Hinix tries its non-blocking system call first and, only when the
/// kernel says it would block, suspends in ``wait(for:on:)`` until epoll reports the descriptor
/// ready. No thread of Swift's cooperative pool ever blocks. Several tasks may wait on the same
/// descriptor at once (one for `.readable`, another for `.writable`): the reactor keeps one epoll
/// registration per descriptor with the union of their interests, armed one-shot, and re-arms it
/// for whoever still waits.
///
/// ``shared`` serves the whole process and is what Hinix's own async operations use; any
/// descriptor that supports `poll` (pipes, sockets, signalfd, timerfd, inotify, eventfd, message
/// queues) can be awaited through it.
public final class Reactor: Sendable {
  /// The process-wide reactor; its thread starts on first use and never stops.
  public static let shared = Reactor()

  private struct Waiter {
    let id: UInt64
    let interest: UInt32
    let continuation: UnsafeContinuation<IOEvents, any Error>
  }

  /// A descriptor's waiters. A class, looked up by reference and changed in place: changing a
  /// struct through the dictionary's subscript runs its `_modify` coroutines, whose frames were
  /// two heap allocations per wake-up.
  private final class Registration {
    var waiters: [Waiter] = []
    var mask: UInt32 { waiters.reduce(0) { $0 | $1.interest } }

    init() {
      waiters.reserveCapacity(2)
    }
  }

  private struct State {
    var registrations: [Int32: Registration] = [:]
    /// Descriptors served on the reactor's thread for as long as the process runs (see
    /// ``serve(_:_:)``), by descriptor.
    var sources: [Int32: @Sendable () -> Void] = [:]
    var nextID: UInt64 = 0
    var isShutDown = false
  }

  /// Jobs of tasks that prefer this reactor as their executor, run on its thread between waits.
  private struct Jobs {
    var queue: [UnownedJob] = []
    /// Whether the thread has been woken for the jobs queued since it last drained them.
    var woken = false
  }

  private enum Outcome {
    case waiting
    case ready(IOEvents)
    case failed(any Error)
  }

  private static let wakeToken = UInt64.max
  /// Tokens of served sources: this bit and the descriptor.
  private static let sourceBit: UInt64 = 1 << 40
  private let epoll: Int32
  private let wakeup: Int32
  private let startError: HinixError?
  private let state = Mutex(State())
  private let jobs = Mutex(Jobs())
  /// The reactor thread's `pthread_self()`, once it runs.
  private let threadID = Atomic<UInt>(0)

  /// Creates a reactor with its own epoll instance and thread. Most code uses ``shared``.
  ///
  /// A reactor that cannot get its epoll descriptor or thread reports that error from every wait.
  public init() {
    var epoll: Int32 = -1
    var wakeup: Int32 = -1
    var failure: HinixError?
    switch Sys.epollCreate() {
    case .success(let fd): epoll = fd
    case .failure(let error): failure = .system(error, "epoll_create1")
    }
    if failure == nil {
      switch Sys.eventfd(0, nonBlocking: true) {
      case .success(let fd): wakeup = fd
      case .failure(let error): failure = .system(error, "eventfd")
      }
    }
    if failure == nil,
      case .failure(let error) = Sys.epollControl(
        epoll, Sys.epollAdd, wakeup, Sys.epollIn, Reactor.wakeToken)
    {
      failure = .system(error, "epoll_ctl(EPOLL_CTL_ADD)")
    }
    self.epoll = epoll
    self.wakeup = wakeup
    self.startError = failure
    if failure == nil {
      startThread()
    }
  }

  deinit {
    if wakeup >= 0 { _ = Sys.close(wakeup) }
    if epoll >= 0 { _ = Sys.close(epoll) }
  }

  private func startThread() {
    // The thread keeps the reactor alive until it returns, after shutdown().
    switch Sys.startThread({ self.run() }) {
    case .success:
      break
    case .failure:
      state.withLock { $0.isShutDown = true }
    }
  }

  /// Calls `onReadable` on the reactor's thread each time `fd` is readable (level-triggered),
  /// for as long as the process runs: for Hinix's own always-open sources (the signal pipe),
  /// which then need no task, no re-arming and no wake-up of another thread. `onReadable` must
  /// never block, and must read until the descriptor is drained or it is called again at once.
  func serve(_ fd: Int32, _ onReadable: @escaping @Sendable () -> Void) throws(HinixError) {
    if let startError { throw startError }
    state.withLock { $0.sources[fd] = onReadable }
    if case .failure(let error) = Sys.epollControl(
      epoll, Sys.epollAdd, fd, Sys.epollIn, Reactor.sourceBit | UInt64(fd))
    {
      state.withLock { _ = $0.sources.removeValue(forKey: fd) }
      throw HinixError.system(error, "epoll_ctl(EPOLL_CTL_ADD)")
    }
  }

  /// Suspends until `descriptor` reports one of `events`, an error or a hang-up, and returns what
  /// it reported.
  ///
  /// Readiness is a hint: the caller retries its non-blocking call and waits again if another
  /// reader got there first. A regular file (which epoll refuses) counts as ready at once.
  /// Cancelling the task unregisters the wait and throws `CancellationError`.
  /// The corresponding C functions are `epoll_ctl` and `epoll_wait`.
  public func wait(for events: IOEvents, on descriptor: FileDescriptor) async throws -> IOEvents {
    let fd = descriptor.rawValue
    let id = state.withLock { state in
      state.nextID &+= 1
      return state.nextID
    }
    return try await withTaskCancellationHandler {
      try await withUnsafeThrowingContinuation { continuation in
        let outcome = register(
          Waiter(id: id, interest: events.rawValue, continuation: continuation), on: fd)
        switch outcome {
        case .waiting: break
        case .ready(let ready): continuation.resume(returning: ready)
        case .failed(let error): continuation.resume(throwing: error)
        }
      }
    } onCancel: {
      cancel(id, on: fd)?.resume(throwing: CancellationError())
    }
  }

  private func register(_ waiter: Waiter, on fd: Int32) -> Outcome {
    if let startError { return .failed(startError) }
    return state.withLock { state -> Outcome in
      if state.isShutDown {
        return .failed(
          HinixError(.reactorShutDown, operation: "epoll_wait", detail: "the reactor was shut down"))
      }
      // onCancel runs before this closure when the task was cancelled already.
      if Task.isCancelled { return .failed(CancellationError()) }
      // A descriptor keeps its (disarmed) registration between waits, so a wait costs one
      // epoll_ctl. If it was closed and its number reused, MOD fails and ADD takes over. The
      // registration (a class) is changed through its reference: neither the dictionary nor
      // the waiters' array is copied or reallocated per wait.
      let registration: Registration
      let existed: Bool
      if let known = state.registrations[fd] {
        registration = known
        existed = true
      } else {
        registration = Registration()
        state.registrations[fd] = registration
        existed = false
      }
      registration.waiters.append(waiter)
      let events = registration.mask | Sys.epollOneShot
      var result = Sys.epollControl(
        epoll, existed ? Sys.epollModify : Sys.epollAdd, fd, events, UInt64(fd))
      if existed, case .failure(.noSuchFileOrDirectory) = result {
        result = Sys.epollControl(epoll, Sys.epollAdd, fd, events, UInt64(fd))
      }
      if case .success = result { return .waiting }
      registration.waiters.removeLast()
      if !existed { state.registrations[fd] = nil }
      switch result {
      case .failure(.notPermitted):
        // Regular files and directories do not support epoll: they are always ready.
        return .ready(IOEvents(rawValue: waiter.interest))
      case .failure(let error):
        return .failed(HinixError.system(error, "epoll_ctl", subject: "descriptor \(fd)"))
      case .success:
        return .waiting
      }
    }
  }

  private func cancel(_ id: UInt64, on fd: Int32) -> UnsafeContinuation<IOEvents, any Error>? {
    state.withLock { state in
      guard let registration = state.registrations[fd],
        let index = registration.waiters.firstIndex(where: { $0.id == id })
      else {
        return nil
      }
      let waiter = registration.waiters.remove(at: index)
      if registration.waiters.isEmpty {
        // Still armed (it has not fired): remove it, or its hang-up could wake nobody forever.
        state.registrations[fd] = nil
        _ = Sys.epollControl(epoll, Sys.epollDelete, fd, 0, 0)
      } else {
        rearm(fd, in: state)
      }
      return waiter.continuation
    }
  }

  /// Arms the one-shot registration for the waiters left; with none left it stays disarmed
  /// (a fired one-shot reports nothing more) until the next wait re-arms it.
  private func rearm(_ fd: Int32, in state: borrowing State) {
    guard let registration = state.registrations[fd], !registration.waiters.isEmpty else { return }
    _ = Sys.epollControl(epoll, Sys.epollModify, fd, registration.mask | Sys.epollOneShot, UInt64(fd))
  }

  /// Stops the reactor's thread; every pending and later wait throws a `.reactorShutDown` error.
  ///
  /// Only for reactors made with ``init()``; shutting down ``shared`` would break Hinix's async API.
  public func shutdown() {
    state.withLock { $0.isShutDown = true }
    var one: UInt64 = 1
    _ = withUnsafeBytes(of: &one) { Sys.write(wakeup, $0) }
  }

  private func run() {
    // Signals go to other threads, so that a later signalfd user can rely on this one.
    _ = Sys.blockAllSignals()
    let capacity = 64
    let data = UnsafeMutablePointer<UInt64>.allocate(capacity: capacity)
    let events = UnsafeMutablePointer<UInt32>.allocate(capacity: capacity)
    defer {
      data.deallocate()
      events.deallocate()
    }
    var ready: [(UnsafeContinuation<IOEvents, any Error>, IOEvents)] = []
    var batch: [UnownedJob] = []
    threadID.store(Sys.currentThread, ordering: .releasing)
    while true {
      let count: Int32
      let pending = jobs.withLock { !$0.queue.isEmpty }
      switch Sys.epollWait(
        epoll, data, events, capacity: Int32(capacity), timeoutMilliseconds: pending ? 0 : -1)
      {
      case .success(let value): count = value
      case .failure(let error):
        failAll(HinixError.system(error, "epoll_wait"))
        return
      }
      for index in 0..<Int(count) {
        if data[index] == Reactor.wakeToken {
          var value: UInt64 = 0
          _ = withUnsafeMutableBytes(of: &value) { Sys.read(wakeup, $0) }
          if state.withLock({ $0.isShutDown }) {
            failAll(
              HinixError(.reactorShutDown, operation: "epoll_wait", detail: "the reactor was shut down"))
            return
          }
          continue
        }
        if data[index] & Reactor.sourceBit != 0 {
          let fd = Int32(truncatingIfNeeded: data[index] & ~Reactor.sourceBit)
          if let serve = state.withLock({ $0.sources[fd] }) { serve() }
          continue
        }
        collect(fd: Int32(truncatingIfNeeded: data[index]), events: events[index], into: &ready)
      }
      for (continuation, reported) in ready {
        continuation.resume(returning: reported)
      }
      ready.removeAll(keepingCapacity: true)
      // Run the jobs queued so far (a resumed task that prefers this reactor is one of them);
      // jobs they queue in turn run on the next pass, after a non-blocking look at epoll.
      jobs.withLock { jobs in
        swap(&batch, &jobs.queue)
        jobs.woken = false
      }
      for job in batch {
        job.runSynchronously(on: asUnownedTaskExecutor())
      }
      batch.removeAll(keepingCapacity: true)
    }
  }

  private func collect(
    fd: Int32, events: UInt32, into ready: inout [(UnsafeContinuation<IOEvents, any Error>, IOEvents)]
  ) {
    state.withLock { state in
      let always = Sys.epollError | Sys.epollHangUp
      guard let registration = state.registrations[fd] else { return }
      registration.waiters.removeAll { waiter in
        guard events & (waiter.interest | always) != 0 else { return false }
        ready.append((waiter.continuation, IOEvents(rawValue: events)))
        return true
      }
      rearm(fd, in: state)
    }
  }

  private func failAll(_ error: HinixError) {
    let waiters = state.withLock { state in
      state.isShutDown = true
      let all = state.registrations.values.flatMap(\.waiters)
      for fd in state.registrations.keys {
        _ = Sys.epollControl(epoll, Sys.epollDelete, fd, 0, 0)
      }
      state.registrations = [:]
      return all
    }
    for waiter in waiters {
      waiter.continuation.resume(throwing: error)
    }
  }
}

/// The reactor is also a task executor: a task that prefers it runs on the reactor's thread, so
/// when the descriptor it waits for becomes ready, the task continues right there, without
/// waking a thread of the cooperative pool. For latency-critical loops of Hinix async calls:
///
/// ```swift
/// try await withTaskExecutorPreference(Reactor.shared) {
///   let reply = UnsafeMutableRawBufferPointer.allocate(byteCount: 64, alignment: 8)
///   defer { reply.deallocate() }
///   for _ in 0..<n { try await socket.write(request); try await socket.readExactly(into: reply) }
/// }
/// ```
///
/// Such a task shares one thread with every wait in the process: it must never block (no
/// blocking Hinix form, no long computation) or every async wait stalls with it.
extension Reactor: TaskExecutor {
  /// Queues `job` to run on the reactor's thread, waking the thread unless it is the caller.
  public func enqueue(_ job: consuming ExecutorJob) {
    let job = UnownedJob(job)
    let wake = jobs.withLock { jobs in
      jobs.queue.append(job)
      if jobs.woken { return false }
      jobs.woken = true
      return true
    }
    if wake && threadID.load(ordering: .acquiring) != Sys.currentThread {
      var one: UInt64 = 1
      _ = withUnsafeBytes(of: &one) { Sys.write(wakeup, $0) }
    }
  }
}
