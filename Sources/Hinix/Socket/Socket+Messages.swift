import Glibc
import Synchronization
import SystemPackage

/// The identity of a process as the kernel vouches for it: what `SO_PEERCRED` and
/// `SCM_CREDENTIALS` carry.
public struct Credentials: Sendable, Hashable, CustomStringConvertible {
  /// The process id.
  public var pid: pid_t
  /// The user id.
  public var uid: uid_t
  /// The group id.
  public var gid: gid_t

  /// Creates credentials from their three ids.
  public init(pid: pid_t, uid: uid_t, gid: gid_t) {
    self.pid = pid
    self.uid = uid
    self.gid = gid
  }

  /// This process's pid and real user and group ids: what an unprivileged process may send.
  public static var current: Credentials {
    Credentials(pid: Sys.processID, uid: Sys.userID, gid: Sys.groupID)
  }

  /// `pid 1234 uid 1000 gid 1000`.
  public var description: String { "pid \(pid) uid \(uid) gid \(gid)" }

  init(_ raw: Sys.RawCredentials) {
    self.init(pid: raw.pid, uid: raw.uid, gid: raw.gid)
  }

  var raw: Sys.RawCredentials { Sys.RawCredentials(pid: pid, uid: uid, gid: gid) }
}

/// The descriptors that came with one message, each owned: take the ones you keep with
/// ``takeNext()``; those left are closed when the last reference to this value goes.
///
/// Every received descriptor is close-on-exec (`MSG_CMSG_CLOEXEC`). A message without
/// descriptors shares one empty instance, so receiving it allocates nothing.
public final class ReceivedDescriptors: Sendable {
  private let descriptors: [Int32]
  private let taken = Mutex(0)

  /// The instance every message without descriptors shares.
  static let none = ReceivedDescriptors([])

  init(_ descriptors: [Int32]) {
    self.descriptors = descriptors
  }

  /// How many descriptors arrived (and were accepted under the cap).
  public var count: Int { descriptors.count }

  /// How many descriptors have not been taken yet.
  public var remaining: Int { descriptors.count - taken.withLock { $0 } }

  /// Takes ownership of the next descriptor in the order they were sent; nil when none is left.
  public func takeNext() -> OwnedDescriptor? {
    taken.withLock { next in
      guard next < descriptors.count else { return nil }
      defer { next += 1 }
      return OwnedDescriptor(adopting: FileDescriptor(rawValue: descriptors[next]))
    }
  }

  deinit {
    for fd in descriptors[taken.withLock { $0 }...] {
      _ = Sys.close(fd)
    }
  }
}

/// What one receive brought: the byte count (the bytes are in the caller's buffer), the
/// descriptors and credentials that came with them, and for datagrams the sender.
public struct ReceivedMessage: Sendable {
  /// How many bytes arrived; 0 on a stream socket means end of stream.
  public let count: Int
  /// The descriptors sent with the message (`SCM_RIGHTS`), owned.
  public let descriptors: ReceivedDescriptors
  /// The sender's credentials (`SCM_CREDENTIALS`): present when this socket has
  /// ``SocketOption/passCredentials`` on.
  public let credentials: Credentials?
  /// The sender of a datagram on an unconnected socket; nil otherwise.
  public let sender: SocketAddress?
  /// How many descriptors arrived beyond the `maxDescriptors` cap; Hinix closed them.
  public let discardedDescriptors: Int
  /// Whether the kernel dropped control data (`MSG_CTRUNC`): more descriptors than one message
  /// can carry arrived, and the kernel closed those that did not fit.
  public let controlTruncated: Bool

  /// Whether any descriptor sent was not delivered to the caller (discarded or truncated).
  public var lostDescriptors: Bool { discardedDescriptors > 0 || controlTruncated }
}

extension Socket {
  // MARK: Sending messages

