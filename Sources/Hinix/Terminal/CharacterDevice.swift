import Glibc
import SystemPackage

/// A character device (`/dev/null`, `/dev/ttyUSB0`, `/dev/input/event3`, a driver's own node),
/// opened with a check that the node really is one, its device numbers, and typed `ioctl`
/// requests. A `Sendable` owner of its descriptor with every form of ``ByteReader`` and
/// ``ByteWriter``.
///
/// ```swift
/// let device = try CharacterDevice.open("/dev/ptmx")  // a new pty master
/// let getNumber = try IOControl<UInt32>.read(group: "T", number: 0x30)  // TIOCGPTN
/// var number: UInt32 = 0
/// try device.control(getNumber, &number)
/// ```
public final class CharacterDevice: ByteReader, ByteWriter, DescriptorOwner, Sendable {
  private let handle: OwnedDescriptor
  /// The path it was opened by.
  public let path: FilePath
  /// The device's major number: which driver.
  public let major: UInt32
  /// The device's minor number: which device of that driver.
  public let minor: UInt32

  /// The device's descriptor, still owned by this value.
  public var descriptor: FileDescriptor { handle.descriptor }

  /// This object's history of waits, which ``WaitStrategy/adaptive`` spins by.
  public let waitHistory = WaitHistory()

  /// What reads and writes do while they cannot go on (``WaitStrategy/adaptive`` unless changed).
  public var waitStrategy: WaitStrategy {
    get { handle.waitStrategy }
    set { handle.waitStrategy = newValue }
  }

  private init(handle: consuming OwnedDescriptor, path: FilePath, device: UInt64) {
    self.handle = handle
    self.path = path
    (major, minor) = Sys.deviceNumbers(device)
  }

  /// Opens `path`, close-on-exec and never as a controlling terminal (`O_NOCTTY`), and checks
  /// on the open descriptor (`fstat`, so nothing can swap the node in between) that it is a
  /// character device. The open never waits (a FIFO without a writer, or a serial line
  /// without carrier, would): it is non-blocking, and the descriptor is made blocking after the
  /// check unless `nonBlocking` is set.
  ///
  /// Blocking is the default because some drivers honour `O_NONBLOCK` without supporting
  /// `poll`. On a blocking device that refuses `RWF_NOWAIT` (most do), the try and async
  /// writes wait in `write` once `poll` reports room, and a device that takes part of a write
  /// slowly holds them there; open such a device (a terminal: use ``Terminal`` or
  /// ``SerialPort``) non-blocking when those forms must never wait.
  ///
  /// - Parameters:
  ///   - path: the device's node, such as `/dev/ttyUSB0`.
  ///   - access: swift-system's access mode (`O_RDONLY`, `O_WRONLY`, `O_RDWR`).
  ///   - nonBlocking: keep the descriptor `O_NONBLOCK` after the check.
  /// - Throws: `.invalidArgument` naming the path and what it is when it is not a character
  ///   device; `.notFound`, `.permissionDenied` and the other errors of `open`.
  /// The corresponding C functions are `open` and `fstat`.
  public static func open(
    _ path: FilePath, access: FileDescriptor.AccessMode = .readWrite, nonBlocking: Bool = false
  ) throws(HinixError) -> CharacterDevice {
    let flags = access.rawValue | O_NOCTTY | O_NONBLOCK
    let handle: OwnedDescriptor
    switch Sys.open(path, flags) {
    case .success(let fd): handle = OwnedDescriptor(adopting: FileDescriptor(rawValue: fd))
    case .failure(let error):
      throw HinixError.system(error, "open", subject: path.printable) { error in
        switch error {
        case .noSuchAddressOrDevice, .operationNotSupportedByDevice:
          (.notFound, "the node has no device behind it (no driver, or the device is gone)")
        default: nil
        }
      }
    }
    let status: Sys.FileStatus
    switch Sys.status(handle.descriptor.rawValue) {
    case .success(let value): status = value
    case .failure(let error): throw HinixError.system(error, "fstat", subject: path.printable)
    }
    guard status.isCharacterDevice else {
      throw HinixError(
        .invalidArgument, operation: "open", subject: path.printable,
        detail: "\(status.typeName), not a character device")
    }
    if !nonBlocking,
      case .failure(let error) = Sys.fcntl(handle.descriptor.rawValue, F_SETFL, access.rawValue)
    {
      throw HinixError.system(error, "fcntl(F_SETFL)", subject: path.printable)
    }
    Pipe.sigpipePolicy
    return CharacterDevice(handle: handle, path: path, device: status.specialDevice)
  }

