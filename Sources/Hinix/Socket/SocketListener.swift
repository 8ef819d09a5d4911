import Glibc
import SystemPackage

/// A socket that accepts connections at a name, with the path hygiene a long-running service
/// needs.
///
/// For a filesystem path it creates missing parent folders with mode 0700 (an existing folder's
/// mode is never touched), removes a stale socket file only when it is a socket and a connect to
/// it is refused, gives the socket file exactly the requested mode whatever the umask (set
/// before `listen`, so nobody connects in between), reports the resolved absolute path in
/// ``address``, and removes the file when the listener closes, only if it is still the file this
/// listener created. Sockets it accepts never remove anything.
///
/// A relative path is resolved against the working folder and bound absolute, unless the
/// absolute path is longer than `sun_path` allows (107 bytes) while the relative one fits: then
/// it is bound as given, relative, and ``address`` is that relative path, which clients in the
/// same working folder connect to (the file is still removed by its absolute path).
///
/// ```swift
/// let listener = try SocketListener(.path("/run/user/1000/app/control.sock"))
/// for try await connection in listener.connections { … }
/// ```
public final class SocketListener: Sendable {
  /// How the listener binds and what it does with its name.
  public struct Options: Sendable {
    /// Pending connections the kernel queues before refusing more.
    public var backlog: Int32 = SOMAXCONN
    /// The socket file's mode, applied despite the umask; nil leaves the kernel's default
    /// (0777 minus the umask).
    public var mode: FilePermissions? = nil
    /// Remove a socket file left by a dead listener (one that refuses connections).
    public var replaceStale = true
    /// Remove the socket file when the listener closes ("reclaim the name").
    public var removeOnClose = true
    /// Create missing parent folders, with mode 0700.
    public var createParents = true
    /// For IP listeners: `SO_REUSEADDR`, so a restarted server can bind at once.
    public var reuseAddress = true
    /// For IP listeners: `SO_REUSEPORT`, to spread connections over several listeners.
    public var reusePort = false

    /// The defaults: listen with the system's backlog, replace stale files, remove on close.
    public init() {}
  }

  /// The listening socket (non-blocking; every form of accept still works).
  public let socket: Socket
  /// Where clients connect: the resolved absolute path (or the relative one it was bound at, see
  /// above), the abstract name the kernel gave an autobound listener, or the port chosen for
  /// port 0.
  public let address: SocketAddress

  /// Binds a listener of `kind` (stream or seqpacket) at `address` and starts listening.
  ///
  /// The corresponding C functions are `socket`, `bind` and `listen`.
  public init(
    _ address: SocketAddress, kind: Socket.Kind = .stream, options: Options = Options()
  ) throws(HinixError) {
    guard kind != .datagram else {
      throw HinixError(
        .invalidArgument, operation: "listen", subject: address.description,
        detail: "datagram sockets do not listen; use Socket.bound(to:kind:options:)")
    }
    socket = try Socket.bound(to: address, kind: kind, options: options)
    try socket.listen(backlog: options.backlog)
    self.address = try socket.localAddress()
  }

  /// Accepts the next connection, blocking the thread until one comes. The corresponding C
  /// function is `accept4`.
  @available(*, noasync, message: "blocks its thread; use `await accept()` in async code")
  public func blockingAccept() throws(HinixError) -> Socket { try socket.blockingAccept() }

  /// Accepts a pending connection without waiting: ``Outcome/wouldBlock`` if none is pending.
  public func tryAccept() throws(HinixError) -> Outcome<Socket> { try socket.tryAccept() }

  /// Accepts the next connection, blocking the thread at most `timeout`: ``Outcome/timedOut``
  /// if none came.
  @available(*, noasync, message: "blocks its thread; use `await accept()` in async code")
  public func blockingAccept(timeout: Duration) throws(HinixError) -> Outcome<Socket> {
    try socket.blockingAccept(timeout: timeout)
  }

  /// Accepts the next connection, suspending the task (not its thread) until one comes.
  public func accept(reactor: Reactor = .shared) async throws -> Socket {
    try await socket.accept(reactor: reactor)
  }