  /// Sends one message: `bytes`, optionally with descriptors (`SCM_RIGHTS`, at most
  /// ``maximumDescriptorsPerMessage``), credentials (`SCM_CREDENTIALS`) and, for an unconnected
  /// datagram socket, a destination; blocks the thread while the socket's buffer is full.
  ///
  /// On a stream socket all of `bytes` go, the descriptors with the first of them (so at least
  /// one byte is needed to carry descriptors). On seqpacket and datagram sockets the message
  /// goes whole or throws: `.messageTooLarge` above the socket's limit, `.shortWrite` if the
  /// kernel took only part. The descriptors stay owned by the caller; the receiver gets
  /// duplicates. The corresponding C function is `sendmsg` (with `MSG_NOSIGNAL`).
  @available(
    *, noasync, message: "blocks its thread; use `await send(_:descriptors:credentials:to:)` in async code"
  )
  public func blockingSend(
    _ bytes: some MessageBytes, descriptors: [FileDescriptor] = [], credentials: Credentials? = nil,
    to address: SocketAddress? = nil
  ) throws(HinixError) {
    _ = try sendMessage(bytes, descriptors, credentials, address, waiting: .forever)
  }

  /// Sends one message without waiting: ``Outcome/completed(_:)`` with the count of bytes
  /// sent, or ``Outcome/wouldBlock`` if the socket's buffer has no room now.
  ///
  /// On seqpacket and datagram sockets the count is always all of `bytes`. On a stream socket
  /// it is the prefix that fit in the buffer (the descriptors and credentials went with its
  /// first byte): a try form never waits for room, so send the rest with `write(_:)`.
  public func trySend(
    _ bytes: some MessageBytes, descriptors: [FileDescriptor] = [], credentials: Credentials? = nil,
    to address: SocketAddress? = nil
  ) throws(HinixError) -> Outcome<Int> {
    Waiting.never.outcome(try sendMessage(bytes, descriptors, credentials, address, waiting: .never))
  }

  /// Sends one message, blocking the thread at most `timeout` for room: ``Outcome/completed(_:)``
  /// with the count of bytes sent, or ``Outcome/timedOut`` if no room came in time. As with
  /// ``trySend(_:descriptors:credentials:to:)``, a stream socket may have sent only a prefix
  /// when the deadline passed; the count says how much.
  @available(
    *, noasync, message: "blocks its thread; use `await send(_:descriptors:credentials:to:)` in async code"
  )
  public func blockingSend(
    _ bytes: some MessageBytes, descriptors: [FileDescriptor] = [], credentials: Credentials? = nil,
    to address: SocketAddress? = nil, timeout: Duration
  ) throws(HinixError) -> Outcome<Int> {
    try Waiting.timed(timeout) { (waiting) throws(HinixError) in
      try sendMessage(bytes, descriptors, credentials, address, waiting: waiting)
    }
  }

  /// Sends one message, suspending the task (not its thread) while the socket's buffer is full.
  public func send(
    _ bytes: some MessageBytes, descriptors: [FileDescriptor] = [], credentials: Credentials? = nil,
    to address: SocketAddress? = nil, reactor: Reactor = .shared
  ) async throws {
    let first = try await perform(.writable, reactor: reactor) { () throws(HinixError) -> Int? in
      try sendMessage(bytes, descriptors, credentials, address, waiting: .never, finishing: false)
    }
    // A stream may take only the first part now: the rest follows as the task awaits room, never
    // in a wait that would hold a thread of the pool.
    if kind == .stream, first < bytes.withMessageBytes({ $0.count }) {
      try await write(bytes.withMessageBytes { Array($0[first...]) }, reactor: reactor)
    }
  }

  private func sendMessage(
    _ bytes: some MessageBytes, _ descriptors: [FileDescriptor], _ credentials: Credentials?,
    _ address: SocketAddress?, waiting: Waiting, finishing: Bool = true
  ) throws(HinixError) -> Int? {
    try bytes.withMessageBytes { buffer in
      Result { () throws(HinixError) in
        try sendMessage(buffer, descriptors, credentials, address, waiting: waiting, finishing: finishing)
      }
    }.get()
  }

