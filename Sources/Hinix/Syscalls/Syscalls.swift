import CHinix
import Glibc
import SystemPackage

/// The one syscall layer: every kernel call Hinix makes goes through a function here.
///
/// Each returns `Result<_, Errno>`. The C shim returns the negated errno itself, so nothing between
/// the call and the check can clobber it. Calls that may block take `retryOnInterrupt` and loop on
/// EINTR; `close` never does (Linux releases the descriptor even when close reports EINTR).
enum Sys {
  @inline(__always)
  static func result(_ value: Int32) -> Result<Int32, Errno> {
    value < 0 ? .failure(Errno(rawValue: -value)) : .success(value)
  }

  @inline(__always)
  static func result(_ value: Int) -> Result<Int, Errno> {
    value < 0 ? .failure(Errno(rawValue: Int32(-value))) : .success(value)
  }

  @inline(__always)
  static func retrying(_ retry: Bool, _ call: () -> Int32) -> Result<Int32, Errno> {
    while true {
      let value = call()
      if value == -EINTR && retry { continue }
      return result(value)
    }
  }

  @inline(__always)
  static func retrying(_ retry: Bool, _ call: () -> Int) -> Result<Int, Errno> {
    while true {
      let value = call()
      if value == -Int(EINTR) && retry { continue }
      return result(value)
    }
  }

  // MARK: Descriptors

  static func close(_ fd: Int32) -> Result<Void, Errno> {
    let value = hinix_close(fd)
    // EINTR from close still released the descriptor on Linux; retrying could close another's.
    if value == -EINTR { return .success(()) }
    return result(value).map { _ in () }
  }

  static func read(
    _ fd: Int32, _ buffer: UnsafeMutableRawBufferPointer, retryOnInterrupt: Bool = true
  ) -> Result<Int, Errno> {
    retrying(retryOnInterrupt) { Int(hinix_read(fd, buffer.baseAddress, buffer.count)) }
  }

  static func write(
    _ fd: Int32, _ buffer: UnsafeRawBufferPointer, retryOnInterrupt: Bool = true
  ) -> Result<Int, Errno> {
    retrying(retryOnInterrupt) { Int(hinix_write(fd, buffer.baseAddress, buffer.count)) }
  }

  /// Reads without blocking even from a blocking descriptor; falls back to poll-then-read where
  /// the kernel does not support `RWF_NOWAIT` for this kind of file.
  static func readNoWait(_ fd: Int32, _ buffer: UnsafeMutableRawBufferPointer) -> Result<Int, Errno> {
    switch retrying(true, { Int(hinix_read_nowait(fd, buffer.baseAddress, buffer.count)) }) {
    case .failure(.notSupported), .failure(.notSupportedOnSocket):
      switch poll(fd, events: Int16(POLLIN), timeoutMilliseconds: 0) {
      case .success(0): return .failure(.resourceTemporarilyUnavailable)
      case .success: return read(fd, buffer)
      case .failure(let errno): return .failure(errno)
      }
    case let other:
      return other
    }
  }

  /// Writes without blocking even to a blocking descriptor; falls back to poll-then-write where
  /// the kernel does not support `RWF_NOWAIT` for this kind of file.
  static func writeNoWait(_ fd: Int32, _ buffer: UnsafeRawBufferPointer) -> Result<Int, Errno> {
    switch retrying(true, { Int(hinix_write_nowait(fd, buffer.baseAddress, buffer.count)) }) {
    case .failure(.notSupported), .failure(.notSupportedOnSocket):
      switch poll(fd, events: Int16(POLLOUT), timeoutMilliseconds: 0) {
      case .success(0): return .failure(.resourceTemporarilyUnavailable)
      case .success: return write(fd, buffer)
      case .failure(let errno): return .failure(errno)
      }
    case let other:
      return other
    }
  }

  /// A close-on-exec pipe: (read end, write end).
  static func pipe(nonBlocking: Bool = false) -> Result<(read: Int32, write: Int32), Errno> {
    var fds: (Int32, Int32) = (-1, -1)
    return withUnsafeMutableBytes(of: &fds) { raw in
      result(hinix_pipe(raw.baseAddress!.assumingMemoryBound(to: Int32.self), nonBlocking ? 1 : 0))
    }.map { _ in (fds.0, fds.1) }
  }

  static func fcntl(_ fd: Int32, _ command: Int32, _ argument: Int32 = 0) -> Result<Int32, Errno> {
    retrying(true) { hinix_fcntl(fd, command, argument) }
  }

  /// Waits for `events` on one descriptor; returns the revents, or 0 on timeout.
  static func poll(_ fd: Int32, events: Int16, timeoutMilliseconds: Int32) -> Result<Int16, Errno> {
    var revents: Int16 = 0
    return result(hinix_poll_one(fd, events, timeoutMilliseconds, &revents)).map { _ in revents }
  }

