import CHinix
import SystemPackage

/// Clocks, timerfd and the public poller's epoll flags (see ``Sys``).
extension Sys {
  static let clockRealtime = HINIX_CLOCK_REALTIME
  static let clockMonotonic = HINIX_CLOCK_MONOTONIC
  static let clockBoottime = HINIX_CLOCK_BOOTTIME
  static let clockRealtimeAlarm = HINIX_CLOCK_REALTIME_ALARM
  static let clockBoottimeAlarm = HINIX_CLOCK_BOOTTIME_ALARM

  static let epollEdgeTriggered = HINIX_EPOLLET
  static let epollExclusive = HINIX_EPOLLEXCLUSIVE
  static let epollWakeUp = HINIX_EPOLLWAKEUP

  /// `clock`'s reading in nanoseconds (`clock_gettime`).
  static func clockNow(_ clock: Int32) -> Result<Int64, Errno> {
    let value = hinix_clock_now(clock)
    return value < 0 ? .failure(Errno(rawValue: Int32(-value))) : .success(value)
  }

  /// Sets the realtime clock (`clock_settime`), for tests of clock changes.
  package static func setRealtimeClock(nanoseconds: Int64) -> Result<Void, Errno> {
    result(hinix_clock_set_realtime(nanoseconds)).map { _ in () }
  }

  /// A timerfd on `clock`, close-on-exec and non-blocking.
  static func timerFD(clock: Int32) -> Result<Int32, Errno> {
    result(hinix_timerfd_create(clock))
  }

  /// `timerfd_settime` with times in nanoseconds; a value of 0 disarms.
  static func setTimer(
    _ fd: Int32, value: Int64, interval: Int64, absolute: Bool, cancelOnClockChange: Bool
  ) -> Result<Void, Errno> {
    result(hinix_timerfd_settime(fd, value, interval, absolute ? 1 : 0, cancelOnClockChange ? 1 : 0)).map {
      _ in ()
    }
  }

  /// `timerfd_gettime`: the time left (0 when disarmed) and the interval, in nanoseconds.
  static func timerSetting(_ fd: Int32) -> Result<(value: Int64, interval: Int64), Errno> {
    var value: Int64 = 0
    var interval: Int64 = 0
    return result(hinix_timerfd_gettime(fd, &value, &interval)).map { _ in (value, interval) }
  }
}

extension Sys {
  /// The size of one `struct epoll_event` and the offset of its data.
  static let epollEventSize = Int(HINIX_EPOLL_EVENT_SIZE)
  static let epollDataOffset = Int(HINIX_EPOLL_DATA_OFFSET)

  /// `epoll_wait` into a buffer of `capacity` raw events. An interruption by a signal returns
  /// 0 events, as ``epollWait(_:_:_:capacity:timeoutMilliseconds:)`` does.
  static func epollWait(
    _ epoll: Int32, into events: UnsafeMutableRawPointer, capacity: Int32, timeoutMilliseconds: Int32
  ) -> Result<Int32, Errno> {
    switch result(hinix_epoll_wait_raw(epoll, events, capacity, timeoutMilliseconds)) {
    case .failure(.interrupted): .success(0)
    case let other: other
    }
  }
}
