import Glibc
import Synchronization
import SystemPackage

/// A socket: Unix-domain (stream, seqpacket, datagram) or TCP/UDP over IPv4 and IPv6, all on one
/// type, one syscall layer and one reactor.
///
/// A `Socket` is a `Sendable` owner of its descriptor, so one task may read while another writes
/// (each waits for its own readiness in the reactor). It is close-on-exec and never raises
/// SIGPIPE: every send carries `MSG_NOSIGNAL`, and a closed peer is `.brokenPipe`.
///
/// Each operation comes in four forms, as elsewhere in Hinix: blocking, `try…` (never waits,
/// even on a blocking socket: `MSG_DONTWAIT`), timed, and `async` (suspends the task, not its
/// thread). Sockets a listener accepts, and connected pairs from ``pair(_:nonBlocking:)``, never
/// remove any socket file when they close; only a ``SocketListener`` (or a datagram socket bound
/// with ``bound(to:kind:options:)``) owns its path.
public final class Socket: Sendable {
  /// The communication domain.
  public enum Domain: Sendable, Hashable {
    /// Unix-domain sockets (`AF_UNIX`): processes on this host.
    case unix
    /// IPv4 (`AF_INET`).
    case ipv4
    /// IPv6 (`AF_INET6`).
    case ipv6

    var rawValue: Int32 {
      switch self {
      case .unix: AF_UNIX
      case .ipv4: AF_INET
      case .ipv6: AF_INET6
      }
    }

    init(_ address: SocketAddress) {
      switch address.family {
      case AF_INET: self = .ipv4
      case AF_INET6: self = .ipv6
      default: self = .unix
      }
    }
  }

  /// The socket type.
  public enum Kind: Sendable, Hashable {
    /// A connected byte stream without message boundaries (TCP, or `SOCK_STREAM`).
    case stream
    /// Connected, reliable, ordered messages with boundaries (`SOCK_SEQPACKET`, Unix only).
    case seqpacket
    /// Messages with boundaries, connected or addressed per message (UDP, or `SOCK_DGRAM`).
    case datagram

    var rawValue: Int32 {
      switch self {
      case .stream: Int32(SOCK_STREAM.rawValue)
      case .seqpacket: Int32(SOCK_SEQPACKET.rawValue)
      case .datagram: Int32(SOCK_DGRAM.rawValue)
      }
    }
  }

  /// Which direction ``shutdown(_:)`` closes.
  public enum Direction: Sendable {
    /// No more receiving.
    case read
    /// No more sending: the peer reads end of stream.
    case write
    /// Both.
    case both
  }

  private let handle: OwnedDescriptor
  /// The socket's domain.
  public let domain: Domain
  /// The socket's type.
  public let kind: Kind
  /// The socket file this socket owns and removes when it closes (see ``SocketListener``).
  let boundPath: BoundPath?

  /// The socket's descriptor, still owned by this value.
  public var descriptor: FileDescriptor { handle.descriptor }

  var fd: Int32 { handle.descriptor.rawValue }

  /// Creates an unbound, unconnected socket, close-on-exec.
  ///
  /// The corresponding C function is `socket`.
  public convenience init(_ domain: Domain, _ kind: Kind, nonBlocking: Bool = false) throws(HinixError) {
    switch Sys.socket(domain.rawValue, kind.rawValue, nonBlocking: nonBlocking) {
    case .success(let fd):
      self.init(adopting: FileDescriptor(rawValue: fd), domain: domain, kind: kind)
    case .failure(let error):
      throw HinixError.system(error, "socket")
    }
  }

  /// Takes ownership of a socket descriptor of the given domain and type (one inherited from a
  /// parent process, or received with a message).
  public convenience init(adopting descriptor: FileDescriptor, domain: Domain, kind: Kind) {
    self.init(OwnedDescriptor(adopting: descriptor), domain: domain, kind: kind, boundPath: nil)
  }

  init(_ handle: consuming OwnedDescriptor, domain: Domain, kind: Kind, boundPath: BoundPath?) {
    self.handle = handle
    self.domain = domain
    self.kind = kind
    self.boundPath = boundPath
  }

