import Glibc
import SystemPackage

extension MessageQueue {
  // MARK: Sending

  /// Sends a message, blocking the thread while the queue is full.
  ///
  /// - Throws: `.messageTooLarge` when the message is longer than ``capacity``'s message size,
  ///   `.invalidArgument` for a priority outside `0 ..< priorityLimit`.
  /// The corresponding C function is `mq_send`.
  @available(*, noasync, message: "blocks its thread; use `await send(_:priority:)` in async code")
  public func blockingSend(_ message: some MessageBytes, priority: UInt32 = 0) throws(HinixError) {
    _ = try send(message, priority: priority, waiting: .forever)
  }

  /// Sends the bytes of `buffer` as one message, blocking the thread while the queue is full:
  /// the non-generic form of `send(_:priority:)` for hot paths.
  ///
  /// The corresponding C function is `mq_send`.
  @available(*, noasync, message: "blocks its thread; use `await send(_:priority:)` in async code")
  public func blockingSend(_ buffer: UnsafeRawBufferPointer, priority: UInt32 = 0) throws(HinixError) {
    _ = try send(buffer, priority: priority, waiting: .forever)
  }

  /// Sends a message if the queue has room now: ``Outcome/wouldBlock`` if it would have to wait.
  ///
  /// The corresponding C function is `mq_timedsend` with a deadline already passed.
  public func trySend(_ message: some MessageBytes, priority: UInt32 = 0) throws(HinixError) -> Outcome<Void>
  {
    Waiting.never.outcome(try send(message, priority: priority, waiting: .never) ? () : nil)
  }

  /// Sends a message, blocking the thread at most `timeout` for room: ``Outcome/timedOut`` if
  /// the time ran out.
  ///
  /// The corresponding C function is `mq_timedsend`.
  @available(*, noasync, message: "blocks its thread; use `await send(_:priority:)` in async code")
  public func blockingSend(
    _ message: some MessageBytes, priority: UInt32 = 0, timeout: Duration
  ) throws(HinixError) -> Outcome<Void> {
    try send(message, priority: priority, timed: .until(.after(timeout)))
  }

  /// Sends a message, suspending the task (not its thread) while the queue is full.
  ///
  /// Throws `CancellationError` if the task is cancelled while it waits; the message is then not sent.
  public func send(_ message: some MessageBytes, priority: UInt32 = 0, reactor: Reactor = .shared)
    async throws
  {
    try await reactor.perform(.writable, on: descriptor, strategy: waitStrategy, history: waitHistory) {
      () throws(HinixError) in
      try send(message, priority: priority, waiting: .never) ? () : nil
    }
  }

  private func send(
    _ message: some MessageBytes, priority: UInt32, timed waiting: Waiting
  ) throws(HinixError) -> Outcome<Void> {
    waiting.outcome(try send(message, priority: priority, waiting: waiting) ? () : nil)
  }

  func send(
    _ message: some MessageBytes, priority: UInt32, waiting: Waiting
  ) throws(HinixError) -> Bool {
    try message.withMessageBytes { bytes in
      Result { () throws(HinixError) in try send(bytes, priority: priority, waiting: waiting) }
    }.get()
  }

  private func send(
    _ bytes: UnsafeRawBufferPointer, priority: UInt32, waiting: Waiting
  ) throws(HinixError) -> Bool {
    guard priority < MessageQueue.priorityLimit, bytes.count <= capacity.maxMessageSize else {
      throw sendError(count: bytes.count, priority: priority)
    }
    let fd = descriptor.rawValue
    let sent: Void? = try transfer(waiting, for: Int16(POLLOUT), operation: "mq_send", priority: priority) {
      Sys.mqSend(fd, bytes, priority, deadline: $0)
    }
    return sent != nil
  }