  // MARK: Message queues

  static func mqOpen(
    _ name: UnsafePointer<CChar>, _ flags: Int32, _ mode: mode_t, _ attributes: hinix_mq_attr?
  ) -> Result<Int32, Errno> {
    retrying(true) {
      if var attributes {
        return hinix_mq_open(name, flags, mode, &attributes)
      }
      return hinix_mq_open(name, flags, mode, nil)
    }
  }

  static func mqUnlink(_ name: UnsafePointer<CChar>) -> Result<Void, Errno> {
    result(hinix_mq_unlink(name)).map { _ in () }
  }

  static func mqSend(
    _ fd: Int32, _ bytes: UnsafeRawBufferPointer, _ priority: UInt32,
    deadline: UnsafePointer<timespec>?, retryOnInterrupt: Bool = true
  ) -> Result<Void, Errno> {
    retrying(retryOnInterrupt) {
      if let deadline {
        return hinix_mq_timedsend(fd, bytes.baseAddress, bytes.count, priority, deadline)
      }
      return hinix_mq_send(fd, bytes.baseAddress, bytes.count, priority)
    }.map { _ in () }
  }

  static func mqReceive(
    _ fd: Int32, _ buffer: UnsafeMutableRawBufferPointer, _ priority: inout UInt32,
    deadline: UnsafePointer<timespec>?, retryOnInterrupt: Bool = true
  ) -> Result<Int, Errno> {
    retrying(retryOnInterrupt) {
      if let deadline {
        return hinix_mq_timedreceive(fd, buffer.baseAddress, buffer.count, &priority, deadline)
      }
      return hinix_mq_receive(fd, buffer.baseAddress, buffer.count, &priority)
    }
  }

  static func mqGetAttributes(_ fd: Int32) -> Result<hinix_mq_attr, Errno> {
    var attributes = hinix_mq_attr()
    return result(hinix_mq_getattr(fd, &attributes)).map { _ in attributes }
  }

  static func mqSetFlags(_ fd: Int32, _ flags: Int) -> Result<Void, Errno> {
    result(hinix_mq_setattr(fd, flags, nil)).map { _ in () }
  }

  // MARK: eventfd

  static func eventfd(_ initial: UInt32, _ flags: Int32) -> Result<Int32, Errno> {
    result(hinix_eventfd(initial, flags))
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

  static func epollWait(
    _ epoll: Int32, _ data: UnsafeMutablePointer<UInt64>, _ events: UnsafeMutablePointer<UInt32>,
    capacity: Int32, timeoutMilliseconds: Int32
  ) -> Result<Int32, Errno> {
    retrying(true) { hinix_epoll_wait(epoll, data, events, capacity, timeoutMilliseconds) }
  }

  // MARK: Zero-copy transfers

  static func splice(
    _ input: Int32, _ inputOffset: UnsafeMutablePointer<Int64>?, _ output: Int32,
    _ outputOffset: UnsafeMutablePointer<Int64>?, _ count: Int, _ flags: UInt32
  ) -> Result<Int, Errno> {
    retrying(true) { hinix_splice(input, inputOffset, output, outputOffset, count, flags) }
  }

  static func tee(_ input: Int32, _ output: Int32, _ count: Int, _ flags: UInt32) -> Result<Int, Errno> {
    retrying(true) { hinix_tee(input, output, count, flags) }
  }

  static func vmsplice(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, _ flags: UInt32) -> Result<Int, Errno> {
    retrying(true) { hinix_vmsplice(fd, bytes.baseAddress, bytes.count, flags) }
  }

  static func sendfile(
    _ output: Int32, _ input: Int32, _ offset: UnsafeMutablePointer<Int64>?, _ count: Int
  ) -> Result<Int, Errno> {
    retrying(true) { hinix_sendfile(output, input, offset, count) }
  }

  // MARK: Memory files

  static func memfdCreate(_ name: String, _ flags: UInt32) -> Result<Int32, Errno> {
    result(hinix_memfd_create(name, flags))
  }

  // MARK: Processes

  static func spawn(
    _ path: UnsafePointer<CChar>, _ argv: UnsafePointer<UnsafeMutablePointer<CChar>?>,
    _ envp: UnsafePointer<UnsafeMutablePointer<CChar>?>, sources: [Int32], targets: [Int32],
    cpu: Int32
  ) -> Result<pid_t, Errno> {
    result(hinix_spawn(path, argv, envp, sources, targets, Int32(sources.count), cpu))
  }

  static func pin(_ pid: pid_t, toCPU cpu: Int32) -> Result<Void, Errno> {
    result(hinix_pin_to_cpu(pid, cpu)).map { _ in () }
  }
}
