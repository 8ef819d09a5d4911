import Glibc
import SystemPackage

/// Starts a POSIX thread that runs `body` (which it keeps alive until it returns).
///
/// Hinix needs a thread of its own only where a cooperative-pool thread must never block: the
/// reactor's `epoll_wait` loop. The corresponding C function is `pthread_create`.
func startThread(_ body: @escaping @Sendable () -> Void) -> Result<pthread_t, Errno> {
  let context = Unmanaged.passRetained(ThreadBody(body)).toOpaque()
  var thread = pthread_t()
  let status = pthread_create(
    &thread, nil,
    { context in
      Unmanaged<ThreadBody>.fromOpaque(context!).takeRetainedValue().body()
      return nil
    }, context)
  guard status == 0 else {
    Unmanaged<ThreadBody>.fromOpaque(context).release()
    return .failure(Errno(rawValue: status))
  }
  return .success(thread)
}

private final class ThreadBody: Sendable {
  let body: @Sendable () -> Void

  init(_ body: @escaping @Sendable () -> Void) {
    self.body = body
  }
}