  /// The most descriptors one message can carry (the kernel's `SCM_MAX_FD`).
  public static var maximumDescriptorsPerMessage: Int { Int(Sys.maximumDescriptorsPerMessage) }

  /// Sends one message: the bytes sent, `nil` only when a try or timed form gave up before any
  /// byte went. On a stream, `finishing` sends the rest after the first part, waiting as
  /// `waiting` allows (a try or timed form may stop after a prefix); without it only the first
  /// part goes.
  func sendMessage(
    _ bytes: UnsafeRawBufferPointer, _ descriptors: [FileDescriptor], _ credentials: Credentials?,
    _ address: SocketAddress?, waiting: Waiting, finishing: Bool = true
  ) throws(HinixError) -> Int? {
    let operation = "sendmsg"
    if descriptors.count > Socket.maximumDescriptorsPerMessage {
      throw HinixError(
        .limitExceeded, operation: operation, subject: subject,
        detail:
          "\(descriptors.count) descriptors are more than one message can carry "
          + "(\(Socket.maximumDescriptorsPerMessage), the kernel's SCM_MAX_FD)")
    }
    if kind == .stream && bytes.isEmpty && (!descriptors.isEmpty || credentials != nil) {
      throw HinixError(
        .invalidArgument, operation: operation, subject: subject,
        detail: "descriptors and credentials need at least one byte of payload on a stream socket")
    }
    if descriptors.isEmpty && credentials == nil && address == nil {
      // The common case, without control data: plain send.
      return try sendChecked(bytes, waiting: waiting, finishing: finishing) { flags in
        Sys.send(fd, bytes, flags: flags)
      }
    }
    var raw = credentials?.raw ?? Sys.RawCredentials()
    let hasCredentials = credentials != nil
    let sendmsg = { (flags: Int32, address: UnsafeRawPointer?, length: UInt32) -> Result<Int, Errno> in
      descriptors.withUnsafeBufferPointer { list in
        list.withMemoryRebound(to: Int32.self) { fds in
          withUnsafePointer(to: &raw) { credentials in
            Sys.sendMessage(
              self.fd, bytes, address: address, addressLength: length, descriptors: fds,
              credentials: hasCredentials ? credentials : nil, flags: flags)
          }
        }
      }
    }
    if let address {
      return try address.withSockaddr(operation: operation) { pointer, length in
        Result { () throws(HinixError) in
          try sendChecked(bytes, waiting: waiting, finishing: finishing) { flags in
            sendmsg(flags, pointer, length)
          }
        }
      }.get()
    }
    return try sendChecked(bytes, waiting: waiting, finishing: finishing) { flags in sendmsg(flags, nil, 0) }
  }

  /// Sends the first part with `call`, then the rest of a stream with plain sends; checks that
  /// a message went whole.
  private func sendChecked(
    _ bytes: UnsafeRawBufferPointer, waiting: Waiting, finishing: Bool, _ call: (Int32) -> Result<Int, Errno>
  ) throws(HinixError) -> Int? {
    guard let first = try transfer("sendmsg", events: Int16(POLLOUT), waiting: waiting, call) else {
      return nil
    }
    if kind == .stream {
      guard finishing else { return first }
      return first + (try writeAll(UnsafeRawBufferPointer(rebasing: bytes[first...]), waiting: waiting))
    } else if first < bytes.count {
      throw HinixError(
        .shortWrite, operation: "sendmsg", subject: subject,
        detail: "the kernel took \(first) of the message's \(bytes.count) bytes")
    }
    return first
  }

  // MARK: Receiving messages

