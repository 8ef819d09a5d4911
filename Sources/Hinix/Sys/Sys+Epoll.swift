import CHinix
import Glibc
import SystemPackage

/// epoll and eventfd, the reactor's kernel objects (see ``Sys``).
extension Sys {
  // MARK: eventfd

  /// An eventfd, close-on-exec.
  static func eventfd(_ initial: UInt32, semaphore: Bool = false, nonBlocking: Bool) -> Result<Int32, Errno> {
    var flags = HINIX_EFD_CLOEXEC
    if semaphore { flags |= HINIX_EFD_SEMAPHORE }
    if nonBlocking { flags |= HINIX_EFD_NONBLOCK }
    return result(hinix_eventfd(initial, flags))
  }

  // MARK: epoll

  static func epollCreate() -> Result<Int32, Errno> {
    result(hinix_epoll_create())
  }

  static func epollControl(
    _ epoll: Int32, _ operation: Int32, _ fd: Int32, _ events: UInt32, _ data: UInt64
  ) -> Result<Void, Errno> {
    result(hinix_epoll_ctl(epoll, operation, fd, events, data)).map { _ in () }
  }

  /// `epoll_wait`. An interruption by a signal (`EINTR`) returns 0 events rather than waiting
  /// again for the whole timeout: the caller's loop recomputes what is left of its deadline.
  static func epollWait(
    _ epoll: Int32, _ data: UnsafeMutablePointer<UInt64>, _ events: UnsafeMutablePointer<UInt32>,
    capacity: Int32, timeoutMilliseconds: Int32
  ) -> Result<Int32, Errno> {
    switch result(hinix_epoll_wait(epoll, data, events, capacity, timeoutMilliseconds)) {
    case .failure(.interrupted): .success(0)
    case let other: other
    }
  }

  // MARK: Constants

  static let epollIn = HINIX_EPOLLIN
  static let epollOut = HINIX_EPOLLOUT
  static let epollPriority = HINIX_EPOLLPRI
  static let epollReadHangUp = HINIX_EPOLLRDHUP
  static let epollError = HINIX_EPOLLERR
  static let epollHangUp = HINIX_EPOLLHUP
  static let epollOneShot = HINIX_EPOLLONESHOT
  static let epollAdd = HINIX_EPOLL_CTL_ADD
  static let epollModify = HINIX_EPOLL_CTL_MOD
  static let epollDelete = HINIX_EPOLL_CTL_DEL
}