  /// Why a send was refused before the kernel saw it: its priority or its size. Out of line,
  /// so that the checks in the hot path stay two comparisons.
  @inline(never)
  private func sendError(count: Int, priority: UInt32) -> HinixError {
    guard priority < MessageQueue.priorityLimit else {
      return HinixError(
        .invalidArgument, operation: "mq_send", subject: subject,
        detail: "priority \(priority) is out of range 0..<\(MessageQueue.priorityLimit) (MQ_PRIO_MAX)")
    }
    return HinixError(
      .messageTooLarge, operation: "mq_send", subject: subject,
      detail: "the message is \(count) bytes, larger than the queue's message size "
        + "\(capacity.maxMessageSize) bytes")
  }

  /// Why a receive was refused before the kernel saw it: a buffer too small (out of line).
  @inline(never)
  private func receiveError(bufferSize: Int) -> HinixError {
    HinixError(
      .messageTooLarge, operation: "mq_receive", subject: subject,
      detail: "the buffer is \(bufferSize) bytes, smaller than the queue's message size "
        + "\(capacity.maxMessageSize) bytes")
  }

  /// One send or receive in the form `waiting` asks for, through the transfer core: the
  /// kernel call with no deadline (blocking), an expired one (try) or the real one (timed); a
  /// non-blocking description's EAGAIN waits in `poll` as long as the form allows. `nil` when
  /// the form gave up.
  @inline(__always)
  private func transfer<T>(
    _ waiting: Waiting, for events: Int16, operation: String, priority: UInt32 = 0,
    _ call: (UnsafePointer<timespec>?) -> Result<T, Errno>
  ) throws(HinixError) -> T? {
    let first = Transfer.first(waiting, strategy: waitStrategy, timedCalls: true) { mode in
      MessageQueue.timedCall(mode, call)
    }
    switch first {
    case .value(let value): return value
    case .notNow: return nil
    case .failed, .none: break
    }
    return try Transfer.wait(
      waiting, strategy: waitStrategy, fd: descriptor.rawValue, events: events, timedCalls: true,
      failed: first.error, operation: operation, { mode in MessageQueue.timedCall(mode, call) },
      failure: { (error) throws(HinixError) in throw transferError(error, operation, priority: priority) },
      subject: { subject })
  }

  /// The call a form makes: with no deadline when it may block, an expired one when it must
  /// not, the form's own (on the realtime clock, as the kernel wants) for a timed form.
  @inline(__always)
  static func timedCall<T>(
    _ mode: CallMode, _ call: (UnsafePointer<timespec>?) -> Result<T, Errno>
  ) -> Result<T, Errno> {
    switch mode {
    case .blocking:
      return call(nil)
    case .nonBlocking:
      var expired = Deadline.expired
      return call(&expired)
    case .until(let deadline):
      var realtime = Deadline.realtime(after: deadline.remaining)
      return call(&realtime)
    }
  }

  // MARK: Receiving

  /// Receives the highest-priority message, blocking the thread while the queue is empty.
  ///
  /// The corresponding C function is `mq_receive`.
  @available(*, noasync, message: "blocks its thread; use `await receive()` in async code")
  public func blockingReceive() throws(HinixError) -> Message {
    try receiveMessage(waiting: .forever)!
  }

  /// Receives the highest-priority message into `buffer` without allocating, blocking the
  /// thread while the queue is empty.
  ///
  /// - Throws: `.messageTooLarge` if `buffer` is smaller than ``capacity``'s message size (the
  ///   kernel requires room for the largest message the queue can hold).
  /// The corresponding C function is `mq_receive`.
  @available(*, noasync, message: "blocks its thread; use `await receive(into:)` in async code")
  public func blockingReceive(into buffer: UnsafeMutableRawBufferPointer) throws(HinixError) -> Received {
    try receive(into: buffer, waiting: .forever)!
  }

  /// Receives a message if one is waiting: ``Outcome/wouldBlock`` if the queue is empty.
  ///
  /// The corresponding C function is `mq_timedreceive` with a deadline already passed.
  public func tryReceive() throws(HinixError) -> Outcome<Message> {
    Waiting.never.outcome(try receiveMessage(waiting: .never))
  }

