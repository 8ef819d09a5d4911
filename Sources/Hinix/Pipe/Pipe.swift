import Glibc
import SystemPackage

/// Unnamed pipes: a one-way byte stream between a writer and a reader, usually in two processes.
///
/// ```swift
/// let (reader, writer) = try Pipe.create()
/// let child = try ChildProcess.spawn("/usr/bin/tr", arguments: ["a-z", "A-Z"], passing: [reader.descriptor: 0])
/// ```
///
/// Both ends are close-on-exec; ``ChildProcess/spawn(_:arguments:environment:passing:cpu:)`` is the
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

/// Capacity control shared by both ends.
extension FileDescriptor {
  func pipeCapacity(subject: String) throws(HinixError) -> Int {
    switch Sys.fcntl(rawValue, Sys.getPipeSize) {
    case .success(let size): return Int(size)
    case .failure(let error): throw HinixError.system(error, "fcntl(F_GETPIPE_SZ)", subject: subject)
    }
  }

  func setPipeCapacity(_ bytes: Int, subject: String) throws(HinixError) -> Int {
    guard bytes > 0, let requested = Int32(exactly: bytes) else {
      throw HinixError(
        .invalidArgument, operation: "fcntl(F_SETPIPE_SZ)", subject: subject,
        detail: "capacity \(bytes) bytes is not a positive 32-bit size")
    }
    switch Sys.fcntl(rawValue, Sys.setPipeSize, requested) {
    case .success(let size):
      return Int(size)
    case .failure(.notPermitted):
      let limit = (try? Pipe.maximumCapacity()).map(String.init) ?? "unknown"
      throw HinixError(
        .limitExceeded, operation: "fcntl(F_SETPIPE_SZ)", subject: subject, errno: .notPermitted,
        detail: "capacity \(bytes) bytes is above the system maximum \(limit) (/proc/sys/fs/pipe-max-size)")
    case .failure(.resourceBusy):
      throw HinixError(
        .invalidArgument, operation: "fcntl(F_SETPIPE_SZ)", subject: subject, errno: .resourceBusy,
        detail: "capacity \(bytes) bytes is smaller than the data in the pipe now")
    case .failure(let error):
      throw HinixError.system(error, "fcntl(F_SETPIPE_SZ)", subject: subject)
    }
  }
}

/// The reading end of a pipe or FIFO (or standard input): a `Sendable` owner of its descriptor.
public final class PipeReader: Sendable {
  private let handle: OwnedDescriptor

  /// The end's descriptor, still owned by this value.
  public var descriptor: FileDescriptor { handle.descriptor }

  private var subject: String { "pipe \(descriptor.rawValue)" }

  /// Takes ownership of a pipe's reading end.
  public init(adopting descriptor: FileDescriptor) {
    handle = OwnedDescriptor(adopting: descriptor)
  }

  /// A close-on-exec duplicate of standard input, usable with every form here (closing it leaves
  /// descriptor 0 open). The corresponding C function is `fcntl` with `F_DUPFD_CLOEXEC`.
  public static func standardInput() throws(HinixError) -> PipeReader {
    switch Sys.fcntl(0, F_DUPFD_CLOEXEC, 3) {
    case .success(let fd): return PipeReader(adopting: FileDescriptor(rawValue: fd))
    case .failure(let error):
      throw HinixError.system(error, "fcntl(F_DUPFD_CLOEXEC)", subject: "standard input")
    }
  }

  /// Reads what is available, waiting while the pipe is empty; 0 means every writer closed.
  ///
  /// The corresponding C function is `read`.
  public func read(into buffer: UnsafeMutableRawBufferPointer) throws(HinixError) -> Int {
    try ByteStream.read(descriptor.rawValue, into: buffer, waiting: .forever, subject: subject)!
  }

  /// Reads what is available without waiting; `nil` if the pipe is empty, 0 at end of stream.
  public func tryRead(into buffer: UnsafeMutableRawBufferPointer) throws(HinixError) -> Int? {
    try ByteStream.read(descriptor.rawValue, into: buffer, waiting: .never, subject: subject)
  }

  /// Reads what is available, waiting at most `timeout`; `nil` if nothing came.
  public func read(into buffer: UnsafeMutableRawBufferPointer, timeout: Duration) throws(HinixError) -> Int? {
    try ByteStream.read(descriptor.rawValue, into: buffer, waiting: .until(.after(timeout)), subject: subject)
  }

