import Glibc
import SystemPackage

extension Socket {
  /// Connects a new socket of `kind` to `address`, waiting at most `timeout` (or for as long as
  /// the kernel takes, when nil).
  ///
  /// Errors name the address: `.connectionRefused` when nobody listens there, `.notFound` when
  /// no socket file exists at a path, `.permissionDenied` when its mode forbids us, `.timedOut`
  /// when the timeout passed. A Unix listener whose backlog is full is retried until the timeout.
  /// The corresponding C function is `connect`.
  public static func connect(
    to address: SocketAddress, kind: Kind = .stream, timeout: Duration? = nil
  ) throws(HinixError) -> Socket {
    let socket = try Socket(Domain(address), kind, nonBlocking: true)
    try socket.connect(to: address, waiting: timeout.map { .until(.after($0)) } ?? .forever)
    try socket.setNonBlocking(false)
    return socket
  }

  /// Connects a new socket of `kind` to `address`, suspending the task (not its thread) until
  /// the connection is made. Cancelling the task abandons the connection attempt.
  public static func connect(to address: SocketAddress, kind: Kind = .stream) async throws -> Socket {
    let socket = try Socket(Domain(address), kind, nonBlocking: true)
    while true {
      let result = try address.withSockaddr(operation: "connect") { Sys.connect(socket.fd, $0, $1) }
      switch result {
      case .success:
        break
      case .failure(.nowInProgress), .failure(.interrupted), .failure(.alreadyInProcess):
        _ = try await Reactor.shared.wait(for: .writable, on: socket.descriptor)
        try socket.finishConnecting(to: address)
      case .failure(.resourceTemporarilyUnavailable):
        // A Unix listener's backlog is full: nothing to poll for, so retry shortly.
        try await Task.sleep(for: .milliseconds(1))
        continue
      case .failure(let error):
        throw connectError(error, address)
      }
      try socket.setNonBlocking(false)
      return socket
    }
  }

  /// Connects this socket (a datagram socket's default destination, or a socket bound first).
  ///
  /// The corresponding C function is `connect`.
  public func connect(to address: SocketAddress) throws(HinixError) {
    try connect(to: address, waiting: .forever)
  }

  func connect(to address: SocketAddress, waiting: Waiting) throws(HinixError) {
    while true {
      let result = try address.withSockaddr(operation: "connect") { Sys.connect(fd, $0, $1) }
      switch result {
      case .success:
        return
      case .failure(.nowInProgress), .failure(.interrupted), .failure(.alreadyInProcess):
        // The connection goes on in the kernel; its outcome comes back as SO_ERROR.
        guard try waiting.poll(fd, for: Int16(POLLOUT), operation: "connect", subject: address.description)
        else { throw connectTimedOut(address) }
        try finishConnecting(to: address)
        return
      case .failure(.resourceTemporarilyUnavailable):
        // A Unix listener's backlog is full: nothing to poll for, so retry shortly.
        guard waiting.pause(.milliseconds(1)) else { throw connectTimedOut(address) }
      case .failure(let error):
        throw Socket.connectError(error, address)
      }
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
    case .connectionRefused: detail = "nobody is listening there"
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

  /// Waits for and accepts the next connection; the new socket is close-on-exec and blocking.
  ///
  /// The corresponding C function is `accept4`.
  public func accept() throws(HinixError) -> Socket {
    try accept(waiting: .forever)!
  }

  /// Accepts a pending connection without waiting; `nil` if none is pending.
  public func tryAccept() throws(HinixError) -> Socket? {
    try accept(waiting: .never)
  }

  /// Accepts the next connection, waiting at most `timeout`; `nil` if none came.
  public func accept(timeout: Duration) throws(HinixError) -> Socket? {
    try accept(waiting: .until(.after(timeout)))
  }

  /// Accepts the next connection, suspending the task (not its thread) until one comes.
  public func accept() async throws -> Socket {
    try await retrying(.readable) { () throws(HinixError) -> Socket? in try accept(waiting: .never) }
  }

  private func accept(waiting: Waiting) throws(HinixError) -> Socket? {
    while true {
      // A listening socket is non-blocking (see `listen`), so every form polls itself.
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

  /// The connections arriving at this listening socket, accepted one by one as the sequence is
  /// iterated; iteration ends only with an error or cancellation.
  public var connections: Connections { Connections(listener: self) }

  /// An `AsyncSequence` of accepted connections (see ``connections``).
  public struct Connections: AsyncSequence, Sendable {
    let listener: Socket

    /// Creates the iterator.
    public func makeAsyncIterator() -> Iterator { Iterator(listener: listener) }

    /// Accepts the next connection on each call.
    public struct Iterator: AsyncIteratorProtocol {
      let listener: Socket

      /// The next accepted connection.
      public mutating func next() async throws -> Socket? {
        try await listener.accept()
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
