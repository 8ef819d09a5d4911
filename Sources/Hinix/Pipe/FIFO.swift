import Glibc
import Synchronization
import SystemPackage

/// Named pipes (FIFOs): a pipe with a path, so that unrelated processes can open it.
///
/// Opening has the kernel's real semantics. The blocking opens wait for the other end: for
/// reading until a writer opens, for writing until a reader does. Their async forms wait the
/// same way without blocking a thread of the cooperative pool. The try opens never wait:
/// ``tryOpenForReading(_:)`` always succeeds at once, and ``tryOpenForWriting(_:)`` says
/// ``Outcome/wouldBlock`` while no process has the FIFO open for reading (`ENXIO`).
/// ``openReadWrite(_:)`` (Linux-specific) never waits.
public enum FIFO {
  /// Creates a FIFO at `path` with exactly `permissions` (the umask is undone with `chmod`).
  ///
  /// - Throws: `.alreadyExists` if anything is at `path`; `.notFound` if its folder is missing.
  /// The corresponding C functions are `mkfifo` and `chmod`.
  public static func create(
    at path: FilePath, permissions: FilePermissions = [.ownerReadWrite]
  ) throws(HinixError) {
    switch Sys.makeFIFO(path, mode: permissions.rawValue) {
    case .success: break
    case .failure(.fileExists):
      throw HinixError(
        .alreadyExists, operation: "mkfifo", subject: path.printable, errno: .fileExists,
        detail: "the path exists")
    case .failure(let error):
      throw HinixError.system(error, "mkfifo", subject: path.printable)
    }
    if case .failure(let error) = Sys.changeMode(path, permissions.rawValue) {
      throw HinixError.system(error, "chmod", subject: path.printable)
    }
  }

  /// Opens the FIFO for reading, blocking the thread until a writer opens it.
  ///
  /// The corresponding C function is `open` with `O_RDONLY`.
  @_disfavoredOverload
  @available(*, noasync, message: "waits for a writer; use `await openForReading(_:)` in async code")
  public static func openForReading(_ path: FilePath) throws(HinixError) -> PipeReader {
    PipeReader(adopting: try open(path, .readOnly, nonBlocking: false)!)
  }

  /// The async form of ``openForReading(_:)``: suspends the task until a writer opens the FIFO.
  ///
  /// The kernel has no readiness event for "the other end opened", so the blocking `open` runs on
  /// a thread of its own, never one of the cooperative pool. Cancelling the task opens the FIFO
  /// for a moment itself, which ends that wait, and throws `CancellationError`.
  public static func openForReading(_ path: FilePath) async throws -> PipeReader {
    try await openWaiting(path, .readOnly, PipeReader.init(adopting:))
  }

  /// Opens the FIFO for reading at once, whether or not a writer has it open; the description
  /// is non-blocking (reads report ``Outcome/wouldBlock`` until a writer writes, and every form
  /// keeps its meaning).
  ///
  /// The corresponding C function is `open` with `O_RDONLY | O_NONBLOCK`.
  public static func tryOpenForReading(_ path: FilePath) throws(HinixError) -> PipeReader {
    PipeReader(adopting: try open(path, .readOnly, nonBlocking: true)!)
  }

  /// Opens the FIFO for writing, blocking the thread until a reader opens it.
  ///
  /// The corresponding C function is `open` with `O_WRONLY`.
  @_disfavoredOverload
  @available(*, noasync, message: "waits for a reader; use `await openForWriting(_:)` in async code")
  public static func openForWriting(_ path: FilePath) throws(HinixError) -> PipeWriter {
    PipeWriter(adopting: try open(path, .writeOnly, nonBlocking: false)!)
  }

  /// The async form of ``openForWriting(_:)``: suspends the task until a reader opens the FIFO,
  /// waiting as ``openForReading(_:)`` does.
  public static func openForWriting(_ path: FilePath) async throws -> PipeWriter {
    try await openWaiting(path, .writeOnly, PipeWriter.init(adopting:))
  }

  /// Opens the FIFO for writing if a process has it open for reading: ``Outcome/wouldBlock``
  /// if none has (`ENXIO`). The description is non-blocking.
  ///
  /// The corresponding C function is `open` with `O_WRONLY | O_NONBLOCK`.
  public static func tryOpenForWriting(_ path: FilePath) throws(HinixError) -> Outcome<PipeWriter> {
    Waiting.never.outcome(try open(path, .writeOnly, nonBlocking: true).map(PipeWriter.init(adopting:)))
  }

