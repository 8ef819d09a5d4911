import Glibc
import SystemPackage

/// A shared mapping of a memory file: a sealed `memfd` (the default, safe against a peer that
/// would shrink it) or a POSIX `shm_open` name.
///
/// The creator sizes the file and seals it against shrinking and growing, so the size the
/// opener checks with `fstat` stays true: no peer can make this process fault with SIGBUS by
/// truncating the file under its mapping. The opener refuses a file whose seals or size do not
/// hold.
///
/// The mapping is unmapped and the descriptor closed when the value is released. It is
/// `@unchecked Sendable`: the bytes are shared with other processes anyway, so code that uses
/// them (the rings) orders every access with atomics.
public final class SharedMemory: @unchecked Sendable {
  /// Creation options.
  public struct Options: Sendable {
    /// Back the file with huge pages (`MFD_HUGETLB`); the size is rounded up to 2 MiB and
    /// creation fails with `.limitExceeded` when the system has no huge pages reserved.
    public var hugePages = false
    /// Lock the pages in memory (`mlock`), so a wait never pays a page fault; subject to
    /// `RLIMIT_MEMLOCK`.
    public var lockMemory = false

    /// The defaults: normal pages, not locked.
    public init() {}
  }

  private let handle: OwnedDescriptor
  /// The first byte of the mapping.
  public let baseAddress: UnsafeMutableRawPointer
  /// The mapping's size in bytes: the file's size when it was mapped.
  public let count: Int
  /// Whether the file is sealed against shrinking (always true for a `memfd` that Hinix
  /// created or accepted; false for `shm_open` names, which cannot be sealed).
  public let isSealed: Bool

  /// The file's descriptor, still owned by this value (pass it to a peer with
  /// ``Socket/send(_:descriptors:credentials:to:reactor:)``).
  public var descriptor: FileDescriptor { handle.descriptor }

  /// The mapped bytes.
  public var bytes: UnsafeMutableRawBufferPointer {
    UnsafeMutableRawBufferPointer(start: baseAddress, count: count)
  }

  private init(_ handle: consuming OwnedDescriptor, base: UnsafeMutableRawPointer, count: Int, sealed: Bool) {
    self.handle = handle
    self.baseAddress = base
    self.count = count
    self.isSealed = sealed
  }

  deinit {
    _ = Sys.unmap(baseAddress, size: count)
  }

  /// The seals Hinix puts on a file it creates: it can neither shrink nor grow, and no one can
  /// remove or add a seal.
  static let creatorSeals: Sys.Seals = [.shrink, .grow, .seal]

  /// Creates an anonymous memory file of `size` bytes (`memfd_create` with `MFD_CLOEXEC` and
  /// `MFD_ALLOW_SEALING`), seals it against shrinking and growing, and maps it.
  ///
  /// `name` appears only in `/proc/PID/fd` and `/proc/PID/maps`, for debugging.
  public convenience init(
    creatingAnonymous name: String, size: Int, options: Options = Options()
  ) throws(HinixError) {
    guard size > 0 else {
      throw HinixError(
        .invalidArgument, operation: "memfd_create", subject: name,
        detail: "the size must be positive, not \(size)")
    }
    let fd: Int32
    switch Sys.memfdCreate(name, allowSealing: true, hugePages: options.hugePages) {
    case .success(let value): fd = value
    case .failure(let error): throw HinixError.system(error, "memfd_create", subject: name)
    }
    let handle = OwnedDescriptor(adopting: FileDescriptor(rawValue: fd))
    let rounded = options.hugePages ? (size + (2 << 20) - 1) & ~((2 << 20) - 1) : size
    if case .failure(let error) = Sys.truncate(fd, size: Int64(rounded)) {
      throw HinixError(
        error == .noSpace || error == .invalidArgument ? .limitExceeded : .system, operation: "ftruncate",
        subject: name, errno: error,
        detail: "could not size the memory file to \(rounded) bytes"
          + (options.hugePages ? " (are huge pages reserved? see /proc/sys/vm/nr_hugepages)" : ""))
    }
    if case .failure(let error) = Sys.addSeals(fd, SharedMemory.creatorSeals) {
      throw HinixError.system(error, "fcntl(F_ADD_SEALS)", subject: name)
    }
    try self.init(mapping: handle, size: rounded, sealed: true, options: options, subject: name)
  }

  /// Maps a memory file received from another process, after checking that it is sealed
  /// against shrinking (`F_SEAL_SHRINK`) and growing (`F_SEAL_GROW`) and holds at least
  /// `minimumSize` and at most `maximumSize` bytes. Takes ownership of the descriptor.
  ///
  /// A file that is not a sealed memfd, or is too small, is `.incompatible` with the reason:
  /// mapping it would let its owner crash this process by truncating it. A file larger than
  /// `maximumSize` is `.incompatible` too: a peer could otherwise make this process map a
  /// sparse file of terabytes. Give the most a valid message can need.
  public convenience init(
    adoptingSealed descriptor: consuming OwnedDescriptor, minimumSize: Int, maximumSize: Int = .max,
    options: Options = Options()
  ) throws(HinixError) {
    let fd = descriptor.descriptor.rawValue
    let subject = "memory file \(fd)"
    try SharedMemory.checkSealed(fd, subject: subject)
    let size = try SharedMemory.checkedSize(fd, minimumSize: minimumSize, subject: subject)
    guard size <= maximumSize else {
      throw HinixError(
        .incompatible, operation: "fstat", subject: subject,
        detail: "the memory file holds \(size) bytes, more than the \(maximumSize) it may hold")
    }
    try self.init(mapping: descriptor, size: size, sealed: true, options: options, subject: subject)
  }