  /// Two connected Unix-domain sockets of one kind, both close-on-exec: the usual way to talk to
  /// a child process (hand it one with ``ChildProcess/spawn(_:arguments:environment:passing:cpu:inheriting:)``).
  ///
  /// Peer credentials on either end name the process that created the pair.
  /// The corresponding C function is `socketpair`.
  public static func pair(
    _ kind: Kind = .stream, nonBlocking: Bool = false
  ) throws(HinixError) -> (Socket, Socket) {
    switch Sys.socketPair(AF_UNIX, kind.rawValue, nonBlocking: nonBlocking) {
    case .success(let (first, second)):
      return (
        Socket(adopting: FileDescriptor(rawValue: first), domain: .unix, kind: kind),
        Socket(adopting: FileDescriptor(rawValue: second), domain: .unix, kind: kind)
      )
    case .failure(let error):
      throw HinixError.system(error, "socketpair")
    }
  }

  /// This object's history of waits, which ``WaitStrategy/adaptive`` spins by.
  public let waitHistory = WaitHistory()

  /// How this socket's reads, writes, sends, receives and async accepts wait when the kernel is
  /// not ready:
  /// ``WaitStrategy/adaptive`` (the default) spins in async forms only while the peer has lately
  /// answered within microseconds; ``WaitStrategy/sleep`` parks the thread in `poll` or the
  /// task in the reactor at once; a spinning strategy first retries the non-blocking call for
  /// its spin time.
  ///
  /// Spinning trades a busy core for latency: with a peer that answers within microseconds it
  /// saves this side's wake-up, which across cores costs tens of microseconds. Timed forms
  /// never spin past their deadline, and try forms never spin. Any task may change it at any
  /// time; operations already waiting keep the strategy they started with.
  public var waitStrategy: WaitStrategy {
    get { handle.waitStrategy }
    set { handle.waitStrategy = newValue }
  }

  /// What error messages call this socket: its name, its peer's name, or its descriptor.
  var subject: String {
    for peer in [false, true] {
      if let address = try? address(peer: peer), address != .unnamed {
        return address.description
      }
    }
    return "socket \(fd)"
  }

  // MARK: Names

  /// The address this socket is bound to (`.unnamed` if none).
  ///
  /// An accepted Unix socket reports its listener's path here: it does not own that file.
  /// The corresponding C function is `getsockname`.
  public func localAddress() throws(HinixError) -> SocketAddress {
    try address(peer: false)
  }

  /// The address of the connected peer (`.unnamed` for an unbound Unix client).
  ///
  /// The corresponding C function is `getpeername`.
  public func peerAddress() throws(HinixError) -> SocketAddress {
    try address(peer: true)
  }

  private func address(peer: Bool) throws(HinixError) -> SocketAddress {
    var storage = sockaddr_storage()
    var length = UInt32(MemoryLayout<sockaddr_storage>.size)
    let result = withUnsafeMutableBytes(of: &storage) { raw in
      Sys.socketName(fd, peer: peer, raw.baseAddress!, &length)
    }
    if case .failure(let error) = result {
      throw HinixError.system(error, peer ? "getpeername" : "getsockname", subject: "socket \(fd)")
    }
    return withUnsafeBytes(of: &storage) { SocketAddress(decoding: $0, length: length) }
  }

  /// Binds the socket to `address` as given, with no path hygiene (``SocketListener`` and
  /// ``bound(to:kind:options:)`` add it). Binding ``SocketAddress/unnamed`` autobinds a fresh
  /// abstract name; read it back with ``localAddress()``.
  ///
  /// The corresponding C function is `bind`.
  public func bind(to address: SocketAddress) throws(HinixError) {
    let result = try address.withSockaddr(operation: "bind") { Sys.bind(fd, $0, $1) }
    if case .failure(let error) = result {
      throw Socket.bindError(error, address)
    }
  }

