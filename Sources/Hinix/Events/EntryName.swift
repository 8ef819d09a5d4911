import Glibc
import SystemPackage

/// The name a file event carries, as the kernel gave it, kept without an allocation when it is
/// short (most names are): a `FilePath.Component` is made only when someone asks for it.
///
/// A component is backed by an array, so making one per event was an allocation (and a parse)
/// per event, the largest part of decoding a storm of events. Names compare and hash by their
/// bytes, whichever way they are kept.
struct EntryName: Sendable, Hashable {
  /// Names up to this many bytes are kept inline.
  static let inlineCapacity = MemoryLayout<Inline>.size

  /// The bytes of a short name; unused past `count`. A struct of four words, not a tuple:
  /// a tuple's copies and destruction went through the runtime's generic tuple witnesses.
  private struct Inline {
    var first: UInt64 = 0
    var second: UInt64 = 0
    var third: UInt64 = 0
    var fourth: UInt64 = 0
  }
  private var bytes = Inline()
  /// The length of a short name; `Self.long` when `boxed` holds the name.
  private var count: UInt8
  /// A long name, or one given as a component, in a box: one reference, so that copying and
  /// destroying a name is a retain and a release, not an optional component's witnesses.
  private var boxed: Boxed?

  /// A name kept as a component; nil for a long name no component can hold.
  private final class Boxed: Sendable {
    let component: FilePath.Component?
    init(_ component: FilePath.Component?) { self.component = component }
  }

  private static let long = UInt8.max

  /// No name: an event about the watched object itself.
  init() {
    count = 0
  }

  /// Whether there is no name.
  var isEmpty: Bool { count == 0 }

  /// The name in `raw` (without its NUL padding); empty when `raw` is.
  init(raw: UnsafeRawBufferPointer) {
    guard raw.count <= Self.inlineCapacity else {
      count = Self.long
      boxed = Boxed(EntryName.component(raw))
      return
    }
    count = UInt8(raw.count)
    withUnsafeMutableBytes(of: &bytes) { $0.copyMemory(from: raw) }
  }

  /// A name given as a component: its bytes inline when short, else the component boxed.
  init(_ component: FilePath.Component) {
    let length = component.withPlatformString { strlen($0) }
    guard length <= Self.inlineCapacity else {
      count = Self.long
      boxed = Boxed(component)
      return
    }
    count = UInt8(length)
    component.withPlatformString { text in
      withUnsafeMutableBytes(of: &bytes) {
        $0.copyMemory(from: UnsafeRawBufferPointer(start: text, count: length))
      }
    }
  }

  /// The name as a path component; nil for bytes no component can hold (the kernel never
  /// reports such a name: it is never empty and holds no `/`).
  var asComponent: FilePath.Component? {
    count == Self.long ? boxed?.component : withBytes(EntryName.component)
  }

  /// Calls `body` with the name's bytes (no NUL).
  func withBytes<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
    guard count == Self.long else {
      return withUnsafeBytes(of: bytes) { body(UnsafeRawBufferPointer(rebasing: $0[..<Int(count)])) }
    }
    guard let component = boxed?.component else { return body(UnsafeRawBufferPointer(start: nil, count: 0)) }
    return component.withPlatformString { text in
      var length = 0
      while text[length] != 0 { length += 1 }
      return body(UnsafeRawBufferPointer(start: text, count: length))
    }
  }

  /// Calls `body` with the name as a NUL-terminated C string.
  func withCString<R>(_ body: (UnsafePointer<CChar>) -> R) -> R {
    withBytes { EntryName.withCString($0, body) }
  }

  /// Calls `body` with `raw`'s bytes as a NUL-terminated C string, on the stack.
  private static func withCString<R>(_ raw: UnsafeRawBufferPointer, _ body: (UnsafePointer<CChar>) -> R) -> R
  {
    withUnsafeTemporaryAllocation(of: CChar.self, capacity: raw.count + 1) { text in
      for index in 0..<raw.count { text[index] = CChar(bitPattern: raw[index]) }
      text[raw.count] = 0
      return body(text.baseAddress!)
    }
  }

  /// `folder` with this name appended, made from bytes: no path component is taken apart or
  /// made (in a debug build, making a component costs more than the rest of a folder's upkeep).
  func appended(to folder: FilePath) -> FilePath {
    folder.withPlatformString { base in
      withBytes { raw in
        let baseLength = strlen(base)
        let slash = baseLength > 0 && base[baseLength - 1] != 0x2F ? 1 : 0
        return withUnsafeTemporaryAllocation(of: CChar.self, capacity: baseLength + slash + raw.count + 1) {
          text in
          text.baseAddress!.update(from: base, count: baseLength)
          if slash == 1 { text[baseLength] = 0x2F }
          for index in 0..<raw.count { text[baseLength + slash + index] = CChar(bitPattern: raw[index]) }
          text[baseLength + slash + raw.count] = 0
          return FilePath(platformString: text.baseAddress!)
        }
      }
    }
  }

  /// A component of `raw`'s bytes.
  private static func component(_ raw: UnsafeRawBufferPointer) -> FilePath.Component? {
    withCString(raw) { FilePath.Component(platformString: $0) }
  }

  static func == (left: EntryName, right: EntryName) -> Bool {
    left.withBytes { one in right.withBytes { other in one.elementsEqual(other) } }
  }

  func hash(into hasher: inout Hasher) {
    withBytes { hasher.combine(bytes: $0) }
  }
}
