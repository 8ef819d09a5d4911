import Glibc
import SystemPackage

/// Unnamed pipes: a one-way byte stream between a writer and a reader, usually in two processes.
///
/// ```swift
/// let (reader, writer) = try Pipe.create()
/// let child = try ChildProcess.spawn("/usr/bin/tr", arguments: ["a-z", "A-Z"], passing: [reader.descriptor: 0])
/// ```
///
/// Both ends are close-on-exec; ``ChildProcess/spawn(_:arguments:environment:passing:cpu:inheriting:)`` is the
/// explicit way to hand one to a child. Close the parent's copy of the end the child uses (let it
/// go out of scope), or the other side never sees end-of-file.
///
/// **SIGPIPE policy.** A write to a pipe whose reader is gone raises SIGPIPE, which by default
/// kills the process. Pipes have no per-call `MSG_NOSIGNAL`, so when Hinix first creates or adopts
/// a pipe writer it sets SIGPIPE to ignored, unless the process installed a handler of its own
/// (then the handler runs and nothing dies). Such a write then throws `.brokenPipe`.
public enum Pipe {
  /// Creates a pipe, both ends close-on-exec, optionally non-blocking (`O_NONBLOCK`).
  ///
  /// The corresponding C function is `pipe2`.
  public static func create(
    nonBlocking: Bool = false
  ) throws(HinixError) -> (reader: PipeReader, writer: PipeWriter) {
    switch Sys.pipe(nonBlocking: nonBlocking) {
    case .success(let ends):
      return (
        PipeReader(adopting: FileDescriptor(rawValue: ends.read)),
        PipeWriter(adopting: FileDescriptor(rawValue: ends.write))
      )
    case .failure(let error):
      throw HinixError.system(error, "pipe2")
    }
  }

  /// The largest capacity an unprivileged process may set (`/proc/sys/fs/pipe-max-size`).
  public static func maximumCapacity() throws(HinixError) -> Int {
    let path = "/proc/sys/fs/pipe-max-size"
    guard let value = Int(try readProcFile(FilePath(path)).trimmingWhitespace()) else {
      throw HinixError(.system, operation: "read", subject: path, detail: "expected a number")
    }
    return value
  }

  /// Ignores SIGPIPE once per process unless the application handles it (see ``Pipe``).
  static let sigpipePolicy: Void = { _ = Sys.ignoreBrokenPipeUnlessHandled() }()
}

/// A pipe's or FIFO's end: ``PipeReader`` or ``PipeWriter``, which share the pipe's capacity.
public protocol PipeEnd {
  /// The end's descriptor, owned by the conforming value.
  var descriptor: FileDescriptor { get }
}

extension PipeEnd {
  private var subject: String { "pipe \(descriptor.rawValue)" }

  /// The pipe's capacity in bytes. The corresponding C function is `fcntl` with `F_GETPIPE_SZ`.
  public func capacity() throws(HinixError) -> Int {
    switch Sys.fcntl(descriptor.rawValue, Sys.getPipeSize) {
    case .success(let size): return Int(size)
    case .failure(let error): throw HinixError.system(error, "fcntl(F_GETPIPE_SZ)", subject: subject)
    }
  }

  /// Sets the pipe's capacity (rounded up by the kernel to a power-of-two number of pages) and
  /// returns the capacity set. The corresponding C function is `fcntl` with `F_SETPIPE_SZ`.
  public func setCapacity(_ bytes: Int) throws(HinixError) -> Int {
    guard bytes > 0, let requested = Int32(exactly: bytes) else {
      throw HinixError(
        .invalidArgument, operation: "fcntl(F_SETPIPE_SZ)", subject: subject,
        detail: "capacity \(bytes) bytes is not a positive 32-bit size")
    }
    switch Sys.fcntl(descriptor.rawValue, Sys.setPipeSize, requested) {
    case .success(let size):
      return Int(size)
    case .failure(let error):
      throw HinixError.system(error, "fcntl(F_SETPIPE_SZ)", subject: subject) { error in
        switch error {
        case .notPermitted:
          (
            .limitExceeded,
            "capacity \(bytes) bytes is above the system maximum \(Pipe.maximumCapacityText) (/proc/sys/fs/pipe-max-size)"
          )
        case .resourceBusy:
          (.invalidArgument, "capacity \(bytes) bytes is smaller than the data in the pipe now")
        default: nil
        }
      }
    }
  }
}