  static func bindError(_ error: Errno, _ address: SocketAddress) -> HinixError {
    HinixError.system(error, "bind", subject: address.description) { error in
      switch error {
      case .addressInUse: (.alreadyExists, "the address is in use")
      case .noSuchFileOrDirectory: (.notFound, "a folder on the path does not exist")
      default: nil
      }
    }
  }

  /// Starts accepting connections (stream and seqpacket sockets) with room for `backlog`
  /// pending ones.
  ///
  /// The listening socket becomes non-blocking, so that no form of `accept` can block when
  /// another thread takes the connection first; `blockingAccept` still waits, in `poll`.
  /// The corresponding C function is `listen`.
  public func listen(backlog: Int32 = SOMAXCONN) throws(HinixError) {
    if case .failure(let error) = Sys.listen(fd, backlog) {
      throw HinixError.system(error, "listen", subject: subject)
    }
    try setNonBlocking(true)
  }

  /// Closes one or both directions for this socket and its peer; the peer reads end of stream
  /// after `.write`. The corresponding C function is `shutdown`.
  public func shutdown(_ direction: Direction) throws(HinixError) {
    let how: Int32
    switch direction {
    case .read: how = Int32(SHUT_RD)
    case .write: how = Int32(SHUT_WR)
    case .both: how = Int32(SHUT_RDWR)
    }
    if case .failure(let error) = Sys.shutdown(fd, how) {
      throw HinixError.system(error, "shutdown", subject: subject)
    }
  }

  /// Whether the socket is in non-blocking mode (`O_NONBLOCK`). Hinix's `try…`, timed and
  /// async forms never need it; it matters to code that uses the descriptor directly.
  public func isNonBlocking() throws(HinixError) -> Bool {
    switch descriptor.isNonBlocking() {
    case .success(let value): return value
    case .failure(let error): throw HinixError.system(error, "fcntl(F_GETFL)", subject: subject)
    }
  }

  /// Turns non-blocking mode on or off. In non-blocking mode the blocking forms still wait
  /// (in `poll`), so their meaning does not change. The corresponding C function is `fcntl`.
  public func setNonBlocking(_ nonBlocking: Bool) throws(HinixError) {
    try descriptor.setNonBlocking(nonBlocking, subject: subject)
  }

  // MARK: The transfer cores

  /// Runs `call` (which gets `MSG_DONTWAIT` or 0 as flags) through the transfer core until it
  /// succeeds or the form gives up: `nil` when a try or timed form ran out of time. A spinning
  /// ``waitStrategy`` retries the non-blocking call before the first wait.
  @inline(__always)
  ///
  /// When the caller's own first call `failed` already, it goes on from that failure (no call
  /// is made twice: a second blocking call could wait again, for a second `SO_SNDTIMEO`).
  func transfer(
    _ operation: String, events: Int16, waiting: Waiting, failed: Errno? = nil,
    _ call: (Int32) -> Result<Int, Errno>
  ) throws(HinixError) -> Int? {
    let first: Transfer.First<Int> =
      failed == nil
      ? Transfer.first(waiting, strategy: waitStrategy) { mode in call(Socket.flags(mode)) } : .none
    switch first {
    case .value(let count): return count
    case .notNow: return nil
    case .failed, .none: break
    }
    return try Transfer.wait(
      waiting, strategy: waitStrategy, fd: fd, events: events, kernelTimeouts: true,
      failed: failed ?? first.error,
      operation: operation, { mode in call(Socket.flags(mode)) },
      failure: { (error) throws(HinixError) in throw transferError(error, operation, events: events) },
      subject: { subject })
  }

  /// The async form of ``transfer(_:events:waiting:failed:_:)``.
  @inline(__always)
  nonisolated(nonsending) func transfer(
    _ operation: String, events: IOEvents, reactor: Reactor, _ call: (Int32) -> Result<Int, Errno>
  ) async throws -> Int {
    try await reactor.transfer(
      events, on: descriptor, strategy: waitStrategy, history: waitHistory,
      { mode in call(Socket.flags(mode)) },
      failure: { (error) throws(HinixError) in
        throw transferError(
          error, operation, events: events.contains(.readable) ? Int16(POLLIN) : Int16(POLLOUT))
      })
  }

