import CHinix
import Glibc
import SystemPackage

/// POSIX message queues (see ``Sys``).
extension Sys {
  // MARK: Message queues

  static func mqOpen(
    _ name: UnsafePointer<CChar>, _ flags: Int32, _ mode: mode_t, _ attributes: hinix_mq_attr?
  ) -> Result<Int32, Errno> {
    retrying(true) {
      if var attributes {
        return hinix_mq_open(name, flags, mode, &attributes)
      }
      return hinix_mq_open(name, flags, mode, nil)
    }
  }

  static func mqUnlink(_ name: UnsafePointer<CChar>) -> Result<Void, Errno> {
    result(hinix_mq_unlink(name)).map { _ in () }
  }

  static func mqSend(
    _ fd: Int32, _ bytes: UnsafeRawBufferPointer, _ priority: UInt32,
    deadline: UnsafePointer<timespec>?, retryOnInterrupt: Bool = true
  ) -> Result<Void, Errno> {
    retrying(retryOnInterrupt) {
      if let deadline {
        return hinix_mq_timedsend(fd, bytes.baseAddress, bytes.count, priority, deadline)
      }
      return hinix_mq_send(fd, bytes.baseAddress, bytes.count, priority)
    }.map { _ in () }
  }

  static func mqReceive(
    _ fd: Int32, _ buffer: UnsafeMutableRawBufferPointer, _ priority: inout UInt32,
    deadline: UnsafePointer<timespec>?, retryOnInterrupt: Bool = true
  ) -> Result<Int, Errno> {
    retrying(retryOnInterrupt) {
      if let deadline {
        return hinix_mq_timedreceive(fd, buffer.baseAddress, buffer.count, &priority, deadline)
      }
      return hinix_mq_receive(fd, buffer.baseAddress, buffer.count, &priority)
    }
  }

  static func mqGetAttributes(_ fd: Int32) -> Result<hinix_mq_attr, Errno> {
    var attributes = hinix_mq_attr()
    return result(hinix_mq_getattr(fd, &attributes)).map { _ in attributes }
  }

  static func mqSetFlags(_ fd: Int32, _ flags: Int) -> Result<Void, Errno> {
    result(hinix_mq_setattr(fd, flags, nil)).map { _ in () }
  }

  /// The four fields of `struct mq_attr` that Linux uses.
  typealias QueueAttributes = hinix_mq_attr
}
