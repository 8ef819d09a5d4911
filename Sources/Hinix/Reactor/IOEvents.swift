/// Readiness of a descriptor, as the reactor waits for it and reports it (epoll event bits).
public struct IOEvents: OptionSet, Sendable, Hashable {
  /// The epoll event mask.
  public let rawValue: UInt32

  /// Creates a set from an epoll event mask.
  public init(rawValue: UInt32) {
    self.rawValue = rawValue
  }

  /// Data can be read, a message received, a counter read (`EPOLLIN`).
  public static let readable = IOEvents(rawValue: Sys.epollIn)
  /// Data can be written, a message sent, a counter added to (`EPOLLOUT`).
  public static let writable = IOEvents(rawValue: Sys.epollOut)
  /// Urgent or exceptional data is available (`EPOLLPRI`).
  public static let priority = IOEvents(rawValue: Sys.epollPriority)
  /// The peer closed its writing side of a stream socket (`EPOLLRDHUP`).
  public static let readHangUp = IOEvents(rawValue: Sys.epollReadHangUp)
  /// An error condition; always reported, never needs asking for (`EPOLLERR`).
  public static let error = IOEvents(rawValue: Sys.epollError)
  /// A hang-up; always reported, never needs asking for (`EPOLLHUP`).
  public static let hangUp = IOEvents(rawValue: Sys.epollHangUp)
}
