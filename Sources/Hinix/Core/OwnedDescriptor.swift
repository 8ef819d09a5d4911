import Glibc
import Synchronization
import SystemPackage

/// The unique owner of one open file descriptor: it closes the descriptor exactly once, when it is
/// consumed by ``close()`` or when it goes out of scope.
///
/// Because it is `~Copyable`, no two values can own the same descriptor, so Hinix has neither leaks
/// nor double closes. Types whose descriptor is naturally shared between tasks (a queue one task
/// sends on while another receives) hold an `OwnedDescriptor` inside a `Sendable` final class.
///
/// Any descriptor can be read and written through it directly, with every form of
/// ``ByteReader`` and ``ByteWriter``: a descriptor received from another process needs no
/// knowledge of which wrapper to adopt it with. It keeps no ``WaitHistory`` (none is made for
/// each descriptor a process receives), so its ``WaitStrategy/adaptive`` waits sleep at once;
/// the wrappers (``Socket``, ``PipeReader``, …) keep one each.
public struct OwnedDescriptor: ~Copyable, Sendable, ByteReader, ByteWriter {
  /// The descriptor, to pass to swift-system or to a system call. It stays owned by this value.
  public let descriptor: FileDescriptor

  private let spinNanoseconds = Atomic<Int64>(WaitStrategy.adaptiveMark)
  /// Set by ``release()`` and ``close()``, whose descriptor `deinit` must not close (again).
  private var released = false

  /// What reads and writes do while they cannot go on (``WaitStrategy/adaptive`` unless changed).
  /// An atomic setting: any task may change it at any time, and operations already waiting keep
  /// the strategy they started with. The `Sendable` classes that hold an `OwnedDescriptor`
  /// (queues, eventfds, pipe ends, sockets) keep their setting here.
  public var waitStrategy: WaitStrategy {
    get { WaitStrategy(spinNanoseconds: spinNanoseconds.load(ordering: .relaxed)) }
    nonmutating set { spinNanoseconds.store(newValue.spinNanoseconds, ordering: .relaxed) }
  }

  /// Takes ownership of `descriptor`; it will be closed when this value ends.
  public init(adopting descriptor: FileDescriptor) {
    self.descriptor = descriptor
  }

  deinit {
    if !released { _ = Sys.close(descriptor.rawValue) }
  }

  /// Gives up ownership without closing; the caller must close the returned descriptor.
  public consuming func release() -> FileDescriptor {
    released = true
    Sys.forgetNoWaitRefusal(descriptor.rawValue)
    return descriptor
  }

  /// Closes the descriptor now and reports a failure of `close` (which still releases it).
  ///
  /// The corresponding C function is `close`.
  public consuming func close() throws(HinixError) {
    released = true
    if case .failure(let error) = Sys.close(descriptor.rawValue) {
      throw HinixError.system(error, "close")
    }
  }
}

extension FileDescriptor {
  /// Whether this descriptor stays open across `execve` (the opposite of close-on-exec).
  ///
  /// Hinix opens every descriptor close-on-exec. Prefer ``ChildProcess/spawn(_:arguments:environment:passing:cpu:inheriting:)``,
  /// which hands a copy to the child without changing the parent's descriptor; set this only for a
  /// child started by other means. The corresponding C function is `fcntl` with `F_GETFD`/`F_SETFD`.
  public func isInheritable() throws(HinixError) -> Bool {
    switch Sys.fcntl(rawValue, F_GETFD) {
    case .success(let flags): return flags & FD_CLOEXEC == 0
    case .failure(let error): throw HinixError.system(error, "fcntl(F_GETFD)")
    }
  }

  /// Makes this descriptor stay open across `execve` (`true`) or close on it (`false`).
  ///
  /// The corresponding C function is `fcntl` with `F_SETFD`.
  public func setInheritable(_ inheritable: Bool) throws(HinixError) {
    let flags: Int32
    switch Sys.fcntl(rawValue, F_GETFD) {
    case .success(let value): flags = value
    case .failure(let error): throw HinixError.system(error, "fcntl(F_GETFD)")
    }
    let updated = inheritable ? flags & ~FD_CLOEXEC : flags | FD_CLOEXEC
    if case .failure(let error) = Sys.fcntl(rawValue, F_SETFD, updated) {
      throw HinixError.system(error, "fcntl(F_SETFD)")
    }
  }

  /// A close-on-exec duplicate numbered 3 or above (so never a standard stream); a failure
  /// names `subject`. The caller owns the copy.
  func duplicateCloseOnExec(subject: @autoclosure () -> String) throws(HinixError) -> FileDescriptor {
    switch Sys.fcntl(rawValue, F_DUPFD_CLOEXEC, 3) {
    case .success(let copy): return FileDescriptor(rawValue: copy)
    case .failure(let error): throw HinixError.system(error, "fcntl(F_DUPFD_CLOEXEC)", subject: subject())
    }
  }

  /// Whether the open file description is in non-blocking mode (`O_NONBLOCK`).
  func isNonBlocking() -> Result<Bool, Errno> {
    Sys.fcntl(rawValue, F_GETFL).map { $0 & O_NONBLOCK != 0 }
  }
}
