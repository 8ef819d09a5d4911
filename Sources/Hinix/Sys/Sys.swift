import CHinix
import Glibc
import SystemPackage

/// The one syscall layer: every kernel call Hinix makes goes through a function here.
///
/// Each returns `Result<_, Errno>`. The C shim returns the negated errno itself, so nothing between
/// the call and the check can clobber it. Calls that may block take `retryOnInterrupt` and loop on
/// EINTR; `close` never does (Linux releases the descriptor even when close reports EINTR).
@usableFromInline
package enum Sys {
  @inline(__always)
  static func result(_ value: Int32) -> Result<Int32, Errno> {
    value < 0 ? .failure(Errno(rawValue: -value)) : .success(value)
  }

  @inline(__always)
  static func result(_ value: Int) -> Result<Int, Errno> {
    value < 0 ? .failure(Errno(rawValue: Int32(-value))) : .success(value)
  }

  @inline(__always)
  static func retrying(_ retry: Bool, _ call: () -> Int32) -> Result<Int32, Errno> {
    while true {
      let value = call()
      if value == -EINTR && retry { continue }
      return result(value)
    }
  }

  @inline(__always)
  static func retrying(_ retry: Bool, _ call: () -> Int) -> Result<Int, Errno> {
    while true {
      let value = call()
      if value == -Int(EINTR) && retry { continue }
      return result(value)
    }
  }

}