  /// Receives one message into `buffer`, blocking the thread while there is none, accepting at
  /// most `maxDescriptors` descriptors (those beyond are closed and counted).
  ///
  /// On seqpacket and datagram sockets a message larger than `buffer` throws
  /// `.messageTruncated` naming both sizes (the kernel discards the rest, and Hinix closes any
  /// descriptors it brought); use ``blockingReceive(maxDescriptors:)`` (or an array of your own)
  /// or ``blockingNextMessageSize()`` to never truncate. On a stream socket a message of 0 bytes is the
  /// end of the stream. The corresponding C function is `recvmsg` (with `MSG_CMSG_CLOEXEC`).
  @available(
    *, noasync, message: "blocks its thread; use `await receive(into:maxDescriptors:)` in async code"
  )
  public func blockingReceive(
    into buffer: UnsafeMutableRawBufferPointer, maxDescriptors: Int = 0
  ) throws(HinixError) -> ReceivedMessage {
    try receiveMessage(buffer, maxDescriptors, waiting: .forever)!
  }

  /// Receives one message without waiting: ``Outcome/wouldBlock`` if none is there,
  /// ``Outcome/ended`` once a stream's peer closed its writing side.
  public func tryReceive(
    into buffer: UnsafeMutableRawBufferPointer, maxDescriptors: Int = 0
  ) throws(HinixError) -> Outcome<ReceivedMessage> {
    messageOutcome(try receiveMessage(buffer, maxDescriptors, waiting: .never), .never)
  }

  /// Receives one message, blocking the thread at most `timeout`: ``Outcome/timedOut`` if none
  /// came, ``Outcome/ended`` once a stream's peer closed its writing side.
  @available(
    *, noasync, message: "blocks its thread; use `await receive(into:maxDescriptors:)` in async code"
  )
  public func blockingReceive(
    into buffer: UnsafeMutableRawBufferPointer, maxDescriptors: Int = 0, timeout: Duration
  ) throws(HinixError) -> Outcome<ReceivedMessage> {
    let waiting = Waiting.until(.after(timeout))
    return messageOutcome(try receiveMessage(buffer, maxDescriptors, waiting: waiting), waiting)
  }

  /// Receives one message, suspending the task (not its thread) while there is none.
  ///
  /// The buffer must stay valid until the call returns.
  public nonisolated(nonsending) func receive(
    into buffer: UnsafeMutableRawBufferPointer, maxDescriptors: Int = 0, reactor: Reactor = .shared
  ) async throws -> ReceivedMessage {
    try await perform(.readable, reactor: reactor) { () throws(HinixError) -> ReceivedMessage? in
      try receiveMessage(buffer, maxDescriptors, waiting: .never)
    }
  }

  /// A received message's outcome: an empty one on a stream is its end.
  private func messageOutcome(_ message: ReceivedMessage?, _ waiting: Waiting) -> Outcome<ReceivedMessage> {
    if let message, message.count == 0, kind == .stream, message.descriptors.count == 0 { return .ended }
    return waiting.outcome(message)
  }

  /// Receives one whole message into `bytes`, resized to the message's exact length, blocking
  /// the thread while there is none: Hinix peeks the size first (`MSG_PEEK | MSG_TRUNC`), so
  /// nothing is ever truncated. Reusing one array keeps its storage across calls.
  ///
  /// For seqpacket and datagram sockets; on a stream socket it reads what is available.
  @available(
    *, noasync, message: "blocks its thread; use `await receive(maxDescriptors:)` in async code"
  )
  public func blockingReceive(
    into bytes: inout [UInt8], maxDescriptors: Int = 0
  ) throws(HinixError) -> ReceivedMessage {
    try receiveWhole(into: &bytes, maxDescriptors, waiting: .forever)!
  }

  /// The array form of `receive(into:maxDescriptors:)` without waiting:
  /// ``Outcome/wouldBlock`` if no message is there.
  public func tryReceive(
    into bytes: inout [UInt8], maxDescriptors: Int = 0
  ) throws(HinixError) -> Outcome<ReceivedMessage> {
    messageOutcome(try receiveWhole(into: &bytes, maxDescriptors, waiting: .never), .never)
  }

