import Glibc
import SystemPackage

extension Socket {
  /// Connects a new socket of `kind` to `address`, blocking the thread at most `timeout` (or
  /// for as long as the kernel takes, when nil).
  ///
  /// Errors name the address: `.connectionRefused` when nobody listens there, `.notFound` when
  /// no socket file exists at a path, `.permissionDenied` when its mode forbids us, `.timedOut`
  /// when the timeout passed. A Unix listener whose backlog is full is retried until the timeout.
  /// A Unix datagram client is first bound to a fresh abstract name (autobind), so that the
  /// peer can reply to it. The corresponding C function is `connect`.
  @available(*, noasync, message: "blocks its thread; use `await connect(to:kind:)` in async code")
  public static func blockingConnect(
    to address: SocketAddress, kind: Kind = .stream, timeout: Duration? = nil
  ) throws(HinixError) -> Socket {
    let socket = try client(for: address, kind: kind)
    try socket.connect(to: address, waiting: timeout.map { .until(.after($0)) } ?? .forever)
    try socket.setNonBlocking(false)
    return socket
  }

  /// Connects a new socket of `kind` to `address`, suspending the task (not its thread) until
  /// the connection is made. Cancelling the task abandons the connection attempt.
  public static func connect(
    to address: SocketAddress, kind: Kind = .stream, reactor: Reactor = .shared
  ) async throws -> Socket {
    let socket = try client(for: address, kind: kind)
    try await socket.connect(to: address, reactor: reactor)
    try socket.setNonBlocking(false)
    return socket
  }

  /// A new non-blocking socket to connect to `address`; a Unix datagram one autobound.
  private static func client(for address: SocketAddress, kind: Kind) throws(HinixError) -> Socket {
    let socket = try Socket(Domain(address), kind, nonBlocking: true)
    if kind == .datagram && socket.domain == .unix {
      try socket.bind(to: .unnamed)
    }
    return socket
  }

  /// Connects this socket (a datagram socket's default destination, or a socket bound first),
  /// blocking the thread until the kernel has done so.
  ///
  /// The corresponding C function is `connect`.
  @available(*, noasync, message: "blocks its thread; use `await connect(to:)` in async code")
  public func blockingConnect(to address: SocketAddress) throws(HinixError) {
    try connect(to: address, waiting: .forever)
  }

  /// Connects this socket, suspending the task (not its thread) while the connection is made.
  public func connect(to address: SocketAddress, reactor: Reactor = .shared) async throws {
    // connect on a blocking socket would wait in the kernel, on a thread of the pool.
    let wasBlocking = (try? isNonBlocking()) == false
    if wasBlocking { try setNonBlocking(true) }
    defer { if wasBlocking { try? setNonBlocking(false) } }
    while true {
      switch try startConnecting(to: address) {
      case .connected:
        return
      case .inProgress:
        _ = try await reactor.wait(for: .writable, on: descriptor)
        try finishConnecting(to: address)
        return
      case .backlogFull:
        try await Task.sleep(for: .milliseconds(1))
      }
    }
  }

  func connect(to address: SocketAddress, waiting: Waiting) throws(HinixError) {
    while true {
      switch try startConnecting(to: address) {
      case .connected:
        return
      case .inProgress:
        guard try waiting.poll(fd, for: Int16(POLLOUT), operation: "connect", subject: address.description)
        else { throw connectTimedOut(address) }
        try finishConnecting(to: address)
        return
      case .backlogFull:
        guard waiting.pause(.milliseconds(1)) else { throw connectTimedOut(address) }
      }
    }
  }

  /// Where one `connect` call left the connection.
  private enum ConnectStep {
    case connected
    /// The connection goes on in the kernel; its outcome comes back as `SO_ERROR` once the
    /// socket is writable.
    case inProgress
    /// A Unix listener's backlog is full: nothing to wait for, so retry shortly.
    case backlogFull
  }

  private func startConnecting(to address: SocketAddress) throws(HinixError) -> ConnectStep {
    switch try address.withSockaddr(operation: "connect", { Sys.connect(fd, $0, $1) }) {
    case .success: .connected
    case .failure(.nowInProgress), .failure(.interrupted), .failure(.alreadyInProcess): .inProgress
    case .failure(.resourceTemporarilyUnavailable): .backlogFull
    case .failure(let error): throw Socket.connectError(error, address)
    }
  }

  private func finishConnecting(to address: SocketAddress) throws(HinixError) {
    let pending = try get(.pendingError)
    if pending != 0 {
      throw Socket.connectError(Errno(rawValue: Int32(pending)), address)
    }
  }

  private func connectTimedOut(_ address: SocketAddress) -> HinixError {
    HinixError(
      .timedOut, operation: "connect", subject: address.description,
      detail: "no connection before the timeout")
  }

