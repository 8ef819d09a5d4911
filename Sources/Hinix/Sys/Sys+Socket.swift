import CHinix
import Glibc
import SystemPackage

/// The socket calls of the syscall layer (see ``Sys``).
extension Sys {
  static func socket(_ domain: Int32, _ type: Int32, nonBlocking: Bool) -> Result<Int32, Errno> {
    result(hinix_socket(domain, type, nonBlocking ? 1 : 0))
  }

  static func socketPair(_ domain: Int32, _ type: Int32, nonBlocking: Bool) -> Result<(Int32, Int32), Errno> {
    var fds: (Int32, Int32) = (-1, -1)
    return withUnsafeMutableBytes(of: &fds) { raw in
      result(
        hinix_socketpair(
          domain, type, nonBlocking ? 1 : 0, raw.baseAddress!.assumingMemoryBound(to: Int32.self)))
    }.map { _ in fds }
  }

  static func bind(_ fd: Int32, _ address: UnsafeRawPointer, _ length: UInt32) -> Result<Void, Errno> {
    result(hinix_bind(fd, address, length)).map { _ in () }
  }

  static func listen(_ fd: Int32, _ backlog: Int32) -> Result<Void, Errno> {
    result(hinix_listen(fd, backlog)).map { _ in () }
  }

  static func accept(
    _ fd: Int32, _ address: UnsafeMutableRawPointer?, _ length: UnsafeMutablePointer<UInt32>?,
    nonBlocking: Bool
  ) -> Result<Int32, Errno> {
    retrying(true) { hinix_accept(fd, address, length, nonBlocking ? 1 : 0) }
  }

  /// connect is not retried on EINTR: the connection goes on in the background, and a second
  /// call would report EALREADY. Callers wait for writability instead.
  static func connect(_ fd: Int32, _ address: UnsafeRawPointer, _ length: UInt32) -> Result<Void, Errno> {
    result(hinix_connect(fd, address, length)).map { _ in () }
  }

  static func shutdown(_ fd: Int32, _ how: Int32) -> Result<Void, Errno> {
    result(hinix_shutdown(fd, how)).map { _ in () }
  }

  static func getOption<T>(_ fd: Int32, _ level: Int32, _ name: Int32, as type: T.Type) -> Result<T, Errno> {
    let value = UnsafeMutablePointer<T>.allocate(capacity: 1)
    defer { value.deallocate() }
    UnsafeMutableRawPointer(value).initializeMemory(as: UInt8.self, repeating: 0, count: MemoryLayout<T>.size)
    var length = UInt32(MemoryLayout<T>.size)
    return result(hinix_getsockopt(fd, level, name, value, &length)).map { _ in value.pointee }
  }

  static func setOption<T>(_ fd: Int32, _ level: Int32, _ name: Int32, _ value: T) -> Result<Void, Errno> {
    withUnsafeBytes(of: value) { raw in
      result(hinix_setsockopt(fd, level, name, raw.baseAddress, UInt32(raw.count))).map { _ in () }
    }
  }

  static func socketName(
    _ fd: Int32, peer: Bool, _ address: UnsafeMutableRawPointer, _ length: inout UInt32
  ) -> Result<Void, Errno> {
    result(peer ? hinix_getpeername(fd, address, &length) : hinix_getsockname(fd, address, &length))
      .map { _ in () }
  }

  // The plain send and receive are the sockets' hot path: inlined, a call of the shim each.
  @inline(__always)
  static func send(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, flags: Int32) -> Result<Int, Errno> {
    retrying(true) { hinix_send(fd, bytes.baseAddress, bytes.count, flags) }
  }

  static func sendVector(
    _ fd: Int32, _ buffers: UnsafeMutableBufferPointer<iovec>, flags: Int32
  ) -> Result<Int, Errno> {
    retrying(true) { hinix_sendv(fd, buffers.baseAddress, Int32(buffers.count), flags) }
  }

  @inline(__always)
  static func receive(
    _ fd: Int32, _ buffer: UnsafeMutableRawBufferPointer, flags: Int32
  ) -> Result<Int, Errno> {
    retrying(true) { hinix_recv(fd, buffer.baseAddress, buffer.count, flags) }
  }

  static func sendMessage(
    _ fd: Int32, _ bytes: UnsafeRawBufferPointer, address: UnsafeRawPointer?, addressLength: UInt32,
    descriptors: UnsafeBufferPointer<Int32>, credentials: UnsafePointer<hinix_ucred>?, flags: Int32
  ) -> Result<Int, Errno> {
    retrying(true) {
      hinix_sendmsg(
        fd, bytes.baseAddress, bytes.count, address, addressLength, descriptors.baseAddress,
        Int32(descriptors.count), credentials, flags)
    }
  }

  static func receiveMessage(
    _ fd: Int32, _ buffer: UnsafeMutableRawBufferPointer, address: UnsafeMutableRawPointer?,
    descriptors: UnsafeMutableBufferPointer<Int32>, received: inout hinix_received, flags: Int32
  ) -> Result<Int, Errno> {
    retrying(true) {
      hinix_recvmsg(
        fd, buffer.baseAddress, buffer.count, address, descriptors.baseAddress, Int32(descriptors.count),
        &received, flags)
    }
  }

  // MARK: Constants and records the Glibc module lacks

  /// `struct ucred`: a process's pid, uid and gid.
  typealias RawCredentials = hinix_ucred
  /// What `recvmsg` brought besides the payload (see the shim's `hinix_recvmsg`).
  typealias ReceivedInfo = hinix_received
  static let dontWait = HINIX_MSG_DONTWAIT
  static let peek = HINIX_MSG_PEEK
  static let truncated = HINIX_MSG_TRUNC
  static let controlTruncated = HINIX_MSG_CTRUNC
  static let peerCredentialsOption = HINIX_SO_PEERCRED
  static let peerPidfdOption = HINIX_SO_PEERPIDFD
  static let passCredentialsOption = HINIX_SO_PASSCRED
  /// The most descriptors one message may carry (the kernel's `SCM_MAX_FD`).
  static let maximumDescriptorsPerMessage = HINIX_SCM_MAX_FD
  /// The most buffers one gathering write may pass (`IOV_MAX`).
  static let maximumBuffersPerCall = HINIX_IOV_MAX
}