  /// Checks that `fd` is a memfd sealed against shrinking and growing.
  static func checkSealed(_ fd: Int32, subject: String) throws(HinixError) {
    let seals: Sys.Seals
    switch Sys.seals(fd) {
    case .success(let value): seals = value
    case .failure(.invalidArgument):
      throw HinixError(
        .incompatible, operation: "fcntl(F_GET_SEALS)", subject: subject, errno: .invalidArgument,
        detail: "the descriptor is not a memory file that supports seals (a memfd)")
    case .failure(let error): throw HinixError.system(error, "fcntl(F_GET_SEALS)", subject: subject)
    }
    guard seals.contains([.shrink, .grow]) else {
      throw HinixError(
        .incompatible, operation: "fcntl(F_GET_SEALS)", subject: subject,
        detail:
          "the memory file is not sealed against \(seals.contains(.shrink) ? "growing" : "shrinking") (seals \(seals.rawValue)); its owner could make this process fault"
      )
    }
  }

  /// Opens (or, with `creating` set, exclusively creates) a POSIX shared-memory object by
  /// name (`shm_open`, close-on-exec) and maps it.
  ///
  /// For processes that cannot pass descriptors. Such a file cannot be sealed: anyone with
  /// write access to the name could truncate it and make this process fault, so give it a
  /// mode that admits only trusted users. The size is checked when it is opened.
  public convenience init(
    named name: String, creating size: Int? = nil, minimumSize: Int = 1,
    mode: FilePermissions = .ownerReadWrite, options: Options = Options()
  ) throws(HinixError) {
    guard name.hasPrefix("/"), name.count > 1, !name.dropFirst().contains("/"), !name.utf8.contains(0)
    else {
      throw HinixError(
        .invalidName, operation: "shm_open", subject: name,
        detail: "a shared-memory name is one slash followed by a name without slashes")
    }
    let flags = size == nil ? O_RDWR : O_RDWR | O_CREAT | O_EXCL
    let fd: Int32
    switch Sys.sharedMemoryOpen(name, flags, mode_t(mode.rawValue)) {
    case .success(let value): fd = value
    case .failure(let error): throw HinixError.system(error, "shm_open", subject: name)
    }
    let handle = OwnedDescriptor(adopting: FileDescriptor(rawValue: fd))
    if let size {
      guard size > 0 else {
        _ = Sys.sharedMemoryUnlink(name)
        throw HinixError(
          .invalidArgument, operation: "shm_open", subject: name,
          detail: "the size must be positive, not \(size)")
      }
      if case .failure(let error) = Sys.truncate(fd, size: Int64(size)) {
        _ = Sys.sharedMemoryUnlink(name)
        throw HinixError.system(error, "ftruncate", subject: name)
      }
    }
    let actual = try SharedMemory.checkedSize(fd, minimumSize: size ?? minimumSize, subject: name)
    try self.init(mapping: handle, size: actual, sealed: false, options: options, subject: name)
  }

  /// Removes a shared-memory name (`shm_unlink`); mappings stay valid until released.
  public static func unlink(named name: String) throws(HinixError) {
    if case .failure(let error) = Sys.sharedMemoryUnlink(name) {
      throw HinixError.system(error, "shm_unlink", subject: name)
    }
  }

  private static func checkedSize(_ fd: Int32, minimumSize: Int, subject: String) throws(HinixError) -> Int {
    let status: Sys.FileStatus
    switch Sys.status(fd) {
    case .success(let value): status = value
    case .failure(let error): throw HinixError.system(error, "fstat", subject: subject)
    }
    let size = status.size
    guard status.isRegularFile else {
      throw HinixError(
        .incompatible, operation: "fstat", subject: subject,
        detail: "the descriptor is not a regular memory file")
    }
    guard size >= Int64(minimumSize), size > 0, size <= Int64(Int.max) else {
      throw HinixError(
        .incompatible, operation: "fstat", subject: subject,
        detail: "the memory file holds \(size) bytes, less than the \(minimumSize) it must hold")
    }
    return Int(size)
  }

  private convenience init(
    mapping handle: consuming OwnedDescriptor, size: Int, sealed: Bool, options: Options, subject: String
  ) throws(HinixError) {
    let address: UnsafeMutableRawPointer
    switch Sys.mapShared(handle.descriptor.rawValue, size: size, hugePages: options.hugePages) {
    case .success(let value): address = value
    case .failure(let error):
      throw HinixError(
        error == .noMemory ? .limitExceeded : .system, operation: "mmap", subject: subject, errno: error,
        detail: "could not map \(size) bytes")
    }
    if options.lockMemory, case .failure(let error) = Sys.lock(address, size: size) {
      _ = Sys.unmap(address, size: size)
      throw HinixError(
        .limitExceeded, operation: "mlock", subject: subject, errno: error,
        detail: "could not lock \(size) bytes in memory (see RLIMIT_MEMLOCK, ulimit -l)")
    }
    self.init(handle, base: address, count: size, sealed: sealed)
  }
}