/// The reading end of a pipe or FIFO (or standard input): a `Sendable` owner of its descriptor,
/// with every form of ``ByteReader`` (blocking, try, timed and async reads).
public final class PipeReader: PipeEnd, ByteReader, Sendable {
  private let handle: OwnedDescriptor

  /// Takes ownership of a pipe's reading end.
  public init(adopting descriptor: FileDescriptor) {
    handle = OwnedDescriptor(adopting: descriptor)
  }

  /// The end's descriptor, still owned by this value.
  public var descriptor: FileDescriptor { handle.descriptor }

  /// This object's history of waits, which ``WaitStrategy/adaptive`` spins by.
  public let waitHistory = WaitHistory()

  /// What reads do while the pipe is empty (``WaitStrategy/adaptive`` unless changed); any task
  /// may change it at any time.
  public var waitStrategy: WaitStrategy {
    get { handle.waitStrategy }
    set { handle.waitStrategy = newValue }
  }

  /// A close-on-exec duplicate of standard input, usable with every form here (closing it leaves
  /// descriptor 0 open). The corresponding C function is `fcntl` with `F_DUPFD_CLOEXEC`.
  public static func standardInput() throws(HinixError) -> PipeReader {
    PipeReader(adopting: try FileDescriptor(rawValue: 0).duplicateCloseOnExec(subject: "standard input"))
  }
}

/// The writing end of a pipe or FIFO (or standard output or error): a `Sendable` owner of its
/// descriptor, with every form of ``ByteWriter``. A write whose reader is gone throws
/// `.brokenPipe`; it never kills the process.
public final class PipeWriter: PipeEnd, ByteWriter, Sendable {
  private let handle: OwnedDescriptor

  /// The end's descriptor, still owned by this value.
  public var descriptor: FileDescriptor { handle.descriptor }

  /// Takes ownership of a pipe's writing end (and applies Hinix's SIGPIPE policy, see ``Pipe``).
  public init(adopting descriptor: FileDescriptor) {
    Pipe.sigpipePolicy
    handle = OwnedDescriptor(adopting: descriptor)
  }

  /// This object's history of waits, which ``WaitStrategy/adaptive`` spins by.
  public let waitHistory = WaitHistory()

  /// What writes do while the pipe is full (``WaitStrategy/adaptive`` unless changed); any task
  /// may change it at any time.
  public var waitStrategy: WaitStrategy {
    get { handle.waitStrategy }
    set { handle.waitStrategy = newValue }
  }

  /// A close-on-exec duplicate of standard output (descriptor 1) or standard error (2).
  public static func standardOutput(_ stream: Int32 = 1) throws(HinixError) -> PipeWriter {
    PipeWriter(
      adopting: try FileDescriptor(rawValue: stream).duplicateCloseOnExec(subject: "descriptor \(stream)"))
  }

  /// Writes all of a raw buffer, blocking the thread while the pipe is full (no generic
  /// indirection: the form for hot loops).
  @available(*, noasync, message: "blocks its thread; use `await write(_:)` in async code")
  public func blockingWrite(_ bytes: UnsafeRawBufferPointer) throws(HinixError) {
    _ = try ByteStream.writeAll(descriptor.rawValue, bytes, waiting: .forever, strategy: waitStrategy)
  }
}

extension Pipe {
  /// The system's maximum capacity, for an error message ("unknown" if it cannot be read).
  fileprivate static var maximumCapacityText: String {
    (try? maximumCapacity()).map(String.init) ?? "unknown"
  }
}
