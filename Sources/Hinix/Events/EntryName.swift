import SystemPackage

/// The name a file event carries, as the kernel gave it, kept without an allocation when it is
/// short (most names are): a `FilePath.Component` is made only when someone asks for it.
///
/// A component is backed by an array, so making one per event was an allocation (and a parse)
/// per event, the largest part of decoding a storm of events.
struct EntryName: Sendable, Hashable {
  /// Names up to this many bytes are kept inline.
  static let inlineCapacity = 30

  /// The bytes of a short name; unused past `count`.
  private var bytes = InlineArray<30, UInt8>(repeating: 0)
  /// The length of a short name; `Self.long` when `component` holds the name.
  private var count: UInt8
  /// A long name, or one given as a component.
  private var component: FilePath.Component?

  private static let long = UInt8.max

  /// The name in `raw` (without its NUL padding).
  init(raw: UnsafeRawBufferPointer) {
    guard raw.count <= Self.inlineCapacity else {
      count = Self.long
      component = EntryName.component(count: raw.count) { raw[$0] }
      return
    }
    count = UInt8(raw.count)
    var span = bytes.mutableSpan
    span.withUnsafeMutableBytes { $0.copyMemory(from: raw) }
  }

  /// A name given as a component.
  init(_ component: FilePath.Component) {
    count = Self.long
    self.component = component
  }

  /// The name as a path component; nil for bytes no component can hold (the kernel never
  /// reports such a name: it is never empty and holds no `/`).
  var asComponent: FilePath.Component? {
    if count == Self.long { return component }
    return EntryName.component(count: Int(count)) { bytes[$0] }
  }

  /// A component of `count` bytes, `byte(i)` the i-th.
  private static func component(count: Int, _ byte: (Int) -> UInt8) -> FilePath.Component? {
    withUnsafeTemporaryAllocation(of: CChar.self, capacity: count + 1) { text in
      for index in 0..<count { text[index] = CChar(bitPattern: byte(index)) }
      text[count] = 0
      return FilePath.Component(platformString: text.baseAddress!)
    }
  }

  static func == (left: EntryName, right: EntryName) -> Bool {
    if left.count == long || right.count == long { return left.asComponent == right.asComponent }
    guard left.count == right.count else { return false }
    for index in 0..<Int(left.count) where left.bytes[index] != right.bytes[index] { return false }
    return true
  }

  func hash(into hasher: inout Hasher) {
    hasher.combine(asComponent)
  }
}
