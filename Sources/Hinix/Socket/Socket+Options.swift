import Glibc
import SystemPackage

/// A socket option with a typed value, for ``Socket/get(_:)`` and ``Socket/set(_:_:)``.
///
/// ```swift
/// try socket.set(.noDelay, true)
/// try socket.set(.receiveTimeout, .milliseconds(250))
/// let size = try socket.get(.receiveBufferSize)
/// ```
public struct SocketOption<Value: Sendable>: Sendable {
  let level: Int32
  let name: Int32
  /// The option's C name, for error messages.
  let label: String
  let read: @Sendable (Int32, Int32, Int32) -> Result<Value, Errno>
  let write: @Sendable (Int32, Int32, Int32, Value) -> Result<Void, Errno>
}

extension SocketOption where Value == Bool {
  fileprivate init(_ level: Int32, _ name: Int32, _ label: String) {
    self.init(
      level: level, name: name, label: label,
      read: { fd, level, name in Sys.getOption(fd, level, name, as: Int32.self).map { $0 != 0 } },
      write: { fd, level, name, value in Sys.setOption(fd, level, name, Int32(value ? 1 : 0)) })
  }

  /// Allow binding an address still in TIME_WAIT (`SO_REUSEADDR`); set before binding.
  public static var reuseAddress: Self { .init(SOL_SOCKET, SO_REUSEADDR, "SO_REUSEADDR") }
  /// Let several sockets bind one address and port (`SO_REUSEPORT`); set before binding.
  public static var reusePort: Self { .init(SOL_SOCKET, SO_REUSEPORT, "SO_REUSEPORT") }
  /// Send TCP segments at once instead of coalescing small ones (`TCP_NODELAY`).
  public static var noDelay: Self { .init(Int32(IPPROTO_TCP), TCP_NODELAY, "TCP_NODELAY") }
  /// Probe an idle connection to detect a dead peer (`SO_KEEPALIVE`).
  public static var keepAlive: Self { .init(SOL_SOCKET, SO_KEEPALIVE, "SO_KEEPALIVE") }
  /// Attach the sender's credentials to every message received (`SO_PASSCRED`, Unix only).
  public static var passCredentials: Self { .init(SOL_SOCKET, Sys.passCredentialsOption, "SO_PASSCRED") }
  /// Allow sending to broadcast addresses (`SO_BROADCAST`, UDP).
  public static var broadcast: Self { .init(SOL_SOCKET, SO_BROADCAST, "SO_BROADCAST") }
  /// Accept only IPv6 on an IPv6 socket, not IPv4-mapped addresses (`IPV6_V6ONLY`).
  public static var ipv6Only: Self { .init(Int32(IPPROTO_IPV6), IPV6_V6ONLY, "IPV6_V6ONLY") }
}

extension SocketOption where Value == Int {
  fileprivate init(_ level: Int32, _ name: Int32, _ label: String) {
    self.init(
      level: level, name: name, label: label,
      read: { fd, level, name in Sys.getOption(fd, level, name, as: Int32.self).map { Int($0) } },
      write: { fd, level, name, value in Sys.setOption(fd, level, name, Int32(clamping: value)) })
  }

  /// The receive buffer size in bytes (`SO_RCVBUF`; the kernel doubles what is set and caps it
  /// at /proc/sys/net/core/rmem_max).
  public static var receiveBufferSize: Self { .init(SOL_SOCKET, SO_RCVBUF, "SO_RCVBUF") }
  /// The send buffer size in bytes (`SO_SNDBUF`; doubled, capped at /proc/sys/net/core/wmem_max).
  public static var sendBufferSize: Self { .init(SOL_SOCKET, SO_SNDBUF, "SO_SNDBUF") }
  /// The pending error of the socket, cleared by reading it (`SO_ERROR`, read only).
  public static var pendingError: Self { .init(SOL_SOCKET, SO_ERROR, "SO_ERROR") }
}

extension SocketOption where Value == Duration? {
  private init(timeval level: Int32, _ name: Int32, _ label: String) {
    self.init(
      level: level, name: name, label: label,
      read: { fd, level, name in
        Sys.getOption(fd, level, name, as: timeval.self).map { value in
          value.tv_sec == 0 && value.tv_usec == 0
            ? nil : .seconds(value.tv_sec) + .microseconds(value.tv_usec)
        }
      },
      write: { fd, level, name, value in
        var time = timeval()
        if let value {
          let microseconds = max(Deadline.nanoseconds(of: value) / 1000, 1)
          time.tv_sec = Int(microseconds / 1_000_000)
          time.tv_usec = Int(microseconds % 1_000_000)
        }
        return Sys.setOption(fd, level, name, time)
      })
  }

  /// How long a blocking receive waits before it throws `.timedOut` (`SO_RCVTIMEO`); nil waits
  /// forever. The timed forms of each call are independent of it.
  public static var receiveTimeout: Self { .init(timeval: SOL_SOCKET, SO_RCVTIMEO, "SO_RCVTIMEO") }
  /// How long a blocking send waits for room before it throws `.timedOut` (`SO_SNDTIMEO`).
  public static var sendTimeout: Self { .init(timeval: SOL_SOCKET, SO_SNDTIMEO, "SO_SNDTIMEO") }

  /// How long `close` waits to deliver unsent data (`SO_LINGER`); nil turns lingering off. A
  /// zero duration resets the connection on close.
  public static var linger: Self {
    .init(
      level: SOL_SOCKET, name: SO_LINGER, label: "SO_LINGER",
      read: { fd, level, name in
        Sys.getOption(fd, level, name, as: Glibc.linger.self).map { value in
          value.l_onoff == 0 ? nil : .seconds(value.l_linger)
        }
      },
      write: { fd, level, name, value in
        var setting = Glibc.linger()
        if let value {
          setting.l_onoff = 1
          setting.l_linger = Int32(clamping: Deadline.nanoseconds(of: value) / 1_000_000_000)
        }
        return Sys.setOption(fd, level, name, setting)
      })
  }
}

extension Socket {
  /// Reads a socket option. The corresponding C function is `getsockopt`.
  public func get<Value>(_ option: SocketOption<Value>) throws(HinixError) -> Value {
    switch option.read(fd, option.level, option.name) {
    case .success(let value): return value
    case .failure(let error): throw HinixError.system(error, "getsockopt(\(option.label))", subject: subject)
    }
  }

  /// Sets a socket option. The corresponding C function is `setsockopt`.
  public func set<Value>(_ option: SocketOption<Value>, _ value: Value) throws(HinixError) {
    if case .failure(let error) = option.write(fd, option.level, option.name, value) {
      throw HinixError.system(error, "setsockopt(\(option.label))", subject: subject)
    }
  }
}
