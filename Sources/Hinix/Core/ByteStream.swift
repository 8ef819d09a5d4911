import Glibc
import SystemPackage

/// The read and write cores shared by every byte-stream descriptor (pipes, FIFOs, standard
/// streams; stream sockets later): one call per form that `Waiting` names.
enum ByteStream {
  /// Reads once: the count (0 at end of stream), or `nil` when the form gave up waiting.
  static func read(
    _ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, waiting: Waiting,
    subject: @autoclosure () -> String
  ) throws(HinixError) -> Int? {
    while true {
      let result: Result<Int, Errno>
      if case .forever = waiting {
        result = Sys.read(fd, buffer)
      } else {
        result = Sys.readNoWait(fd, buffer)
      }
      switch result {
      case .success(let count):
        return count
      case .failure(.resourceTemporarilyUnavailable):
        guard try waiting.poll(fd, for: Int16(POLLIN), operation: "read", subject: subject()) else {
          return nil
        }
      case .failure(let error):
        throw HinixError.system(error, "read", subject: subject())
      }
    }
  }

  /// Writes once: how many bytes the kernel took, or `nil` when the form gave up waiting.
  ///
  /// A reader that has gone is `.brokenPipe`; Hinix never lets SIGPIPE end the process
  /// (see ``Pipe``).
  static func write(
    _ fd: Int32, _ bytes: UnsafeRawBufferPointer, waiting: Waiting, subject: @autoclosure () -> String
  ) throws(HinixError) -> Int? {
    while true {
      let result: Result<Int, Errno>
      if case .forever = waiting {
        result = Sys.write(fd, bytes)
      } else {
        result = Sys.writeNoWait(fd, bytes)
      }
      switch result {
      case .success(let count):
        return count
      case .failure(.resourceTemporarilyUnavailable):
        guard try waiting.poll(fd, for: Int16(POLLOUT), operation: "write", subject: subject()) else {
          return nil
        }
      case .failure(.brokenPipe):
        throw HinixError(
          .brokenPipe, operation: "write", subject: subject(), errno: .brokenPipe,
          detail: "the reading end is closed")
      case .failure(let error):
        throw HinixError.system(error, "write", subject: subject())
      }
    }
  }

  /// Writes all of `bytes`, waiting as the form allows; returns how many were written (fewer
  /// than all only when a try or timed form gave up).
  static func writeAll(
    _ fd: Int32, _ bytes: UnsafeRawBufferPointer, waiting: Waiting, subject: @autoclosure () -> String
  ) throws(HinixError) -> Int {
    var written = 0
    while written < bytes.count {
      let rest = UnsafeRawBufferPointer(rebasing: bytes[written...])
      guard let count = try write(fd, rest, waiting: waiting, subject: subject()) else { break }
      written += count
    }
    return written
  }
}