  /// Reads up to `maxCount` bytes, suspending the task (not its thread) while the pipe is empty;
  /// an empty result means every writer closed.
  public func read(upTo maxCount: Int) async throws -> [UInt8] {
    var bytes = [UInt8](repeating: 0, count: max(maxCount, 1))
    while true {
      let count = try bytes.withUnsafeMutableBytes { buffer in
        try ByteStream.read(descriptor.rawValue, into: buffer, waiting: .never, subject: subject)
      }
      if let count {
        bytes.removeLast(bytes.count - count)
        return bytes
      }
      _ = try await Reactor.shared.wait(for: .readable, on: descriptor)
    }
  }

  /// The pipe's capacity in bytes. The corresponding C function is `fcntl` with `F_GETPIPE_SZ`.
  public func capacity() throws(HinixError) -> Int {
    try descriptor.pipeCapacity(subject: subject)
  }

  /// Sets the pipe's capacity (rounded up by the kernel to a power-of-two number of pages) and
  /// returns the capacity set. The corresponding C function is `fcntl` with `F_SETPIPE_SZ`.
  public func setCapacity(_ bytes: Int) throws(HinixError) -> Int {
    try descriptor.setPipeCapacity(bytes, subject: subject)
  }
}

/// The writing end of a pipe or FIFO (or standard output or error): a `Sendable` owner of its
/// descriptor. A write whose reader is gone throws `.brokenPipe`; it never kills the process.
public final class PipeWriter: Sendable {
  private let handle: OwnedDescriptor

  /// The end's descriptor, still owned by this value.
  public var descriptor: FileDescriptor { handle.descriptor }

  private var subject: String { "pipe \(descriptor.rawValue)" }

  /// Takes ownership of a pipe's writing end (and applies Hinix's SIGPIPE policy, see ``Pipe``).
  public init(adopting descriptor: FileDescriptor) {
    Pipe.sigpipePolicy
    handle = OwnedDescriptor(adopting: descriptor)
  }

  /// A close-on-exec duplicate of standard output (descriptor 1) or standard error (2).
  public static func standardOutput(_ stream: Int32 = 1) throws(HinixError) -> PipeWriter {
    switch Sys.fcntl(stream, F_DUPFD_CLOEXEC, 3) {
    case .success(let fd): return PipeWriter(adopting: FileDescriptor(rawValue: fd))
    case .failure(let error):
      throw HinixError.system(error, "fcntl(F_DUPFD_CLOEXEC)", subject: "descriptor \(stream)")
    }
  }

  /// Writes all of `bytes`, waiting while the pipe is full.
  ///
  /// The corresponding C function is `write`.
  public func write(_ bytes: some MessageBytes) throws(HinixError) {
    _ = try writeAll(bytes, waiting: .forever)
  }

  /// Writes all of a raw buffer, waiting while the pipe is full (no generic indirection: the
  /// form for hot loops).
  public func write(_ bytes: UnsafeRawBufferPointer) throws(HinixError) {
    _ = try ByteStream.writeAll(descriptor.rawValue, bytes, waiting: .forever, subject: subject)
  }

  /// Writes what fits now; returns how many bytes were written (0 if the pipe is full).
  public func tryWrite(_ bytes: some MessageBytes) throws(HinixError) -> Int {
    try writeAll(bytes, waiting: .never)
  }

  /// Writes, waiting at most `timeout` for room; returns how many bytes were written.
  public func write(_ bytes: some MessageBytes, timeout: Duration) throws(HinixError) -> Int {
    try writeAll(bytes, waiting: .until(.after(timeout)))
  }

  /// Writes all of `bytes`, suspending the task (not its thread) while the pipe is full.
  public func write(_ bytes: [UInt8]) async throws {
    var written = 0
    while written < bytes.count {
      written += try bytes[written...].withMessageBytes { rest in
        Result { () throws(HinixError) in
          try ByteStream.writeAll(descriptor.rawValue, rest, waiting: .never, subject: subject)
        }
      }.get()
      if written < bytes.count {
        _ = try await Reactor.shared.wait(for: .writable, on: descriptor)
      }
    }
  }

  /// The pipe's capacity in bytes. The corresponding C function is `fcntl` with `F_GETPIPE_SZ`.
  public func capacity() throws(HinixError) -> Int {
    try descriptor.pipeCapacity(subject: subject)
  }

  /// Sets the pipe's capacity and returns the capacity set (see ``PipeReader/setCapacity(_:)``).
  public func setCapacity(_ bytes: Int) throws(HinixError) -> Int {
    try descriptor.setPipeCapacity(bytes, subject: subject)
  }

  private func writeAll(_ bytes: some MessageBytes, waiting: Waiting) throws(HinixError) -> Int {
    try bytes.withMessageBytes { buffer in
      Result { () throws(HinixError) in
        try ByteStream.writeAll(descriptor.rawValue, buffer, waiting: waiting, subject: subject)
      }
    }.get()
  }
}
