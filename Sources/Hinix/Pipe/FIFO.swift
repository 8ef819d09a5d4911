import Glibc
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
  @available(*, noasync, message: "waits for a writer; use `await openForReading(_:)` in async code")
  public static func blockingOpenForReading(_ path: FilePath) throws(HinixError) -> PipeReader {
    PipeReader(adopting: try open(path, .readOnly, nonBlocking: false)!)
  }

  /// The async form of ``blockingOpenForReading(_:)``: suspends the task until a writer opens the FIFO.
  ///
  /// The kernel has no readiness event for "the other end opened", and a blocking `open` would
  /// hold a thread. So this opens the FIFO for reading at once, non-blocking (which lets writers'
  /// opens go on, as a waiting reader does), and looks for a writer every few milliseconds
  /// (1 ms, doubling to at most 10 ms): written data, a writer that came and went, or one that is
  /// connected (a non-consuming `tee` probe says `EAGAIN`). The description it returns is
  /// non-blocking; every form of ``PipeReader`` keeps its meaning. Cancelling the task throws
  /// `CancellationError` and closes what it opened; no other process sees a difference.
  public static func openForReading(_ path: FilePath) async throws -> PipeReader {
    let reader = PipeReader(adopting: try open(path, .readOnly, nonBlocking: true)!)
    let probe = try Pipe.create(nonBlocking: true)
    try await waitForTheOtherEnd { () throws(HinixError) in
      try hasWriter(reader.descriptor, probe: probe.writer.descriptor, path: path)
    }
    return reader
  }

  /// Opens the FIFO for reading at once, whether or not a writer has it open: always
  /// ``Outcome/completed(_:)`` (an `Outcome`, as every try form returns, though Linux never
  /// makes this open wait). The description is non-blocking (reads report
  /// ``Outcome/wouldBlock`` until a writer writes, and every form keeps its meaning).
  ///
  /// The corresponding C function is `open` with `O_RDONLY | O_NONBLOCK`.
  public static func tryOpenForReading(_ path: FilePath) throws(HinixError) -> Outcome<PipeReader> {
    .completed(PipeReader(adopting: try open(path, .readOnly, nonBlocking: true)!))
  }

  /// Opens the FIFO for writing, blocking the thread until a reader opens it.
  ///
  /// The corresponding C function is `open` with `O_WRONLY`.
  @available(*, noasync, message: "waits for a reader; use `await openForWriting(_:)` in async code")
  public static func blockingOpenForWriting(_ path: FilePath) throws(HinixError) -> PipeWriter {
    PipeWriter(adopting: try open(path, .writeOnly, nonBlocking: false)!)
  }

  /// The async form of ``blockingOpenForWriting(_:)``: suspends the task until a reader opens the FIFO.
  ///
  /// As with the async `openForReading(_:)`, no event says when a reader opens, so the task
  /// retries the non-blocking open every few milliseconds (1 ms, doubling to at most 10 ms)
  /// while it fails with `ENXIO`. The description it returns is non-blocking.
  public static func openForWriting(_ path: FilePath) async throws -> PipeWriter {
    var writer: PipeWriter?
    try await waitForTheOtherEnd { () throws(HinixError) in
      writer = try tryOpenForWriting(path).value
      return writer != nil
    }
    return writer!
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
    return (reader, PipeWriter(adopting: try descriptor.duplicateCloseOnExec(subject: path.printable)))
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

  /// Sleeps the task (1 ms, doubling to at most 10 ms) until `found` says the other end is
  /// there; a cancelled task throws `CancellationError` from the sleep.
  private static func waitForTheOtherEnd(_ found: () throws(HinixError) -> Bool) async throws {
    var pause = Duration.milliseconds(1)
    while try !found() {
      try await Task.sleep(for: pause)
      pause = min(pause * 2, .milliseconds(10))
    }
  }

  /// Whether a writer has opened the FIFO that `reader` reads (non-blocking): data is there, or a
  /// writer came and went (`POLLHUP`), or one is connected: `tee` of one byte into `probe` (which
  /// copies without consuming) fails with `EAGAIN` only while a writer is connected, and returns
  /// 0 while there is none.
  private static func hasWriter(
    _ reader: FileDescriptor, probe: FileDescriptor, path: FilePath
  ) throws(HinixError) -> Bool {
    switch Sys.poll(reader.rawValue, events: Int16(POLLIN), timeoutMilliseconds: 0) {
    case .success(let events) where events != 0: return true
    case .success: break
    case .failure(let error): throw HinixError.system(error, "poll", subject: path.printable)
    }
    switch Sys.tee(reader.rawValue, probe.rawValue, 1, Sys.spliceNonBlocking) {
    case .success(let count): return count > 0
    case .failure(.resourceTemporarilyUnavailable): return true
    case .failure(let error): throw HinixError.system(error, "tee", subject: path.printable)
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
