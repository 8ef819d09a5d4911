import Glibc
import SystemPackage

/// How long a synchronous operation may wait for its descriptor.
@usableFromInline
enum Waiting {
  /// Try once, never block.
  case never
  /// Block until the operation completes.
  case forever
  /// Block at most until the deadline.
  case until(Deadline.Instant)

  /// Whether the form may wait at all (every form but a try form).
  var mayWait: Bool {
    if case .never = self { return false }
    return true
  }

  /// Waits in `poll` for `events` on a non-blocking descriptor; `false` when the wait ran out.
  func poll(
    _ fd: Int32, for events: Int16, operation: String, subject: @autoclosure () -> String
  ) throws(HinixError) -> Bool {
    while true {
      let timeout: Int32
      switch self {
      case .never: return false
      case .forever: timeout = -1
      case .until(let deadline): timeout = deadline.pollMilliseconds
      }
      switch Sys.poll(fd, events: events, timeoutMilliseconds: timeout) {
      case .success(let revents):
        if revents & Int16(POLLNVAL) != 0 {
          throw HinixError(
            .invalidArgument, operation: operation, subject: subject(), errno: .badFileDescriptor,
            detail: "the descriptor is not open")
        }
        return revents != 0
      case .failure(.interrupted):
        continue
      case .failure(let error):
        throw HinixError.system(error, "poll", subject: subject())
      }
    }
  }
}