  /// The array form of `receive(into:maxDescriptors:)` blocking the thread at most `timeout`:
  /// ``Outcome/timedOut`` if no message came.
  @available(
    *, noasync, message: "blocks its thread; use `await receive(maxDescriptors:)` in async code"
  )
  public func blockingReceive(
    into bytes: inout [UInt8], maxDescriptors: Int = 0, timeout: Duration
  ) throws(HinixError) -> Outcome<ReceivedMessage> {
    let waiting = Waiting.until(.after(timeout))
    return messageOutcome(try receiveWhole(into: &bytes, maxDescriptors, waiting: waiting), waiting)
  }

  /// The array form of `receive(into:maxDescriptors:)` suspending the task (not its thread)
  /// while there is no message.
  public nonisolated(nonsending) func receive(
    into bytes: inout [UInt8], maxDescriptors: Int = 0, reactor: Reactor = .shared
  ) async throws -> ReceivedMessage {
    try await perform(.readable, reactor: reactor) { () throws(HinixError) -> ReceivedMessage? in
      try receiveWhole(into: &bytes, maxDescriptors, waiting: .never)
    }
  }

  /// Receives one whole message as a new array, blocking the thread while there is none: the
  /// array form of `receive(into:maxDescriptors:)` for a caller that keeps no array of its own.
  @available(*, noasync, message: "blocks its thread; use `await receive(maxDescriptors:)` in async code")
  public func blockingReceive(maxDescriptors: Int = 0) throws(HinixError) -> (
    bytes: [UInt8], message: ReceivedMessage
  ) {
    var bytes: [UInt8] = []
    let message = try receiveWhole(into: &bytes, maxDescriptors, waiting: .forever)!
    return (bytes, message)
  }

  /// The new-array form of `receive(maxDescriptors:)` without waiting: ``Outcome/wouldBlock``
  /// if no message is there.
  public func tryReceive(maxDescriptors: Int = 0) throws(HinixError) -> Outcome<
    (bytes: [UInt8], message: ReceivedMessage)
  > {
    var bytes: [UInt8] = []
    let outcome = try tryReceive(into: &bytes, maxDescriptors: maxDescriptors)
    return outcome.map { (bytes, $0) }
  }

  /// The new-array form of `receive(maxDescriptors:)` blocking the thread at most `timeout`:
  /// ``Outcome/timedOut`` if no message came.
  @available(*, noasync, message: "blocks its thread; use `await receive(maxDescriptors:)` in async code")
  public func blockingReceive(maxDescriptors: Int = 0, timeout: Duration) throws(HinixError) -> Outcome<
    (bytes: [UInt8], message: ReceivedMessage)
  > {
    var bytes: [UInt8] = []
    let outcome = try blockingReceive(into: &bytes, maxDescriptors: maxDescriptors, timeout: timeout)
    return outcome.map { (bytes, $0) }
  }

  /// Receives one whole message as a new array, suspending the task (not its thread) while
  /// there is none. Unlike the form that fills an `inout` array, it can be called with
  /// `await` from the top level of `main.swift`, whose variables Swift does not let an async
  /// call take `inout`.
  public func receive(maxDescriptors: Int = 0, reactor: Reactor = .shared) async throws -> (
    bytes: [UInt8], message: ReceivedMessage
  ) {
    var bytes: [UInt8] = []
    let message = try await receive(into: &bytes, maxDescriptors: maxDescriptors, reactor: reactor)
    return (bytes, message)
  }

