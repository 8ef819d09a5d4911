import Glibc
import SystemPackage

/// A name for a local socket: one name, a server and many clients on this host.
///
/// A plain name lives in Linux's abstract namespace by default: no file to clean up, gone when
/// the server closes, but also no permissions (check ``Socket/peerCredentials()``). Ask for
/// ``filesystem(_:)`` to get a socket file under `$XDG_RUNTIME_DIR` (or, without it, a private
/// folder `/tmp/hinix-UID` that must be this user's and mode 0700), whose mode guards it.
public struct LocalSocketName: Sendable, Hashable, CustomStringConvertible {
  enum Storage: Hashable {
    case namespaced(String)
    case filesystem(String)
    case path(FilePath)
  }

  let storage: Storage

  /// A plain name in the abstract namespace (the default for local sockets).
  public static func namespaced(_ name: String) -> LocalSocketName {
    LocalSocketName(storage: .namespaced(name))
  }

  /// A plain name as a socket file in the user's runtime folder.
  public static func filesystem(_ name: String) -> LocalSocketName {
    LocalSocketName(storage: .filesystem(name))
  }

  /// An explicit socket file path.
  public static func path(_ path: FilePath) -> LocalSocketName { LocalSocketName(storage: .path(path)) }

  /// The name as given.
  public var description: String {
    switch storage {
    case .namespaced(let name): name
    case .filesystem(let name): name
    case .path(let path): path.printable
    }
  }

  /// The socket address this name maps to, checking the name first.
  public func resolve() throws(HinixError) -> SocketAddress {
    switch storage {
    case .namespaced(let name):
      try Self.checkPlain(name)
      return try Self.checked(.abstract(name))
    case .filesystem(let name):
      try Self.checkPlain(name)
      return try Self.checked(.path(try Self.runtimeFolder().appending(name)))
    case .path(let path):
      return try Self.checked(.path(path))
    }
  }

  /// `address`, once it is known to fit `sun_path`.
  private static func checked(_ address: SocketAddress) throws(HinixError) -> SocketAddress {
    _ = try address.withSockaddr(operation: "local socket name") { _, _ in () }
    return address
  }

  private static func checkPlain(_ name: String) throws(HinixError) {
    let problem: String? =
      if name.isEmpty { "the name is empty" } else if name.utf8.contains(0) {
        "the name contains a NUL byte"
      } else if name.contains("/") { "a plain name may not contain '/' (use .path for paths)" } else { nil }
    if let problem {
      throw HinixError(.invalidName, operation: "local socket name", subject: name, detail: problem)
    }
  }

  /// `$XDG_RUNTIME_DIR`, or a private `/tmp/hinix-UID` folder that this user owns with mode 0700.
  static func runtimeFolder() throws(HinixError) -> FilePath {
    if let runtime = getenv("XDG_RUNTIME_DIR"), runtime.pointee != 0 {
      return FilePath(platformString: runtime)
    }
    let folder = FilePath("/tmp/hinix-\(Sys.userID)")
    switch Sys.makeDirectory(folder, mode: 0o700) {
    case .success, .failure(.fileExists): break
    case .failure(let error): throw HinixError.system(error, "mkdir", subject: folder.printable)
    }
    guard case .success(let status) = Sys.status(folder, followingLinks: false), status.isDirectory,
      status.userID == Sys.userID
    else {
      throw HinixError(
        .permissionDenied, operation: "local socket name", subject: folder.printable,
        detail: "the fallback runtime folder is not a folder this user owns; set XDG_RUNTIME_DIR")
    }
    if status.permissions & 0o077 != 0 {
      // We own it: make it private again rather than trust it.
      _ = Sys.changeMode(folder, 0o700)
    }
    return folder
  }
}

/// Local sockets: the server side listens on a ``LocalSocketName``, clients connect to it.
///
/// ```swift
/// let server = try LocalSocket.listen(.namespaced("my-app"))
/// let client = try await LocalSocket.connect(.namespaced("my-app"), wait: .timeout(.seconds(2)))
/// ```
public enum LocalSocket {
  /// How a client waits for a server that is not there yet (or whose backlog is full).
  public enum ConnectWait: Sendable, Hashable {
    /// Fail at once with `.connectionRefused` or `.notFound`.
    case immediately
    /// Retry until the server appears, at most this long, then throw `.timedOut`.
    case timeout(Duration)
    /// Retry until the server appears.
    case forever
  }

  /// Starts a server at `name`; its ``SocketListener/address`` is the real address behind the
  /// name. Options as for ``SocketListener`` (mode, stale-name replacement, reclaiming the name
  /// on close).
  public static func listen(
    _ name: LocalSocketName, kind: Socket.Kind = .stream, options: SocketListener.Options = .init()
  ) throws(HinixError) -> SocketListener {
    try SocketListener(try name.resolve(), kind: kind, options: options)
  }

  /// Connects to the server at `name`, blocking the thread while it waits for it as `wait`
  /// says.
  @available(*, noasync, message: "blocks its thread; use `await connect(_:kind:wait:)` in async code")
  public static func blockingConnect(
    _ name: LocalSocketName, kind: Socket.Kind = .stream, wait: ConnectWait = .immediately
  ) throws(HinixError) -> Socket {
    let address = try name.resolve()
    let waiting: Waiting =
      switch wait {
      case .immediately: .never
      case .timeout(let duration): .until(.after(duration))
      case .forever: .forever
      }
    var interval = Duration.milliseconds(1)
    while true {
      do {
        return try Socket.blockingConnect(
          to: address, kind: kind, timeout: waiting.isNever ? .zero : waiting.remaining)
      } catch  where error.code == .connectionRefused || error.code == .notFound {
        guard waiting.pause(interval) else {
          if waiting.isNever { throw error }
          throw HinixError(
            .timedOut, operation: "connect", subject: address.description, errno: error.errno,
            detail: "no server appeared before the timeout (\(error.detail))")
        }
        interval = min(interval * 2, .milliseconds(50))
      }
    }
  }

  /// Connects to the server at `name`, suspending the task while it waits as `wait` says.
  public static func connect(
    _ name: LocalSocketName, kind: Socket.Kind = .stream, wait: ConnectWait = .immediately,
    reactor: Reactor = .shared
  ) async throws -> Socket {
    let address = try name.resolve()
    let deadline: ContinuousClock.Instant? =
      switch wait {
      case .immediately: .now
      case .timeout(let duration): .now + duration
      case .forever: nil
      }
    var interval = Duration.milliseconds(1)
    while true {
      do {
        return try await Socket.connect(to: address, kind: kind, reactor: reactor)
      } catch let error as HinixError where error.code == .connectionRefused || error.code == .notFound {
        if let deadline, ContinuousClock.now >= deadline {
          if case .immediately = wait { throw error }
          throw HinixError(
            .timedOut, operation: "connect", subject: address.description, errno: error.errno,
            detail: "no server appeared before the timeout (\(error.detail))")
        }
        try await Task.sleep(for: interval)
        interval = min(interval * 2, .milliseconds(50))
      }
    }
  }
}

extension Waiting {
  var isNever: Bool {
    if case .never = self { return true }
    return false
  }

  /// The time left for a timed form; nil (no limit) for the others.
  var remaining: Duration? {
    if case .until(let deadline) = self { return deadline.remaining }
    return nil
  }
}
