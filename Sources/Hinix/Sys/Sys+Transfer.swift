import CHinix
import Glibc
import SystemPackage

/// Zero-copy transfers between descriptors (see ``Sys``).
extension Sys {
  // MARK: Zero-copy transfers

  static func splice(
    _ input: Int32, _ inputOffset: UnsafeMutablePointer<Int64>?, _ output: Int32,
    _ outputOffset: UnsafeMutablePointer<Int64>?, _ count: Int, _ flags: UInt32
  ) -> Result<Int, Errno> {
    retrying(true) { hinix_splice(input, inputOffset, output, outputOffset, count, flags) }
  }

  static func tee(_ input: Int32, _ output: Int32, _ count: Int, _ flags: UInt32) -> Result<Int, Errno> {
    retrying(true) { hinix_tee(input, output, count, flags) }
  }

  static func vmsplice(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, _ flags: UInt32) -> Result<Int, Errno> {
    retrying(true) { hinix_vmsplice(fd, bytes.baseAddress, bytes.count, flags) }
  }

  static func sendfile(
    _ output: Int32, _ input: Int32, _ offset: UnsafeMutablePointer<Int64>?, _ count: Int
  ) -> Result<Int, Errno> {
    retrying(true) { hinix_sendfile(output, input, offset, count) }
  }

  static let spliceMove = HINIX_SPLICE_F_MOVE
  static let spliceMore = HINIX_SPLICE_F_MORE
  static let spliceNonBlocking = HINIX_SPLICE_F_NONBLOCK
  static let spliceGift = HINIX_SPLICE_F_GIFT
}