  /// Peeks the next message's size, sizes `bytes` to it and receives the message, waiting as
  /// `waiting` allows; `nil` when the form gave up.
  private func receiveWhole(
    into bytes: inout [UInt8], _ maxDescriptors: Int, waiting: Waiting
  ) throws(HinixError) -> ReceivedMessage? {
    while true {
      let size: Int
      if kind == .stream {
        size = max(bytes.count, 65536)
      } else {
        guard let next = try nextMessageSize(waiting: waiting) else { return nil }
        size = next
      }
      if bytes.count != size {
        // Keeps the array's storage when it is large enough.
        bytes.removeAll(keepingCapacity: true)
        bytes.append(contentsOf: repeatElement(0, count: size))
      }
      let received = try bytes.withUnsafeMutableBytes { buffer in
        Result { () throws(HinixError) in
          try receiveMessage(buffer, maxDescriptors, waiting: kind == .stream ? waiting : .never)
        }
      }.get()
      if let received {
        if received.count < bytes.count { bytes.removeLast(bytes.count - received.count) }
        return received
      }
      // A stream whose form gave up, or another reader that took the message between the peek
      // and the receive: for a try form that is "nothing now".
      if kind == .stream || !waiting.mayWait { return nil }
    }
  }

  /// The size of the next message on a seqpacket or datagram socket, blocking the thread while
  /// none has come; the message stays queued. The corresponding C function is `recv` with
  /// `MSG_PEEK | MSG_TRUNC`.
  @available(*, noasync, message: "blocks its thread; use `await nextMessageSize()` in async code")
  public func blockingNextMessageSize() throws(HinixError) -> Int {
    try nextMessageSize(waiting: .forever)!
  }

  /// The size of the next message, blocking the thread at most `timeout`: ``Outcome/timedOut``
  /// if none came.
  @available(*, noasync, message: "blocks its thread; use `await nextMessageSize()` in async code")
  public func blockingNextMessageSize(timeout: Duration) throws(HinixError) -> Outcome<Int> {
    try Waiting.timed(timeout) { (waiting) throws(HinixError) in try nextMessageSize(waiting: waiting) }
  }

  /// The size of the next message if one is there now: ``Outcome/wouldBlock`` if none is.
  public func tryNextMessageSize() throws(HinixError) -> Outcome<Int> {
    Waiting.never.outcome(try nextMessageSize(waiting: .never))
  }

  /// The size of the next message, suspending the task (not its thread) while none has come.
  public func nextMessageSize(reactor: Reactor = .shared) async throws -> Int {
    try await perform(.readable, reactor: reactor) { () throws(HinixError) -> Int? in
      try nextMessageSize(waiting: .never)
    }
  }

  private func nextMessageSize(waiting: Waiting) throws(HinixError) -> Int? {
    var byte: UInt8 = 0
    return try withUnsafeMutableBytes(of: &byte) { buffer in
      Result { () throws(HinixError) in
        try transfer("recv", events: Int16(POLLIN), waiting: waiting) { flags in
          Sys.receive(fd, buffer, flags: flags | Sys.peek | Sys.truncated)
        }
      }
    }.get()
  }

  func receiveMessage(
    _ buffer: UnsafeMutableRawBufferPointer, _ maxDescriptors: Int, waiting: Waiting
  ) throws(HinixError) -> ReceivedMessage? {
    guard maxDescriptors >= 0 else {
      throw HinixError(
        .invalidArgument, operation: "recvmsg", subject: subject,
        detail: "maxDescriptors \(maxDescriptors) is negative")
    }
    let capacity = min(maxDescriptors, Socket.maximumDescriptorsPerMessage)
    // Up to four descriptors land on the stack; more need a buffer.
    var small: (Int32, Int32, Int32, Int32) = (-1, -1, -1, -1)
    if capacity <= 4 {
      return try withUnsafeMutableBytes(of: &small) { raw in
        let fds = raw.bindMemory(to: Int32.self)
        return Result { () throws(HinixError) in
          try receiveMessage(buffer, UnsafeMutableBufferPointer(rebasing: fds[..<capacity]), waiting: waiting)
        }
      }.get()
    }
    let fds = UnsafeMutableBufferPointer<Int32>.allocate(capacity: capacity)
    defer { fds.deallocate() }
    return try receiveMessage(buffer, fds, waiting: waiting)
  }

