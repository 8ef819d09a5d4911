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
    let text = path.string
    if mkfifo(text, permissions.rawValue) != 0 {
      let errno = Errno(rawValue: Glibc.errno)
      if errno == .fileExists {
        throw HinixError(
          .alreadyExists, operation: "mkfifo", subject: text, errno: errno, detail: "the path exists")
      }
      throw HinixError.system(errno, "mkfifo", subject: text)
    }
    if chmod(text, permissions.rawValue) != 0 {
      throw HinixError.system(Errno(rawValue: Glibc.errno), "chmod", subject: text)
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
    case .failure(let errno):
      throw HinixError.system(errno, "fcntl(F_DUPFD_CLOEXEC)", subject: path.string)
    }
  }

  /// Removes the FIFO at `path`; anything else there is left alone and reported.
  ///
  /// The corresponding C functions are `lstat` and `unlink`.
  public static func remove(_ path: FilePath) throws(HinixError) {
    let text = path.string
    var info = stat()
    if lstat(text, &info) != 0 {
      throw HinixError.system(Errno(rawValue: Glibc.errno), "lstat", subject: text)
    }
    guard info.st_mode & S_IFMT == S_IFIFO else {
      throw HinixError(
        .invalidArgument, operation: "unlink", subject: text, detail: "not a FIFO; not removed")
    }
    if unlink(text) != 0 {
      throw HinixError.system(Errno(rawValue: Glibc.errno), "unlink", subject: text)
    }
  }

  private static func open(
    _ path: FilePath, _ mode: FileDescriptor.AccessMode, nonBlocking: Bool
  ) throws(HinixError) -> FileDescriptor? {
    let text = path.string
    var info = stat()
    if stat(text, &info) == 0, info.st_mode & S_IFMT != S_IFIFO {
      throw HinixError(.invalidArgument, operation: "open", subject: text, detail: "not a FIFO")
    }
    var options: FileDescriptor.OpenOptions = [.closeOnExec]
    if nonBlocking { options.insert(.nonBlocking) }
    do {
      return try FileDescriptor.open(path, mode, options: options)
    } catch let errno as Errno {
      if errno == .noSuchAddressOrDevice && mode == .writeOnly && nonBlocking { return nil }
      throw HinixError.system(errno, "open", subject: text)
    } catch {
      throw HinixError(.system, operation: "open", subject: text, detail: "\(error)")
    }
  }
}