  /// Sends `request` with `value` as its argument: the kernel reads it (`_IOW`), writes it
  /// (`_IOR`) or both (`_IOWR`). Returns the ioctl's result (0 for most requests).
  ///
  /// - Throws: `.invalidArgument` when the request's encoded size is not `Value`'s size, or when
  ///   it encodes no size at all (an older plain number) and was not made with
  ///   ``IOControl/init(unchecked:)``, which vouches for the argument;
  ///   `.unsupported` when the device does not know the request (`ENOTTY`); the request's
  ///   errno otherwise, naming it and the device.
  /// The corresponding C function is `ioctl`.
  @discardableResult
  public func control<Value: BitwiseCopyable>(_ request: IOControl<Value>, _ value: inout Value)
    throws(HinixError)
    -> Int32
  {
    if !request.isVouchedFor {
      guard request.direction != .none else {
        throw HinixError(
          .invalidArgument, operation: "ioctl", subject: path.printable,
          detail:
            "request \(request) encodes no argument size to check a \(MemoryLayout<Value>.size)-byte argument "
            + "against; make it with IOControl(unchecked:) if its argument is right")
      }
      guard request.size == MemoryLayout<Value>.size else {
        throw HinixError(
          .invalidArgument, operation: "ioctl", subject: path.printable,
          detail:
            "request \(request) encodes \(request.size) bytes but its argument has \(MemoryLayout<Value>.size)"
        )
      }
    }
    let fd = descriptor.rawValue
    let result = withUnsafeMutableBytes(of: &value) { Sys.ioctl(fd, request.rawValue, $0.baseAddress) }
    return try check(result, request)
  }

  /// Sends a request without an argument (`_IO`), or one whose argument is a plain number
  /// passed by value. Returns the ioctl's result.
  @discardableResult
  public func control(_ request: IOControl<Void>, value: UInt = 0) throws(HinixError) -> Int32 {
    try check(Sys.ioctl(descriptor.rawValue, request.rawValue, value: value), request)
  }

  private func check<Value>(_ result: Result<Int32, Errno>, _ request: IOControl<Value>) throws(HinixError)
    -> Int32
  {
    switch result {
    case .success(let value): return value
    case .failure(let error):
      throw HinixError.system(error, "ioctl(\(request))", subject: path.printable) { error in
        error == .inappropriateIOCTLForDevice ? (.unsupported, "the device does not know this request") : nil
      }
    }
  }
}

/// An `ioctl` request number with the type of its argument, encoded as the kernel's `_IO`,
/// `_IOR`, `_IOW` and `_IOWR` macros encode it: the direction (2 bits), the argument's size
/// (14 bits), a group letter (8 bits) and a number (8 bits).
///
/// ```swift
/// let getFlags = try IOControl<Int>.read(group: "f", number: 1)  // FS_IOC_GETFLAGS = 0x80086601
/// let getWindowSize = IOControl<UInt64>(unchecked: 0x5413)  // TIOCGWINSZ, an older plain number
/// ```
///
/// ``CharacterDevice/control(_:_:)`` checks that the argument's size is the one the request
/// encodes, so a wrong `Value` is an error, not memory the kernel writes past.
public struct IOControl<Value>: Sendable, Hashable, CustomStringConvertible {
  /// The request number.
  public let rawValue: UInt
  /// Whether the maker vouched for the argument of a request whose encoding cannot be checked.
  let isVouchedFor: Bool

  /// Requests are the same when their numbers are.
  public static func == (left: IOControl, right: IOControl) -> Bool { left.rawValue == right.rawValue }

  /// Hashes the number.
  public func hash(into hasher: inout Hasher) { hasher.combine(rawValue) }

