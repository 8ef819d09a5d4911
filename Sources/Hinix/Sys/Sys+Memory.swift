import CHinix
import Glibc
import SystemPackage

/// Memory files, mappings and the atomics that work on shared memory (see ``Sys``).
extension Sys {
  // MARK: Memory files

  /// `memfd_create` with `MFD_CLOEXEC`, optionally sealable and backed by huge pages.
  static func memfdCreate(_ name: String, allowSealing: Bool, hugePages: Bool) -> Result<Int32, Errno> {
    var flags = allowSealing ? HINIX_MFD_ALLOW_SEALING : 0
    if hugePages { flags |= HINIX_MFD_HUGETLB }
    return result(hinix_memfd_create(name, flags))
  }

  /// The seals a file can carry (`F_SEAL_*`), as `fcntl(F_GET_SEALS)` reports them.
  package struct Seals: OptionSet, Sendable {
    package let rawValue: Int32
    package init(rawValue: Int32) { self.rawValue = rawValue }
    package static let seal = Seals(rawValue: HINIX_F_SEAL_SEAL)
    package static let shrink = Seals(rawValue: HINIX_F_SEAL_SHRINK)
    package static let grow = Seals(rawValue: HINIX_F_SEAL_GROW)
    package static let write = Seals(rawValue: HINIX_F_SEAL_WRITE)
  }

  package static func addSeals(_ fd: Int32, _ seals: Seals) -> Result<Void, Errno> {
    result(hinix_fcntl_int(fd, HINIX_F_ADD_SEALS, seals.rawValue)).map { _ in () }
  }

  static func seals(_ fd: Int32) -> Result<Seals, Errno> {
    result(hinix_fcntl_int(fd, HINIX_F_GET_SEALS, 0)).map { Seals(rawValue: $0) }
  }

  package static func truncate(_ fd: Int32, size: Int64) -> Result<Void, Errno> {
    retrying(true) { hinix_ftruncate(fd, size) }.map { _ in () }
  }

  static func sharedMemoryOpen(_ name: String, _ flags: Int32, _ mode: mode_t) -> Result<Int32, Errno> {
    result(hinix_shm_open(name, flags, mode))
  }

  static func sharedMemoryUnlink(_ name: String) -> Result<Void, Errno> {
    result(hinix_shm_unlink(name)).map { _ in () }
  }

  // MARK: Mappings

  /// Maps `size` bytes of `fd` shared and read-write, on huge pages if asked.
  static func mapShared(_ fd: Int32, size: Int, hugePages: Bool) -> Result<UnsafeMutableRawPointer, Errno> {
    var address: UnsafeMutableRawPointer?
    return result(hinix_mmap_shared(fd, size, hugePages ? HINIX_MAP_HUGETLB : 0, &address)).flatMap { _ in
      address.map { .success($0) } ?? .failure(.noMemory)
    }
  }

  static func unmap(_ address: UnsafeMutableRawPointer, size: Int) -> Result<Void, Errno> {
    result(hinix_munmap(address, size)).map { _ in () }
  }

  static func lock(_ address: UnsafeMutableRawPointer, size: Int) -> Result<Void, Errno> {
    result(hinix_mlock(address, size)).map { _ in () }
  }

  // MARK: Atomics on shared memory
  //
  // Swift's `Atomic` cannot live at an address inside a mapping; the shim's inline C11 atomics
  // can, and they inline into the Swift code that calls these.

  @inlinable @inline(__always)
  static func loadAcquire(_ address: UnsafePointer<UInt64>) -> UInt64 { hinix_load_acquire(address) }

  @inlinable @inline(__always)
  static func loadRelaxed(_ address: UnsafePointer<UInt64>) -> UInt64 { hinix_load_relaxed(address) }

  @inlinable @inline(__always)
  static func storeRelease(_ address: UnsafeMutablePointer<UInt64>, _ value: UInt64) {
    hinix_store_release(address, value)
  }

  @inlinable @inline(__always)
  static func storeRelaxed(_ address: UnsafeMutablePointer<UInt64>, _ value: UInt64) {
    hinix_store_relaxed(address, value)
  }

  /// Swaps `value` in with sequential consistency; returns what was there.
  @inlinable @inline(__always)
  static func exchange(_ address: UnsafeMutablePointer<UInt64>, _ value: UInt64) -> UInt64 {
    hinix_exchange(address, value)
  }

  /// A full fence: orders a store before a later load.
  @inlinable @inline(__always)
  static func fence() { hinix_fence() }

  /// Tells the processor the caller spins (x86 `pause`, Arm `yield`).
  @inlinable @inline(__always)
  static func cpuRelax() { hinix_cpu_relax() }
}
