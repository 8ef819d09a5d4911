/// Anything whose bytes can be lent out contiguously without copying: what Hinix sends.
///
/// `[UInt8]`, `ArraySlice<UInt8>`, `ContiguousArray<UInt8>`, `UnsafeRawBufferPointer`, `String`
/// (its UTF-8) and `Substring` conform.
public protocol MessageBytes {
  /// Calls `body` with the bytes; the pointer is valid only during the call.
  func withMessageBytes<Result>(_ body: (UnsafeRawBufferPointer) -> Result) -> Result
}

extension Array: MessageBytes where Element == UInt8 {
  /// Lends the array's storage.
  public func withMessageBytes<Result>(_ body: (UnsafeRawBufferPointer) -> Result) -> Result {
    withUnsafeBytes(body)
  }
}

extension ArraySlice: MessageBytes where Element == UInt8 {
  /// Lends the slice's storage.
  public func withMessageBytes<Result>(_ body: (UnsafeRawBufferPointer) -> Result) -> Result {
    withUnsafeBytes(body)
  }
}

extension ContiguousArray: MessageBytes where Element == UInt8 {
  /// Lends the array's storage.
  public func withMessageBytes<Result>(_ body: (UnsafeRawBufferPointer) -> Result) -> Result {
    withUnsafeBytes(body)
  }
}

extension UnsafeRawBufferPointer: MessageBytes {
  /// Lends the buffer itself.
  public func withMessageBytes<Result>(_ body: (UnsafeRawBufferPointer) -> Result) -> Result {
    body(self)
  }
}

extension String: MessageBytes {
  /// Lends the string's UTF-8 bytes (copying only a string that is not stored as UTF-8).
  public func withMessageBytes<Result>(_ body: (UnsafeRawBufferPointer) -> Result) -> Result {
    var copy = self
    return copy.withUTF8 { body(UnsafeRawBufferPointer($0)) }
  }
}

extension Substring: MessageBytes {
  /// Lends the substring's UTF-8 bytes (copying only one that is not stored as UTF-8).
  public func withMessageBytes<Result>(_ body: (UnsafeRawBufferPointer) -> Result) -> Result {
    var copy = self
    return copy.withUTF8 { body(UnsafeRawBufferPointer($0)) }
  }
}