  /// Opens the FIFO for reading and writing at once, which never waits (Linux keeps the FIFO open
  /// on both sides through this one description). Useful to keep a FIFO alive between writers.
  ///
  /// The corresponding C function is `open` with `O_RDWR`.
  public static func openReadWrite(_ path: FilePath) throws(HinixError) -> (
    reader: PipeReader, writer: PipeWriter
  ) {
    let descriptor = try open(path, .readWrite, nonBlocking: false)!
    let reader = PipeReader(adopting: descriptor)
    switch Sys.fcntl(descriptor.rawValue, F_DUPFD_CLOEXEC, 3) {
    case .success(let copy):
      return (reader, PipeWriter(adopting: FileDescriptor(rawValue: copy)))
    case .failure(let error):
      throw HinixError.system(error, "fcntl(F_DUPFD_CLOEXEC)", subject: path.printable)
    }
  }

  /// Removes the FIFO at `path`; anything else there is left alone and reported.
  ///
  /// The corresponding C functions are `lstat` and `unlink`.
  public static func remove(_ path: FilePath) throws(HinixError) {
    switch Sys.status(path, followingLinks: false) {
    case .success(let status) where status.isFIFO: break
    case .success(let status):
      throw HinixError(
        .invalidArgument, operation: "unlink", subject: path.printable,
        detail: "\(status.typeName), not a FIFO; not removed")
    case .failure(let error):
      throw HinixError.system(error, "lstat", subject: path.printable)
    }
    if case .failure(let error) = Sys.unlink(path) {
      throw HinixError.system(error, "unlink", subject: path.printable)
    }
  }

  /// Opens the FIFO blocking, on a thread of its own (see ``Offload``). The FIFO is first held
  /// by an `O_PATH` descriptor and opened through `/proc/self/fd`, so that an interrupt reaches
  /// the same FIFO even if its path is removed or replaced while the open waits.
  private static func openWaiting<End: Sendable>(
    _ path: FilePath, _ mode: FileDescriptor.AccessMode, _ adopt: @escaping @Sendable (FileDescriptor) -> End
  ) async throws -> End {
    try check(path)
    let anchor: OwnedDescriptor
    switch Sys.open(path, Sys.pathOnly) {
    case .success(let fd): anchor = OwnedDescriptor(adopting: FileDescriptor(rawValue: fd))
    case .failure(let error): throw HinixError.system(error, "open", subject: path.printable)
    }
    let held = FilePath("/proc/self/fd/\(anchor.descriptor.rawValue)")
    let partner = Partner(held)
    let end = try await Offload.run(
      "open", subject: path.printable,
      { () throws(HinixError) -> End in
        defer { partner.finish() }
        switch Sys.open(held, mode.rawValue) {
        case .success(let fd): return adopt(FileDescriptor(rawValue: fd))
        case .failure(let error): throw HinixError.system(error, "open", subject: path.printable)
        }
      },
      interrupt: { partner.interrupt() })
    _ = consume anchor
    return end
  }

  /// The other end an interrupted open finds: opened read-write (which is both ends, and never
  /// waits) on cancellation, and kept until the waiting open has returned, so that the open
  /// finds it whenever it reaches the kernel.
  private final class Partner: Sendable {
    let path: FilePath
    let state = Mutex<(finished: Bool, descriptor: Int32?)>((false, nil))

    init(_ path: FilePath) { self.path = path }

    func interrupt() {
      state.withLock { state in
        guard !state.finished, state.descriptor == nil else { return }
        if case .success(let fd) = Sys.open(path, O_RDWR | O_NONBLOCK) { state.descriptor = fd }
      }
    }

    func finish() {
      state.withLock { state in
        state.finished = true
        if let fd = state.descriptor { _ = Sys.close(fd) }
        state.descriptor = nil
      }
    }
  }

  /// Refuses a path that exists and is not a FIFO (a missing one is the kernel's to report).
  private static func check(_ path: FilePath) throws(HinixError) {
    if case .success(let status) = Sys.status(path), !status.isFIFO {
      throw HinixError(
        .invalidArgument, operation: "open", subject: path.printable, detail: "\(status.typeName), not a FIFO"
      )
    }
  }

  private static func open(
    _ path: FilePath, _ mode: FileDescriptor.AccessMode, nonBlocking: Bool
  ) throws(HinixError) -> FileDescriptor? {
    try check(path)
    switch Sys.open(path, mode.rawValue | (nonBlocking ? O_NONBLOCK : 0)) {
    case .success(let fd):
      return FileDescriptor(rawValue: fd)
    case .failure(.noSuchAddressOrDevice) where mode == .writeOnly && nonBlocking:
      return nil
    case .failure(let error):
      throw HinixError.system(error, "open", subject: path.printable)
    }
  }
}