  /// Runs `attempt` (which must not wait) through the reactor's async core, with this socket's
  /// ``waitStrategy``.
  @inline(__always)
  @discardableResult
  nonisolated(nonsending) func perform<T>(
    _ events: IOEvents, reactor: Reactor, _ attempt: () throws(HinixError) -> T?
  ) async throws -> T {
    try await reactor.perform(events, on: descriptor, strategy: waitStrategy, history: waitHistory, attempt)
  }

  /// One non-blocking try of `call`: the count, or `nil` when the kernel is not ready.
  @inline(__always)
  func attempt(
    _ operation: String, _ call: (Int32) -> Result<Int, Errno>
  ) throws(HinixError) -> Int? {
    try Transfer.attempt(
      { mode in call(Socket.flags(mode)) },
      failure: { (error) throws(HinixError) in throw transferError(error, operation) })
  }

  /// The flags of a call in `mode`: `MSG_DONTWAIT` unless it may block.
  @inline(__always)
  static func flags(_ mode: CallMode) -> Int32 {
    if case .blocking = mode { return 0 }
    return Sys.dontWait
  }

  /// " (its send buffer is N bytes)", for an error message; empty if it cannot be read.
  private var sendBufferNote: String {
    (try? get(.sendBufferSize)).map { " (its send buffer is \($0) bytes)" } ?? ""
  }

  /// A failed transfer, named. `EAGAIN` reaches here only from a blocking call on a blocking
  /// socket: its `SO_RCVTIMEO` or `SO_SNDTIMEO` passed.
  func transferError(_ error: Errno, _ operation: String, events: Int16 = 0) -> HinixError {
    if error == .resourceTemporarilyUnavailable {
      return HinixError(
        .timedOut, operation: operation, subject: subject, errno: .resourceTemporarilyUnavailable,
        detail: "the socket's \(events == Int16(POLLIN) ? "receive" : "send") timeout passed")
    }
    return HinixError.system(error, operation, subject: subject) { error in
      switch error {
      case .brokenPipe: (.brokenPipe, "the peer closed its end or shut down this direction")
      case .connectionReset: (.connectionReset, "the peer closed the connection with data unread")
      case .socketNotConnected: (.notConnected, "the socket is not connected")
      case .messageTooLong:
        (.messageTooLarge, "the message is larger than the socket can send at once" + sendBufferNote)
      default: nil
      }
    }
  }

  // MARK: Byte streams

  /// Reads what is available, blocking the thread while there is nothing; 0 means the peer
  /// closed or shut down its writing side. On seqpacket and datagram sockets prefer
  /// ``blockingReceive(maxDescriptors:)``, which never truncates. The corresponding C function
  /// is `recv`.
  @available(*, noasync, message: "blocks its thread; use `await read(into:)` in async code")
  public func blockingRead(into buffer: UnsafeMutableRawBufferPointer) throws(HinixError) -> Int {
    try transfer("recv", events: Int16(POLLIN), waiting: .forever) { Sys.receive(fd, buffer, flags: $0) }!
  }

  /// Reads what is available without waiting: ``Outcome/wouldBlock`` if there is nothing yet,
  /// ``Outcome/ended`` once a stream's peer closed or shut down its writing side.
  public func tryRead(into buffer: UnsafeMutableRawBufferPointer) throws(HinixError) -> Outcome<Int> {
    readOutcome(
      try transfer("recv", events: Int16(POLLIN), waiting: .never) { Sys.receive(fd, buffer, flags: $0) },
      .never)
  }

  /// Reads what is available, blocking the thread at most `timeout`: ``Outcome/timedOut`` if
  /// nothing came, ``Outcome/ended`` once a stream's peer closed its writing side.
  @available(*, noasync, message: "blocks its thread; use `await read(into:)` in async code")
  public func blockingRead(into buffer: UnsafeMutableRawBufferPointer, timeout: Duration) throws(HinixError)
    -> Outcome<Int>
  {
    let waiting = Waiting.until(.after(timeout))
    return readOutcome(
      try transfer("recv", events: Int16(POLLIN), waiting: waiting) { Sys.receive(fd, buffer, flags: $0) },
      waiting)
  }