  /// A request by its number, as a header defines it; the size it encodes is checked against
  /// the argument's.
  public init(rawValue: UInt) {
    self.rawValue = rawValue
    isVouchedFor = false
  }

  /// A request by a number that does not encode its argument (the older requests, such as
  /// `TIOCGWINSZ` = `0x5413`): the size check is skipped, so `Value` must be exactly what the
  /// driver reads or writes.
  public init(unchecked rawValue: UInt) {
    self.rawValue = rawValue
    isVouchedFor = true
  }

  /// Which way the argument goes, seen from the program.
  public enum Direction: UInt, Sendable, Hashable {
    /// No argument, or one passed by value (`_IO`).
    case none = 0
    /// The kernel reads the argument (`_IOW`: the program writes).
    case write = 1
    /// The kernel fills the argument in (`_IOR`: the program reads).
    case read = 2
    /// Both (`_IOWR`).
    case readWrite = 3
  }

  /// The largest argument size the encoding holds.
  public static var maximumSize: Int { (1 << 14) - 1 }

  private static func encode(
    _ direction: Direction, _ group: Unicode.Scalar, _ number: UInt8, size: Int
  ) throws(HinixError) -> UInt {
    guard group.isASCII else {
      throw HinixError(
        .invalidArgument, operation: "ioctl request", detail: "group \"\(group)\" is not one byte")
    }
    guard size <= maximumSize else {
      throw HinixError(
        .invalidArgument, operation: "ioctl request",
        detail: "an argument of \(size) bytes is larger than the \(maximumSize) the encoding holds")
    }
    return direction.rawValue << 30 | UInt(size) << 16 | UInt(group.value) << 8 | UInt(number)
  }

  /// The direction encoded in the request.
  public var direction: Direction { Direction(rawValue: rawValue >> 30 & 3)! }
  /// The argument's size encoded in the request.
  public var size: Int { Int(rawValue >> 16 & 0x3FFF) }
  /// The group letter encoded in the request.
  public var group: UInt8 { UInt8(truncatingIfNeeded: rawValue >> 8) }
  /// The number within the group.
  public var number: UInt8 { UInt8(truncatingIfNeeded: rawValue) }

  /// The request as the kernel's headers write it, `_IOR('T', 0x30, 4)`, and its number.
  public var description: String {
    let name = ["_IO", "_IOW", "_IOR", "_IOWR"][Int(direction.rawValue)]
    let letter = Unicode.Scalar(group).isASCII && group >= 0x20 ? "'\(Unicode.Scalar(group))'" : "\(group)"
    let number = "0x" + String(self.number, radix: 16)
    let hex = "0x" + String(rawValue, radix: 16)
    return direction == .none
      ? "\(name)(\(letter), \(number)) = \(hex)" : "\(name)(\(letter), \(number), \(size)) = \(hex)"
  }
}

extension IOControl where Value == Void {
  /// `_IO(group, number)`: a request without an argument (or with a number passed by value).
  public static func none(group: Unicode.Scalar, number: UInt8) throws(HinixError) -> IOControl<Void> {
    IOControl(rawValue: try encode(.none, group, number, size: 0))
  }
}

extension IOControl where Value: BitwiseCopyable {
  /// `_IOR(group, number, Value)`: the kernel fills a `Value` in.
  public static func read(group: Unicode.Scalar, number: UInt8) throws(HinixError) -> IOControl {
    IOControl(rawValue: try encode(.read, group, number, size: MemoryLayout<Value>.size))
  }

  /// `_IOW(group, number, Value)`: the kernel reads a `Value`.
  public static func write(group: Unicode.Scalar, number: UInt8) throws(HinixError) -> IOControl {
    IOControl(rawValue: try encode(.write, group, number, size: MemoryLayout<Value>.size))
  }

  /// `_IOWR(group, number, Value)`: the kernel reads a `Value` and writes one back.
  public static func readWrite(group: Unicode.Scalar, number: UInt8) throws(HinixError) -> IOControl {
    IOControl(rawValue: try encode(.readWrite, group, number, size: MemoryLayout<Value>.size))
  }
}
