import CHinix
import Glibc
import SystemPackage

/// Descriptors of any kind: read, write, close, flags, poll (see ``Sys``).
extension Sys {
  // MARK: Descriptors

  package static func close(_ fd: Int32) -> Result<Void, Errno> {
    let value = hinix_close(fd)
    // EINTR from close still released the descriptor on Linux; retrying could close another's.
    if value == -EINTR { return .success(()) }
    return result(value).map { _ in () }
  }

  package static func read(
    _ fd: Int32, _ buffer: UnsafeMutableRawBufferPointer, retryOnInterrupt: Bool = true
  ) -> Result<Int, Errno> {
    retrying(retryOnInterrupt) { Int(hinix_read(fd, buffer.baseAddress, buffer.count)) }
  }

  /// `pread`: reads at `offset`, leaving the file position where it is.
  static func read(_ fd: Int32, _ buffer: UnsafeMutableRawBufferPointer, at offset: Int64) -> Result<
    Int, Errno
  > {
    retrying(true) { Int(hinix_pread(fd, buffer.baseAddress, buffer.count, offset)) }
  }

  package static func write(
    _ fd: Int32, _ buffer: UnsafeRawBufferPointer, retryOnInterrupt: Bool = true
  ) -> Result<Int, Errno> {
    retrying(retryOnInterrupt) { Int(hinix_write(fd, buffer.baseAddress, buffer.count)) }
  }

  /// Reads without blocking even from a blocking descriptor; falls back to poll-then-read where
  /// the kernel does not support `RWF_NOWAIT` for this kind of file.
  static func readNoWait(_ fd: Int32, _ buffer: UnsafeMutableRawBufferPointer) -> Result<Int, Errno> {
    noWait(fd, events: Int16(POLLIN), { Int(hinix_read_nowait(fd, buffer.baseAddress, buffer.count)) }) {
      read(fd, buffer)
    }
  }

  /// Writes without blocking even to a blocking descriptor; falls back to poll-then-write where
  /// the kernel does not support `RWF_NOWAIT` for this kind of file.
  static func writeNoWait(_ fd: Int32, _ buffer: UnsafeRawBufferPointer) -> Result<Int, Errno> {
    noWait(fd, events: Int16(POLLOUT), { Int(hinix_write_nowait(fd, buffer.baseAddress, buffer.count)) }) {
      write(fd, buffer)
    }
  }

  /// `call` (an `RWF_NOWAIT` transfer); where the kernel refuses the flag for this kind of file,
  /// a zero-timeout poll for `events` and then `fallback` (the plain call).
  private static func noWait(
    _ fd: Int32, events: Int16, _ call: () -> Int, fallback: () -> Result<Int, Errno>
  ) -> Result<Int, Errno> {
    switch retrying(true, call) {
    case .failure(.notSupported), .failure(.notSupportedOnSocket):
      switch poll(fd, events: events, timeoutMilliseconds: 0) {
      case .success(0): return .failure(.resourceTemporarilyUnavailable)
      case .success: return fallback()
      case .failure(let errno): return .failure(errno)
      }
    case let other:
      return other
    }
  }

  /// Whether `fd` polls `POLLHUP` now (its other side has gone).
  package static func isHungUp(_ fd: Int32) -> Bool {
    if case .success(let events) = poll(fd, events: Int16(POLLIN), timeoutMilliseconds: 0) {
      return events & Int16(POLLHUP) != 0
    }
    return false
  }

  /// Forgets that `fd`'s kind refused `RWF_NOWAIT` (the shim remembers it until the descriptor
  /// is closed or handed back), as an owner that releases a descriptor must.
  static func forgetNoWaitRefusal(_ fd: Int32) {
    hinix_nowait_forget(fd)
  }

  /// A close-on-exec pipe: (read end, write end).
  package static func pipe(nonBlocking: Bool = false) -> Result<(read: Int32, write: Int32), Errno> {
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

  /// Waits until some of `fds` (at most 256) are readable or hung up, or `timeout` passes
  /// (nil: no limit); returns the indices of those that are ([] when the time ran out).
  /// Retries `EINTR` with the time left.
  package static func pollReadable(_ fds: [Int32], timeout: Duration?) throws(HinixError) -> [Int] {
    let deadline = timeout.map { Deadline.Instant.after($0) }
    guard fds.count <= 256 else {
      throw HinixError(
        .limitExceeded, operation: "poll",
        detail: "\(fds.count) descriptors are more than the 256 one wait takes")
    }
    var revents = [Int16](repeating: 0, count: fds.count)
    while true {
      let milliseconds = deadline?.pollMilliseconds ?? -1
      let status = revents.withUnsafeMutableBufferPointer {
        hinix_poll_many(fds, Int16(POLLIN), $0.baseAddress, Int32(fds.count), milliseconds)
      }
      switch result(status) {
      case .success(0): return []
      case .success: return revents.indices.filter { revents[$0] != 0 }
      case .failure(.interrupted): continue
      case .failure(let error): throw HinixError.system(error, "poll")
      }
    }
  }

  /// `fcntl` commands for a pipe's capacity.
  static let getPipeSize = HINIX_F_GETPIPE_SZ
  static let setPipeSize = HINIX_F_SETPIPE_SZ
}