  /// The incoming connections as an `AsyncSequence`.
  public var connections: DescriptorSequence<Socket> { socket.connections }

  /// ``connections`` waiting through `reactor`.
  public func connections(reactor: Reactor) -> DescriptorSequence<Socket> {
    socket.connections(reactor: reactor)
  }
}

extension Socket {
  /// A new socket of `kind` bound to `address` with ``SocketListener``'s path hygiene; the
  /// way to give a datagram socket a name. Binding ``SocketAddress/unnamed`` autobinds.
  ///
  /// A datagram socket file can receive as soon as it is bound, so a requested mode narrower
  /// than the umask allows is applied a moment later; use a private parent folder when that
  /// moment matters. The corresponding C functions are `socket` and `bind`.
  public static func bound(
    to address: SocketAddress, kind: Kind, options: SocketListener.Options = SocketListener.Options()
  ) throws(HinixError) -> Socket {
    guard case .path(let path) = address else {
      let socket = try Socket(Domain(address), kind)
      if address.port != nil {
        if options.reuseAddress { try socket.set(.reuseAddress, true) }
        if options.reusePort { try socket.set(.reusePort, true) }
      }
      try socket.bind(to: address)
      return socket
    }
    // A path needs the hygiene, and the socket must own the file it binds.
    let raw: Int32
    switch Sys.socket(AF_UNIX, kind.rawValue, nonBlocking: false) {
    case .success(let fd): raw = fd
    case .failure(let error): throw HinixError.system(error, "socket", subject: address.description)
    }
    let handle = OwnedDescriptor(adopting: FileDescriptor(rawValue: raw))
    let boundPath = try BoundPath.bind(raw, path, kind: kind, options: options)
    return Socket(handle, domain: .unix, kind: kind, boundPath: boundPath)
  }
}

/// A socket file this process created and removes when its socket closes, unless something
/// else has replaced it by then.
final class BoundPath: Sendable {
  let path: FilePath
  let device: UInt64
  let inode: UInt64
  let removeOnClose: Bool

  private init(path: FilePath, device: UInt64, inode: UInt64, removeOnClose: Bool) {
    self.path = path
    self.device = device
    self.inode = inode
    self.removeOnClose = removeOnClose
  }

  deinit {
    guard removeOnClose, case .success(let status) = Sys.status(path, followingLinks: false),
      status.isSocket, status.device == device, status.inode == inode
    else { return }
    _ = Sys.unlink(path)
  }

  /// Binds `fd` at `path` with the hygiene described in ``SocketListener``.
  static func bind(
    _ fd: Int32, _ path: FilePath, kind: Socket.Kind, options: SocketListener.Options
  ) throws(HinixError) -> BoundPath {
    let resolved = try resolve(path, createParents: options.createParents)
    // The resolved path is bound when it fits sun_path. A relative path whose absolute form is
    // too long (a deep working folder) is bound as given, relative, as socat and Python do.
    let fits = resolved.bytes.count <= SocketAddress.maximumUnixNameLength
    let address = SocketAddress.path(fits || path.isAbsolute ? resolved : path)
    var replaced = false
    while true {
      let result = try address.withSockaddr(operation: "bind") { Sys.bind(fd, $0, $1) }
      switch result {
      case .success:
        break
      case .failure(.addressInUse) where !replaced:
        try removeStale(resolved, at: address, kind: kind, replace: options.replaceStale)
        replaced = true
        continue
      case .failure(let error):
        throw Socket.bindError(error, address)
      }
      break
    }
    if let mode = options.mode, case .failure(let error) = Sys.changeMode(resolved, mode.rawValue) {
      _ = Sys.unlink(resolved)
      throw HinixError.system(error, "chmod", subject: resolved.printable)
    }
    guard case .success(let status) = Sys.status(resolved, followingLinks: false) else {
      throw HinixError(
        .notFound, operation: "bind", subject: resolved.printable, detail: "the socket file vanished")
    }
    return BoundPath(
      path: resolved, device: status.device, inode: status.inode, removeOnClose: options.removeOnClose)
  }