  static func connectError(_ error: Errno, _ address: SocketAddress) -> HinixError {
    let detail: String
    switch error {
    case .connectionRefused:
      // A path that names something other than a socket refuses too: say what it is.
      if case .path(let path) = address, case .success(let status) = Sys.status(path), !status.isSocket {
        return HinixError(
          .invalidArgument, operation: "connect", subject: address.description, errno: error,
          detail: "not a socket: \(status.typeName) is at the path")
      }
      detail = "nobody is listening there"
    case .noSuchFileOrDirectory: detail = "no socket file exists at the path"
    case .permissionDenied: detail = "the socket file's mode does not let this process connect"
    case .protocolWrongTypeForSocket: detail = "the socket there is of another type"
    case .timedOut: detail = "the peer did not answer in time"
    default: return HinixError.system(error, "connect", subject: address.description)
    }
    return HinixError(
      HinixError.system(error, "connect").code, operation: "connect", subject: address.description,
      errno: error, detail: detail)
  }

  // MARK: Accepting

  /// Accepts the next connection, blocking the thread until one comes; the new socket is
  /// close-on-exec and blocking.
  ///
  /// The corresponding C function is `accept4`.
  @available(*, noasync, message: "blocks its thread; use `await accept()` in async code")
  public func blockingAccept() throws(HinixError) -> Socket {
    try accept(waiting: .forever)!
  }

  /// Accepts a pending connection without waiting: ``Outcome/wouldBlock`` if none is pending.
  public func tryAccept() throws(HinixError) -> Outcome<Socket> {
    Waiting.never.outcome(try accept(waiting: .never))
  }

  /// Accepts the next connection, blocking the thread at most `timeout`:
  /// ``Outcome/timedOut`` if none came.
  @available(*, noasync, message: "blocks its thread; use `await accept()` in async code")
  public func blockingAccept(timeout: Duration) throws(HinixError) -> Outcome<Socket> {
    try Waiting.timed(timeout) { (waiting) throws(HinixError) in try accept(waiting: waiting) }
  }

  /// Accepts the next connection, suspending the task (not its thread) until one comes.
  public func accept(reactor: Reactor = .shared) async throws -> Socket {
    try await perform(.readable, reactor: reactor) { () throws(HinixError) -> Socket? in
      try accept(waiting: .never)
    }
  }

  /// The connections arriving at this listening socket, accepted one by one as the sequence is
  /// iterated; iteration ends only with an error or cancellation.
  public var connections: DescriptorSequence<Socket> { connections() }

  /// ``connections`` waiting through `reactor`.
  public func connections(reactor: Reactor = .shared) -> DescriptorSequence<Socket> {
    DescriptorSequence(
      owner: self, descriptor: descriptor, events: .readable, reactor: reactor,
      strategy: { [self] in waitStrategy }, history: waitHistory,
      attempt: { [self] () throws(HinixError) in try tryAccept() })
  }

  private func accept(waiting: Waiting) throws(HinixError) -> Socket? {
    // Every form polls for itself, so accept4 itself must never block: a listener adopted in
    // blocking mode (socket activation) or switched back to it becomes non-blocking again.
    if case .success(false) = descriptor.isNonBlocking() { try setNonBlocking(true) }
    while true {
      switch Sys.accept(fd, nil, nil, nonBlocking: false) {
      case .success(let accepted):
        return Socket(adopting: FileDescriptor(rawValue: accepted), domain: domain, kind: kind)
      case .failure(.resourceTemporarilyUnavailable):
        guard try waiting.poll(fd, for: Int16(POLLIN), operation: "accept4", subject: subject) else {
          return nil
        }
      case .failure(.connectionAbort):
        // The client gave up before we accepted; wait for the next one.
        continue
      case .failure(.invalidArgument):
        throw HinixError(
          .invalidArgument, operation: "accept4", subject: subject, errno: .invalidArgument,
          detail: "the socket is not listening")
      case .failure(let error):
        throw HinixError.system(error, "accept4", subject: subject)
      }
    }
  }
}

extension Waiting {
  /// Sleeps for `interval` (less if the deadline is nearer); false when the form may not wait.
  func pause(_ interval: Duration) -> Bool {
    let nanoseconds: Int64
    switch self {
    case .never:
      return false
    case .forever:
      nanoseconds = Deadline.nanoseconds(of: interval)
    case .until(let deadline):
      let left = deadline.nanoseconds - Deadline.Instant.now.nanoseconds
      if left <= 0 { return false }
      nanoseconds = min(left, Deadline.nanoseconds(of: interval))
    }
    // A signal ends the sleep early; the caller's loop looks at the clock again.
    _ = Sys.sleep(nanoseconds: nanoseconds)
    return true
  }
}
