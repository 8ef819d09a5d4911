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

  /// `clock`'s reading in nanoseconds (`clock_gettime`).
  static func clockNow(_ clock: Int32) -> Result<Int64, Errno> {
    let value = hinix_clock_now(clock)
    return value < 0 ? .failure(Errno(rawValue: Int32(-value))) : .success(value)
  }

  /// Sets the realtime clock (`clock_settime`), for tests of clock changes.
  package static func setRealtimeClock(nanoseconds: Int64) -> Result<Void, Errno> {
    result(hinix_clock_set_realtime(nanoseconds)).map { _ in () }
  }

  /// A timerfd on `clock`, close-on-exec; blocking where the kernel supports `RWF_NOWAIT`
  /// reads of it, non-blocking where it does not.
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

/// inotify (see ``Sys``).
extension Sys {
  static var inAccess: UInt32 { UInt32(IN_ACCESS) }
  static var inModify: UInt32 { UInt32(IN_MODIFY) }
  static var inAttrib: UInt32 { UInt32(IN_ATTRIB) }
  static var inCloseWrite: UInt32 { UInt32(IN_CLOSE_WRITE) }
  static var inCloseNoWrite: UInt32 { UInt32(IN_CLOSE_NOWRITE) }
  static var inOpen: UInt32 { UInt32(IN_OPEN) }
  static var inMovedFrom: UInt32 { UInt32(IN_MOVED_FROM) }
  static var inMovedTo: UInt32 { UInt32(IN_MOVED_TO) }
  static var inCreate: UInt32 { UInt32(IN_CREATE) }
  static var inDelete: UInt32 { UInt32(IN_DELETE) }
  static var inDeleteSelf: UInt32 { UInt32(IN_DELETE_SELF) }
  static var inMoveSelf: UInt32 { UInt32(IN_MOVE_SELF) }
  static var inUnmount: UInt32 { UInt32(IN_UNMOUNT) }
  static var inOverflow: UInt32 { UInt32(IN_Q_OVERFLOW) }
  static var inIgnored: UInt32 { UInt32(IN_IGNORED) }
  static var inOnlyDirectory: UInt32 { UInt32(IN_ONLYDIR) }
  static var inDontFollow: UInt32 { UInt32(IN_DONT_FOLLOW) }
  static var inExcludeUnlinked: UInt32 { UInt32(IN_EXCL_UNLINK) }
  static var inIsDirectory: UInt32 { UInt32(IN_ISDIR) }
  static var inOneShot: UInt32 { UInt32(IN_ONESHOT) }
  static var inMaskAdd: UInt32 { UInt32(IN_MASK_ADD) }

  /// An inotify instance, close-on-exec and non-blocking.
  static func inotify() -> Result<Int32, Errno> {
    result(hinix_inotify_init())
  }

  /// `inotify_add_watch`: the watch descriptor.
  static func addWatch(_ fd: Int32, _ path: FilePath, mask: UInt32) -> Result<Int32, Errno> {
    path.withPlatformString { result(hinix_inotify_add_watch(fd, $0, mask)) }
  }

  /// `inotify_add_watch` of the open file `file`, through `/proc/self/fd`.
  static func addWatch(_ fd: Int32, open file: Int32, mask: UInt32) -> Result<Int32, Errno> {
    result(hinix_inotify_add_watch_open(fd, file, mask))
  }

  /// `inotify_rm_watch`.
  static func removeWatch(_ fd: Int32, _ wd: Int32) -> Result<Void, Errno> {
    result(hinix_inotify_rm_watch(fd, wd)).map { _ in () }
  }
}

/// fanotify (see ``Sys``).
extension Sys {
  static let fanAccess = HINIX_FAN_ACCESS
  static let fanModify = HINIX_FAN_MODIFY
  static let fanAttrib = HINIX_FAN_ATTRIB
  static let fanCloseWrite = HINIX_FAN_CLOSE_WRITE
  static let fanCloseNoWrite = HINIX_FAN_CLOSE_NOWRITE
  static let fanOpen = HINIX_FAN_OPEN
  static let fanOpenExec = HINIX_FAN_OPEN_EXEC
  static let fanMovedFrom = HINIX_FAN_MOVED_FROM
  static let fanMovedTo = HINIX_FAN_MOVED_TO
  static let fanCreate = HINIX_FAN_CREATE
  static let fanDelete = HINIX_FAN_DELETE
  static let fanDeleteSelf = HINIX_FAN_DELETE_SELF
  static let fanMoveSelf = HINIX_FAN_MOVE_SELF
  static let fanOverflow = HINIX_FAN_Q_OVERFLOW
  static let fanOpenPermission = HINIX_FAN_OPEN_PERM
  static let fanAccessPermission = HINIX_FAN_ACCESS_PERM
  static let fanOpenExecPermission = HINIX_FAN_OPEN_EXEC_PERM
  static let fanEventOnChild = HINIX_FAN_EVENT_ON_CHILD
  static let fanOnDirectory = HINIX_FAN_ONDIR
  static let fanClassNotification = HINIX_FAN_CLASS_NOTIF
  static let fanClassContent = HINIX_FAN_CLASS_CONTENT
  static let fanClassPreContent = HINIX_FAN_CLASS_PRE_CONTENT
  static let fanReportFileID = HINIX_FAN_REPORT_FID
  static let fanReportDirectoryIDAndName = HINIX_FAN_REPORT_DFID_NAME
  static let fanMarkInode = HINIX_FAN_MARK_INODE
  static let fanMarkMount = HINIX_FAN_MARK_MOUNT
  static let fanMarkFilesystem = HINIX_FAN_MARK_FILESYSTEM
  static let fanMarkDontFollow = HINIX_FAN_MARK_DONT_FOLLOW
  static let fanMarkOnlyDirectory = HINIX_FAN_MARK_ONLYDIR
  static let fanAllow = HINIX_FAN_ALLOW
  static let fanDeny = HINIX_FAN_DENY

  /// A fanotify group (close-on-exec, non-blocking).
  static func fanotify(flags: UInt32) -> Result<Int32, Errno> {
    result(hinix_fanotify_init(flags))
  }

  /// `fanotify_mark`, adding or removing `mask`.
  static func fanotifyMark(_ fd: Int32, add: Bool, flags: UInt32, mask: UInt64, path: FilePath) -> Result<
    Void, Errno
  > {
    path.withPlatformString { result(hinix_fanotify_mark(fd, add ? 1 : 0, flags, mask, $0)) }.map { _ in () }
  }

  /// Writes the answer to a permission event.
  static func fanotifyRespond(_ fd: Int32, eventFile: Int32, allow: Bool) -> Result<Void, Errno> {
    result(hinix_fanotify_respond(fd, eventFile, allow ? fanAllow : fanDeny)).map { _ in () }
  }
}

extension Sys {
  /// Enters a new user namespace (`unshare(CLONE_NEWUSER)`; the process must be single-threaded),
  /// where per-user limits such as inotify's are the namespace's own.
  package static func enterNewUserNamespace() -> Result<Void, Errno> {
    result(hinix_unshare_user_namespace()).map { _ in () }
  }
}