  /// Receives a message into `buffer` if one is waiting: ``Outcome/wouldBlock`` if the queue is
  /// empty.
  ///
  /// The corresponding C function is `mq_timedreceive` with a deadline already passed.
  public func tryReceive(into buffer: UnsafeMutableRawBufferPointer) throws(HinixError) -> Outcome<Received> {
    Waiting.never.outcome(try receive(into: buffer, waiting: .never))
  }

  /// Receives a message, blocking the thread at most `timeout`: ``Outcome/timedOut`` if none
  /// came in time.
  ///
  /// The corresponding C function is `mq_timedreceive`.
  @available(*, noasync, message: "blocks its thread; use `await receive()` in async code")
  public func blockingReceive(timeout: Duration) throws(HinixError) -> Outcome<Message> {
    try Waiting.timed(timeout) { (waiting) throws(HinixError) in try receiveMessage(waiting: waiting) }
  }

  /// Receives a message into `buffer`, blocking the thread at most `timeout`:
  /// ``Outcome/timedOut`` if none came in time.
  ///
  /// The corresponding C function is `mq_timedreceive`.
  @available(*, noasync, message: "blocks its thread; use `await receive(into:)` in async code")
  public func blockingReceive(
    into buffer: UnsafeMutableRawBufferPointer, timeout: Duration
  ) throws(HinixError) -> Outcome<Received> {
    try Waiting.timed(timeout) { (waiting) throws(HinixError) in try receive(into: buffer, waiting: waiting) }
  }

  /// Receives a message, suspending the task (not its thread) while the queue is empty.
  ///
  /// Throws `CancellationError` if the task is cancelled while it waits; no message is lost.
  public func receive(reactor: Reactor = .shared) async throws -> Message {
    try await reactor.perform(.readable, on: descriptor, strategy: waitStrategy, history: waitHistory) {
      () throws(HinixError) in
      try receiveMessage(waiting: .never)
    }
  }

  /// Receives a message into `buffer` without allocating, suspending the task (not its
  /// thread) while the queue is empty. The buffer must stay valid until the call returns.
  public nonisolated(nonsending) func receive(
    into buffer: UnsafeMutableRawBufferPointer, reactor: Reactor = .shared
  ) async throws -> Received {
    try await reactor.perform(.readable, on: descriptor, strategy: waitStrategy, history: waitHistory) {
      () throws(HinixError) in
      try receive(into: buffer, waiting: .never)
    }
  }

  /// The messages of this queue as they arrive, for `for try await message in queue.messages`:
  /// an endless sequence that ends by throwing (`CancellationError` when its task is
  /// cancelled, or a ``HinixError``).
  public var messages: DescriptorSequence<Message> { messages() }

  /// ``messages`` waiting through `reactor`.
  public func messages(reactor: Reactor = .shared) -> DescriptorSequence<Message> {
    DescriptorSequence(
      owner: self, descriptor: descriptor, events: .readable, reactor: reactor,
      strategy: { [self] in waitStrategy }, history: waitHistory,
      attempt: { [self] () throws(HinixError) in try tryReceive() })
  }

  private func receiveMessage(waiting: Waiting) throws(HinixError) -> Message? {
    var outcome: Result<Received?, HinixError> = .success(nil)
    let bytes = [UInt8](unsafeUninitializedCapacity: capacity.maxMessageSize) { buffer, count in
      outcome = Result { () throws(HinixError) in
        try receive(into: UnsafeMutableRawBufferPointer(buffer), waiting: waiting)
      }
      count = (try? outcome.get())??.count ?? 0
    }
    return try outcome.get().map { Message(bytes: bytes, priority: $0.priority) }
  }

  private func receive(
    into buffer: UnsafeMutableRawBufferPointer, waiting: Waiting
  ) throws(HinixError) -> Received? {
    guard buffer.count >= capacity.maxMessageSize else { throw receiveError(bufferSize: buffer.count) }
    let fd = descriptor.rawValue
    var priority: UInt32 = 0
    let count = try transfer(waiting, for: Int16(POLLIN), operation: "mq_receive") {
      Sys.mqReceive(fd, buffer, &priority, deadline: $0)
    }
    return count.map { Received(count: $0, priority: priority) }
  }
}