  /// A read's outcome: 0 on a stream is its end (a datagram may be empty).
  private func readOutcome(_ count: Int?, _ waiting: Waiting) -> Outcome<Int> {
    count == 0 && kind != .datagram ? .ended : waiting.outcome(count)
  }

  /// Reads what is available into `buffer`, suspending the task while there is nothing; 0
  /// means the peer closed or shut down its writing side.
  ///
  /// The buffer must stay valid until the call returns.
  public nonisolated(nonsending) func read(
    into buffer: UnsafeMutableRawBufferPointer, reactor: Reactor = .shared
  ) async throws
    -> Int
  {
    try await transfer("recv", events: .readable, reactor: reactor) { Sys.receive(fd, buffer, flags: $0) }
  }

  /// Reads up to `maxCount` bytes, suspending the task while there is nothing; an empty result
  /// means end of stream. A `maxCount` below 1 is `.invalidArgument`.
  public func read(upTo maxCount: Int, reactor: Reactor = .shared) async throws -> [UInt8] {
    try ByteStream.checkReadCount(maxCount, subject: subject)
    var bytes = [UInt8](repeating: 0, count: maxCount)
    let count = try await perform(.readable, reactor: reactor) { () throws(HinixError) -> Int? in
      try bytes.withUnsafeMutableBytes { buffer in
        Result { () throws(HinixError) in try attempt("recv") { Sys.receive(fd, buffer, flags: $0) } }
      }.get()
    }
    bytes.removeLast(bytes.count - count)
    return bytes
  }

  /// Reads exactly `buffer.count` bytes, blocking the thread; an end of stream before that
  /// throws `.brokenPipe` naming how many bytes were missing.
  @available(*, noasync, message: "blocks its thread; use `await readExactly(into:)` in async code")
  public func blockingReadExactly(into buffer: UnsafeMutableRawBufferPointer) throws(HinixError) {
    var done = 0
    while done < buffer.count {
      let count = try blockingRead(into: UnsafeMutableRawBufferPointer(rebasing: buffer[done...]))
      if count == 0 { throw endOfStream(missing: buffer.count - done, of: buffer.count) }
      done += count
    }
  }

  /// The async form of ``blockingReadExactly(into:)``.
  public nonisolated(nonsending) func readExactly(
    into buffer: UnsafeMutableRawBufferPointer, reactor: Reactor = .shared
  )
    async throws
  {
    var done = 0
    while done < buffer.count {
      let count = try await read(
        into: UnsafeMutableRawBufferPointer(rebasing: buffer[done...]), reactor: reactor)
      if count == 0 { throw endOfStream(missing: buffer.count - done, of: buffer.count) }
      done += count
    }
  }

  private func endOfStream(missing: Int, of total: Int) -> HinixError {
    HinixError(
      .brokenPipe, operation: "recv", subject: subject,
      detail: "the peer ended the stream \(missing) bytes short of \(total)")
  }

  /// Writes all of `bytes`, blocking the thread while the socket's buffer is full. The
  /// corresponding C function is `send` (with `MSG_NOSIGNAL`).
  @available(*, noasync, message: "blocks its thread; use `await write(_:)` in async code")
  public func blockingWrite(_ bytes: some MessageBytes) throws(HinixError) {
    _ = try bytes.withMessageBytes { buffer in
      Result { () throws(HinixError) in try writeAll(buffer, waiting: .forever) }
    }.get()
  }

  /// Writes all of a raw buffer, blocking the thread while the socket's buffer is full (no
  /// generic indirection: the form for hot loops).
  @available(*, noasync, message: "blocks its thread; use `await write(_:)` in async code")
  public func blockingWrite(_ bytes: UnsafeRawBufferPointer) throws(HinixError) {
    _ = try writeAll(bytes, waiting: .forever)
  }

