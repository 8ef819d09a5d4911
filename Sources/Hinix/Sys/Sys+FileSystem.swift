import CHinix
import Glibc
import SystemPackage

/// Files and folders by path (see ``Sys``). Paths cross into and out of the kernel as bytes
/// (`FilePath`'s platform string), never through a Swift `String`, so a name that is not UTF-8
/// survives the round trip.
extension Sys {
  /// What `stat` says of a file: the fields Hinix uses.
  package struct FileStatus: Sendable, Equatable {
    package let mode: UInt32
    package let userID: UInt32
    package let groupID: UInt32
    package let device: UInt64
    package let inode: UInt64
    package let size: Int64
    /// The device a character or block special file stands for (`st_rdev`).
    package let specialDevice: UInt64

    init(_ raw: hinix_file_status) {
      mode = raw.mode
      userID = raw.uid
      groupID = raw.gid
      device = raw.device
      inode = raw.inode
      size = raw.size
      specialDevice = raw.special_device
    }

    /// The permission bits (`mode & 0o7777`).
    package var permissions: UInt32 { mode & 0o7777 }
    private var type: UInt32 { mode & UInt32(S_IFMT) }
    package var isFIFO: Bool { type == UInt32(S_IFIFO) }
    package var isSocket: Bool { type == UInt32(S_IFSOCK) }
    package var isDirectory: Bool { type == UInt32(S_IFDIR) }
    package var isRegularFile: Bool { type == UInt32(S_IFREG) }
    package var isCharacterDevice: Bool { type == UInt32(S_IFCHR) }
    /// A short name of the file's type, for error messages.
    package var typeName: String {
      switch type {
      case UInt32(S_IFIFO): "a FIFO"
      case UInt32(S_IFSOCK): "a socket"
      case UInt32(S_IFDIR): "a folder"
      case UInt32(S_IFREG): "a regular file"
      case UInt32(S_IFCHR): "a character device"
      case UInt32(S_IFBLK): "a block device"
      case UInt32(S_IFLNK): "a symbolic link"
      default: "a file of type \(String(type, radix: 8))"
      }
    }
  }

  /// `fstat` of an open descriptor.
  package static func status(_ fd: Int32) -> Result<FileStatus, Errno> {
    var raw = hinix_file_status()
    return result(hinix_stat(fd, nil, 1, &raw)).map { _ in FileStatus(raw) }
  }

  /// `fstatat` of `name` in the folder `folder`, without following a link.
  static func status(of name: FilePath.Component, in folder: Int32) -> Result<FileStatus, Errno> {
    var raw = hinix_file_status()
    return name.withPlatformString { result(hinix_stat(folder, $0, 0, &raw)) }.map { _ in FileStatus(raw) }
  }

  /// `stat` of a path, or `lstat` when `followingLinks` is false.
  package static func status(_ path: FilePath, followingLinks: Bool = true) -> Result<FileStatus, Errno> {
    var raw = hinix_file_status()
    return path.withPlatformString { result(hinix_stat(-1, $0, followingLinks ? 1 : 0, &raw)) }.map { _ in
      FileStatus(raw)
    }
  }

  /// `open` with `O_CLOEXEC` added. Retries `EINTR` (opening a FIFO waits for the other end).
  static func open(_ path: FilePath, _ flags: Int32, mode: mode_t = 0) -> Result<Int32, Errno> {
    path.withPlatformString { name in retrying(true) { hinix_open(name, flags, mode) } }
  }

  /// `openat`, close-on-exec: `name` (one component, or a relative path) in the folder `folder`.
  static func open(_ name: FilePath.Component, in folder: Int32, _ flags: Int32) -> Result<Int32, Errno> {
    name.withPlatformString { name in retrying(true) { hinix_openat(folder, name, flags) } }
  }

  /// `openat` of the NUL-terminated `name` in the folder `folder`, close-on-exec.
  static func open(_ name: UnsafePointer<CChar>, in folder: Int32, _ flags: Int32) -> Result<Int32, Errno> {
    retrying(true) { hinix_openat(folder, name, flags) }
  }

  static func makeFIFO(_ path: FilePath, mode: mode_t) -> Result<Void, Errno> {
    path.withPlatformString { result(hinix_mkfifo($0, mode)) }.map { _ in () }
  }

  package static func makeDirectory(_ path: FilePath, mode: mode_t) -> Result<Void, Errno> {
    path.withPlatformString { result(hinix_mkdir($0, mode)) }.map { _ in () }
  }

  package static func changeMode(_ path: FilePath, _ mode: mode_t) -> Result<Void, Errno> {
    path.withPlatformString { result(hinix_chmod($0, mode)) }.map { _ in () }
  }

  package static func unlink(_ path: FilePath) -> Result<Void, Errno> {
    path.withPlatformString { result(hinix_unlink($0)) }.map { _ in () }
  }

  package static func removeDirectory(_ path: FilePath) -> Result<Void, Errno> {
    path.withPlatformString { result(hinix_rmdir($0)) }.map { _ in () }
  }

  /// Creates a new private folder `prefix` followed by six random characters (`mkdtemp`).
  package static func makeTemporaryDirectory(prefix: FilePath) -> Result<FilePath, Errno> {
    var template = prefix.withPlatformString { Array(UnsafeBufferPointer(start: $0, count: strlen($0))) }
    template += Array("XXXXXX".utf8CString)
    return template.withUnsafeMutableBufferPointer { buffer in
      result(hinix_mkdtemp(buffer.baseAddress!)).map { _ in FilePath(platformString: buffer.baseAddress!) }
    }
  }