  /// Removes the file at `path` if it is a socket nobody listens on; otherwise explains why not.
  private static func removeStale(
    _ path: FilePath, at address: SocketAddress, kind: Socket.Kind, replace: Bool
  ) throws(HinixError) {
    // Gone meanwhile: bind again.
    guard case .success(let status) = Sys.status(path, followingLinks: false) else { return }
    guard status.isSocket else {
      throw HinixError(
        .alreadyExists, operation: "bind", subject: path.printable, errno: .addressInUse,
        detail: "\(status.typeName), not a socket, is in the way; Hinix leaves it alone")
    }
    let probe = try Socket(.unix, kind, nonBlocking: true)
    let refused: Bool
    switch try address.withSockaddr(operation: "connect", { Sys.connect(probe.fd, $0, $1) }) {
    case .failure(.connectionRefused): refused = true
    case .success, .failure(.resourceTemporarilyUnavailable), .failure(.nowInProgress): refused = false
    case .failure(.protocolWrongTypeForSocket):
      // Only a bound socket has a type: a live listener of another kind is there.
      throw HinixError(
        .alreadyExists, operation: "bind", subject: path.printable, errno: .addressInUse,
        detail: "another listener, of a different socket type, is running there")
    case .failure(let error): throw HinixError.system(error, "connect", subject: path.printable)
    }
    guard refused else {
      throw HinixError(
        .alreadyExists, operation: "bind", subject: path.printable, errno: .addressInUse,
        detail: "another listener is running there")
    }
    guard replace else {
      throw HinixError(
        .alreadyExists, operation: "bind", subject: path.printable, errno: .addressInUse,
        detail: "a stale socket file is there (nobody listens) and replaceStale is off")
    }
    switch Sys.unlink(path) {
    case .success, .failure(.noSuchFileOrDirectory): break
    case .failure(let error): throw HinixError.system(error, "unlink", subject: path.printable)
    }
  }

  /// The absolute path `path` names, its parent folders created (mode 0700) when asked, and
  /// symbolic links in the parent resolved.
  static func resolve(_ path: FilePath, createParents: Bool) throws(HinixError) -> FilePath {
    let bytes = path.bytes
    if bytes.isEmpty {
      throw HinixError(.invalidName, operation: "bind", subject: "", detail: "the path is empty")
    }
    var absolute = path
    if !path.isAbsolute {
      switch Sys.currentDirectory() {
      case .success(let folder): absolute = folder.pushing(path)
      case .failure(let error): throw HinixError.system(error, "getcwd", subject: path.printable)
      }
    }
    absolute = absolute.lexicallyNormalized()
    guard let name = absolute.lastComponent, absolute.removingLastComponent() != absolute else {
      throw HinixError(
        .invalidName, operation: "bind", subject: path.printable, detail: "the path names no file")
    }
    let parent = absolute.removingLastComponent()
    if createParents { try createFolders(parent) }
    switch Sys.realPath(parent) {
    case .success(let real):
      return real.appending(name)
    case .failure(let error):
      throw HinixError(
        error == .noSuchFileOrDirectory ? .notFound : .system, operation: "bind", subject: path.printable,
        errno: error, detail: "its folder \(parent.printable) is not usable: \(error)")
    }
  }

  /// Creates each missing folder of `folder` with mode exactly 0700; existing ones are left as
  /// they are.
  private static func createFolders(_ folder: FilePath) throws(HinixError) {
    var current = FilePath(root: folder.root)
    for component in folder.components {
      current.append(component)
      if case .success(let status) = Sys.status(current, followingLinks: false) {
        guard status.isDirectory || status.mode & UInt32(S_IFMT) == UInt32(S_IFLNK) else {
          throw HinixError(
            .invalidName, operation: "mkdir", subject: current.printable, errno: .notDirectory,
            detail: "a file that is not a folder is in the path")
        }
        continue
      }
      switch Sys.makeDirectory(current, mode: 0o700) {
      case .success: break
      case .failure(.fileExists): continue
      case .failure(let error): throw HinixError.system(error, "mkdir", subject: current.printable)
      }
      // The umask may have taken bits away from 0700; set exactly 0700 on what we created.
      _ = Sys.changeMode(current, 0o700)
    }
  }
}
