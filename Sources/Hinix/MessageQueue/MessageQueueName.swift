import SystemPackage

extension MessageQueue {
  /// A queue's name as the kernel keeps it: bytes, one leading `/` and then 1 to 255 bytes that
  /// are neither `/` nor NUL, and need not be UTF-8 (a C program may create `"/caf\xe9"`).
  ///
  /// Write one as a string literal (`"/jobs"`), from a `String` (`Name(name)`), or from bytes
  /// (`Name(bytes:)`). Its ``description`` shows bytes that are not printable UTF-8 escaped.
  public struct Name: Sendable, Hashable, ExpressibleByStringInterpolation, CustomStringConvertible {
    /// The name's bytes, the leading `/` included, without a NUL terminator.
    public let bytes: [UInt8]

    /// The name spelled by `string` (its UTF-8 bytes).
    public init(_ string: String) {
      bytes = Array(string.utf8)
    }

    /// The name made of `bytes`, whatever they are; `MessageQueue.validate(name:operation:)`
    /// says whether the kernel accepts it.
    public init(bytes: [UInt8]) {
      self.bytes = bytes
    }

    /// The name spelled by a string literal.
    public init(stringLiteral value: String) {
      self.init(value)
    }

    /// The name as text, with bytes that are not printable UTF-8 escaped (`\xe9`): for
    /// messages, not for opening the queue again.
    public var description: String { Printable.escaping(bytes) }

    /// The name as a `String` when its bytes are valid UTF-8 (so that it names the same queue,
    /// for example as another process's argument); `nil` when they are not.
    public var string: String? { String(validating: bytes, as: UTF8.self) }

    /// Calls `body` with the name as a NUL-terminated C string.
    func withCString<R>(_ body: (UnsafePointer<CChar>) -> R) -> R {
      (bytes.map { CChar(bitPattern: $0) } + [0]).withUnsafeBufferPointer { body($0.baseAddress!) }
    }
  }
}

extension MessageQueue {
  /// Opens an existing queue named by a `String` (see ``init(opening:access:nonBlocking:)``).
  @_disfavoredOverload
  public convenience init(opening name: String, access: Access = .readWrite, nonBlocking: Bool = false)
    throws(HinixError)
  {
    try self.init(opening: Name(name), access: access, nonBlocking: nonBlocking)
  }

  /// Creates or opens a queue named by a `String` (see
  /// ``init(creating:access:permissions:capacity:exclusive:nonBlocking:)``).
  @_disfavoredOverload
  public convenience init(
    creating name: String, access: Access = .readWrite, permissions: FilePermissions = [.ownerReadWrite],
    capacity: Capacity? = nil, exclusive: Bool = false, nonBlocking: Bool = false
  ) throws(HinixError) {
    try self.init(
      creating: Name(name), access: access, permissions: permissions, capacity: capacity,
      exclusive: exclusive,
      nonBlocking: nonBlocking)
  }

  /// Takes ownership of a message-queue descriptor opened by a `String` name (see
  /// `init(adopting:name:)` with a `Name`).
  @_disfavoredOverload
  public convenience init(adopting descriptor: FileDescriptor, name: String?) throws(HinixError) {
    try self.init(adopting: descriptor, name: name.map { Name($0) })
  }

  /// Checks a queue name given as a `String` (see `validate(name:operation:)` with a `Name`).
  @_disfavoredOverload
  public static func validate(name: String, operation: String = "mq_open") throws(HinixError) {
    try validate(name: Name(name), operation: operation)
  }

  /// Removes the queue named by a `String` (see ``unlink(_:)-swift.type.method``).
  @_disfavoredOverload
  public static func unlink(_ name: String) throws(HinixError) {
    try unlink(Name(name))
  }
}