  /// Writes what fits now: ``Outcome/completed(_:)`` with the count written (perhaps fewer than
  /// all), or ``Outcome/wouldBlock`` if nothing fit.
  public func tryWrite(_ bytes: some MessageBytes) throws(HinixError) -> Outcome<Int> {
    try bytes.withMessageBytes { buffer in
      Result { () throws(HinixError) in try writeOutcome(buffer, waiting: .never) }
    }.get()
  }

  /// Writes, blocking the thread at most `timeout` for room: ``Outcome/completed(_:)`` with the
  /// count written (fewer than all when the time ran out midway), or ``Outcome/timedOut`` if
  /// nothing fit in time.
  @available(*, noasync, message: "blocks its thread; use `await write(_:)` in async code")
  public func blockingWrite(_ bytes: some MessageBytes, timeout: Duration) throws(HinixError) -> Outcome<Int>
  {
    let deadline = Deadline.Instant.after(timeout)
    return try bytes.withMessageBytes { buffer in
      Result { () throws(HinixError) in try writeOutcome(buffer, waiting: .until(deadline)) }
    }.get()
  }

  /// Writes all of `bytes`, suspending the task while the socket's buffer is full.
  public func write(_ bytes: some MessageBytes, reactor: Reactor = .shared) async throws {
    let total = bytes.withMessageBytes { $0.count }
    var written = 0
    while written < total {
      written += try await perform(.writable, reactor: reactor) { () throws(HinixError) -> Int? in
        try bytes.withMessageBytes { all in
          Result { () throws(HinixError) in
            let rest = UnsafeRawBufferPointer(rebasing: all[written...])
            return try attempt("send") { Sys.send(fd, rest, flags: $0) }
          }
        }.get()
      }
    }
  }

  private func writeOutcome(_ bytes: UnsafeRawBufferPointer, waiting: Waiting) throws(HinixError) -> Outcome<
    Int
  > {
    let count = try writeAll(bytes, waiting: waiting)
    return waiting.outcome(count > 0 || bytes.isEmpty ? count : nil)
  }

  /// Writes all of `bytes` with plain sends, waiting as `waiting` allows; returns how many
  /// went (fewer only when a try or timed form gave up).
  func writeAll(_ bytes: UnsafeRawBufferPointer, waiting: Waiting) throws(HinixError) -> Int {
    var written = 0
    // The blocking form's common case, when it does not spin first: one send that takes it
    // all. The rest of a part, or a failure (a non-blocking description's EAGAIN, a timeout,
    // an error), goes on below without a second call.
    var failed: Errno?
    if !bytes.isEmpty {
      switch Transfer.first(
        waiting, strategy: waitStrategy, { mode in Sys.send(fd, bytes, flags: Socket.flags(mode)) })
      {
      case .value(let count):
        if count == bytes.count { return count }
        written = count
      case .notNow: return 0
      case .failed(let error): failed = error
      case .none: break
      }
    }
    while written < bytes.count {
      let rest = UnsafeRawBufferPointer(rebasing: bytes[written...])
      let count: Int?
      do {
        count = try transfer(
          "send", events: Int16(POLLOUT), waiting: waiting, failed: failed, { Sys.send(fd, rest, flags: $0) })
      } catch {
        // A stream's peer or timeout that stops a write part-way: the error says how far it got.
        throw written > 0 ? error.afterPartialWrite(written, of: bytes.count) : error
      }
      guard let count else { break }
      failed = nil
      written += count
    }
    return written
  }
}

extension FileDescriptor {
  /// Sets or clears `O_NONBLOCK` on the open file description.
  func setNonBlocking(_ nonBlocking: Bool, subject: String) throws(HinixError) {
    let flags: Int32
    switch Sys.fcntl(rawValue, F_GETFL) {
    case .success(let value): flags = value
    case .failure(let error): throw HinixError.system(error, "fcntl(F_GETFL)", subject: subject)
    }
    let updated = nonBlocking ? flags | O_NONBLOCK : flags & ~O_NONBLOCK
    if updated != flags, case .failure(let error) = Sys.fcntl(rawValue, F_SETFL, updated) {
      throw HinixError.system(error, "fcntl(F_SETFL)", subject: subject)
    }
  }
}
