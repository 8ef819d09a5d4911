import Glibc
import SystemPackage

/// Named pipes (FIFOs): a pipe with a path, so that unrelated processes can open it.
///
/// Opening has the kernel's real semantics: a blocking open for reading waits until a writer
/// opens, and a blocking open for writing waits for a reader. A non-blocking open for reading
/// succeeds at once; a non-blocking open for writing with no reader is reported as `nil`
/// (`ENXIO`), not as an error. ``openReadWrite(_:)`` (Linux-specific) never waits.
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

  /// Opens the FIFO for reading. Blocking, it waits until a writer opens the FIFO; non-blocking,
  /// it returns at once (and reads report "would block" until a writer writes).
  ///
  /// The corresponding C function is `open` with `O_RDONLY`.
  public static func openForReading(_ path: FilePath, nonBlocking: Bool = false) throws(HinixError)
    -> PipeReader
  {
    PipeReader(adopting: try open(path, .readOnly, nonBlocking: nonBlocking)!)
  }

  /// Opens the FIFO for writing. Blocking, it waits until a reader opens the FIFO;
  /// non-blocking, it returns `nil` when no process has the FIFO open for reading.
  ///
  /// The corresponding C function is `open` with `O_WRONLY`.
  public static func openForWriting(_ path: FilePath, nonBlocking: Bool = false) throws(HinixError)
    -> PipeWriter?
  {
    try open(path, .writeOnly, nonBlocking: nonBlocking).map(PipeWriter.init(adopting:))
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

  private static func open(
    _ path: FilePath, _ mode: FileDescriptor.AccessMode, nonBlocking: Bool
  ) throws(HinixError) -> FileDescriptor? {
    if case .success(let status) = Sys.status(path), !status.isFIFO {
      throw HinixError(
        .invalidArgument, operation: "open", subject: path.printable, detail: "\(status.typeName), not a FIFO"
      )
    }
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