  /// The target of the symbolic link at `path` (`readlink`), whatever its length.
  package static func readLink(_ path: FilePath) -> Result<FilePath, Errno> {
    var capacity = 256
    while true {
      var buffer = [CChar](repeating: 0, count: capacity + 1)
      let count = path.withPlatformString { name in
        buffer.withUnsafeMutableBufferPointer { result(hinix_readlink(name, $0.baseAddress!, capacity)) }
      }
      switch count {
      case .success(let length) where length < capacity:
        return .success(buffer.withUnsafeBufferPointer { FilePath(platformString: $0.baseAddress!) })
      case .success:
        capacity *= 4
      case .failure(let error):
        return .failure(error)
      }
    }
  }

  /// What `/proc/self/fd` says an open descriptor is: a path, `socket:[…]`,
  /// `anon_inode:[eventfd]`, `pipe:[…]`.
  package static func descriptorTarget(_ fd: Int32) -> Result<FilePath, Errno> {
    readLink(FilePath("/proc/self/fd/\(fd)"))
  }

  /// The path of this process's executable (`/proc/self/exe`).
  package static func executablePath() -> Result<FilePath, Errno> {
    readLink("/proc/self/exe")
  }

  /// The working folder (`getcwd`).
  static func currentDirectory() -> Result<FilePath, Errno> {
    var buffer = [CChar](repeating: 0, count: Int(HINIX_PATH_MAX) + 1)
    return buffer.withUnsafeMutableBufferPointer { buffer in
      result(hinix_getcwd(buffer.baseAddress!, buffer.count)).map { _ in
        FilePath(platformString: buffer.baseAddress!)
      }
    }
  }

  /// The canonical absolute path of an existing file (`realpath`).
  package static func realPath(_ path: FilePath) -> Result<FilePath, Errno> {
    var buffer = [CChar](repeating: 0, count: Int(HINIX_PATH_MAX) + 1)
    return buffer.withUnsafeMutableBufferPointer { buffer in
      path.withPlatformString { result(hinix_realpath($0, buffer.baseAddress!)) }.map { _ in
        FilePath(platformString: buffer.baseAddress!)
      }
    }
  }

  /// The names in a folder, without `.` and `..` (`getdents64`).
  package static func directoryEntries(_ path: FilePath) -> Result<[FilePath.Component], Errno> {
    directoryListing(path).map { $0.map(\.name) }
  }

  /// One entry of a folder, as `getdents64` reports it.
  package struct DirectoryEntry: Sendable, Hashable {
    /// The entry's name.
    package var name: FilePath.Component
    /// The inode number.
    package var inode: UInt64
    /// The file type from `d_type` (`DT_DIR` is 4); 0 when the filesystem does not say.
    package var type: UInt8

    /// Whether the entry is a directory; nil when the filesystem did not say.
    package var isDirectory: Bool? { type == 0 ? nil : type == 4 }
  }

  /// The entries of a folder with their inode and type, without `.` and `..` (`getdents64`).
  package static func directoryListing(_ path: FilePath) -> Result<[DirectoryEntry], Errno> {
    let fd: Int32
    switch open(path, O_RDONLY | O_DIRECTORY) {
    case .success(let value): fd = value
    case .failure(let error): return .failure(error)
    }
    defer { _ = close(fd) }
    var entries: [DirectoryEntry] = []
    let listed = forEachEntry(of: fd) { name, inode, type in
      // The name is the dirent's own, NUL-terminated in the buffer.
      let text = name.baseAddress!.assumingMemoryBound(to: CChar.self)
      if let component = FilePath.Component(platformString: text) {
        entries.append(DirectoryEntry(name: component, inode: inode, type: type))
      }
    }
    return listed.map { entries }
  }

  /// Calls `body` with each entry of the open folder `fd` from its current position (a folder
  /// just opened reads all), without `.` and `..`: its name's bytes (no NUL; lent for the call),
  /// its inode and its `d_type` (0 when the filesystem does not say). `getdents64`, no
  /// allocation per entry.
  static func forEachEntry(
    of fd: Int32, _ body: (_ name: UnsafeRawBufferPointer, _ inode: UInt64, _ type: UInt8) -> Void
  ) -> Result<Void, Errno> {
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 32768, alignment: 8)
    defer { buffer.deallocate() }
    while true {
      let count: Int
      switch retrying(true, { hinix_getdents(fd, buffer.baseAddress, buffer.count) }) {
      case .success(0): return .success(())
      case .success(let value): count = value
      case .failure(let error): return .failure(error)
      }
      // struct linux_dirent64: d_ino (8), d_off (8), d_reclen (2), d_type (1), d_name.
      var offset = 0
      while offset + 19 < count {
        let length = Int(buffer.loadUnaligned(fromByteOffset: offset + 16, as: UInt16.self))
        let start = buffer.baseAddress! + offset + 19
        let nameLength = strnlen(start.assumingMemoryBound(to: CChar.self), max(length - 19, 0))
        let name = UnsafeRawBufferPointer(start: start, count: nameLength)
        let isDot =
          nameLength == 1 && name[0] == 0x2E || nameLength == 2 && name[0] == 0x2E && name[1] == 0x2E
        if nameLength > 0 && !isDot {
          body(
            name, buffer.loadUnaligned(fromByteOffset: offset, as: UInt64.self),
            buffer.load(fromByteOffset: offset + 18, as: UInt8.self))
        }
        guard length > 0 else { break }
        offset += length
      }
    }
  }

}