  private func receiveMessage(
    _ buffer: UnsafeMutableRawBufferPointer, _ fds: UnsafeMutableBufferPointer<Int32>, waiting: Waiting
  ) throws(HinixError) -> ReceivedMessage? {
    var received = Sys.ReceivedInfo()
    var storage = sockaddr_storage()
    // Only an unconnected datagram socket learns a sender worth reporting.
    let wantsSender = kind == .datagram
    let truncationFlag = kind == .stream ? 0 : Sys.truncated
    let result = withUnsafeMutableBytes(of: &storage) { address in
      Result { () throws(HinixError) in
        try transfer("recvmsg", events: Int16(POLLIN), waiting: waiting) { flags in
          received.address_length = UInt32(address.count)
          return Sys.receiveMessage(
            fd, buffer, address: wantsSender ? address.baseAddress : nil, descriptors: fds,
            received: &received, flags: flags | truncationFlag)
        }
      }
    }
    guard let count = try result.get() else { return nil }
    let descriptors =
      received.fd_count == 0
      ? ReceivedDescriptors.none : ReceivedDescriptors(Array(fds[..<Int(received.fd_count)]))
    if received.flags & Sys.truncated != 0 {
      // `descriptors` closes what came with the truncated message as it goes out of scope.
      throw HinixError(
        .messageTruncated, operation: "recvmsg", subject: subject,
        detail:
          "a \(count)-byte message did not fit the \(buffer.count)-byte buffer; the kernel discarded the rest"
          + (descriptors.count > 0 ? " and Hinix closed its \(descriptors.count) descriptors" : ""))
    }
    var sender: SocketAddress?
    if wantsSender && received.address_length > UInt32(MemoryLayout<sa_family_t>.size) {
      sender = withUnsafeBytes(of: &storage) { SocketAddress(decoding: $0, length: received.address_length) }
    }
    return ReceivedMessage(
      count: kind == .stream ? count : min(count, buffer.count), descriptors: descriptors,
      credentials: received.has_credentials != 0 ? Credentials(received.credentials) : nil, sender: sender,
      discardedDescriptors: Int(received.fds_discarded),
      controlTruncated: received.flags & Sys.controlTruncated != 0)
  }

  // MARK: Credentials

  /// The pid, uid and gid of the process that connected (or, for a socketpair, created) the
  /// peer socket, as the kernel recorded them then. The corresponding C function is
  /// `getsockopt` with `SO_PEERCRED`.
  public func peerCredentials() throws(HinixError) -> Credentials {
    switch Sys.getOption(fd, SOL_SOCKET, Sys.peerCredentialsOption, as: Sys.RawCredentials.self) {
    case .success(let raw): return Credentials(raw)
    case .failure(let error): throw HinixError.system(error, "getsockopt(SO_PEERCRED)", subject: subject)
    }
  }

  /// The peer process, held by a pidfd (close-on-exec) that stays valid, unlike a pid, even if
  /// the peer exits and its pid is reused: await its exit or signal it. Nil where the kernel
  /// lacks `SO_PEERPIDFD` (before 6.5).
  /// The corresponding C function is `getsockopt` with `SO_PEERPIDFD`.
  public func peerProcessDescriptor() throws(HinixError) -> ProcessDescriptor? {
    switch Sys.getOption(fd, SOL_SOCKET, Sys.peerPidfdOption, as: Int32.self) {
    case .success(let pidfd): return try ProcessDescriptor(adopting: FileDescriptor(rawValue: pidfd))
    case .failure(.protocolNotAvailable): return nil
    case .failure(let error): throw HinixError.system(error, "getsockopt(SO_PEERPIDFD)", subject: subject)
    }
  }
}
