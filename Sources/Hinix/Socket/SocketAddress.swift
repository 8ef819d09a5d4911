import Glibc
import SystemPackage

/// Where a socket is, or is to be: a Unix-domain name or an IP address and port.
///
/// Unix-domain names come in three kinds on Linux: a filesystem path, a name in the abstract
/// namespace (no file, no permissions, gone when the last socket bound to it closes), and no
/// name at all. Binding ``unnamed`` asks the kernel to *autobind* a fresh abstract name.
///
/// Linux names are bytes, not text: a path is a `FilePath` and an abstract name a byte array,
/// carried to the kernel and back unchanged, so a name that is not valid UTF-8 works as it does
/// with socat or Python. Error messages show such bytes escaped (`\xff`).
public enum SocketAddress: Sendable, Hashable, CustomStringConvertible {
  /// A socket file at a path (at most 107 bytes, without NUL bytes).
  case path(FilePath)
  /// A name in Linux's abstract namespace, as bytes without the leading NUL (at most 107;
  /// they may include NUL and need not be UTF-8).
  case abstract([UInt8])
  /// No name: the peer of a socketpair or an unbound client. Binding it autobinds.
  case unnamed
  /// An IPv4 address in dotted form and a port.
  case ipv4(String, port: UInt16)
  /// An IPv6 address in text form and a port.
  case ipv6(String, port: UInt16)

  /// The most bytes a path or abstract name may have: `sun_path` holds 108 with the terminator
  /// or the abstract name's leading NUL.
  public static let maximumUnixNameLength = 107

  /// A path name checked as text: a NUL byte, which `FilePath` would silently cut the path at,
  /// is an error here, as are an empty path and one above 107 bytes.
  public init(path text: String) throws(HinixError) {
    if let nul = text.utf8.firstIndex(of: 0) {
      let offset = text.utf8.distance(from: text.utf8.startIndex, to: nul)
      throw HinixError(
        .invalidName, operation: "sockaddr_un",
        subject: text.split(separator: "\u{0}", omittingEmptySubsequences: false).joined(separator: "\\0"),
        detail: "the path contains a NUL byte at offset \(offset)")
    }
    self = .path(FilePath(text))
    _ = try withSockaddr(operation: "sockaddr_un") { _, _ in () }
  }

  /// A name in Linux's abstract namespace, given as text (its UTF-8 bytes).
  public static func abstract(_ name: String) -> SocketAddress { .abstract(Array(name.utf8)) }

  /// The IPv4 loopback address with `port` (0 lets the kernel choose at bind).
  public static func loopback(port: UInt16) -> SocketAddress { .ipv4("127.0.0.1", port: port) }

  /// The address family, such as `AF_UNIX`.
  var family: Int32 {
    switch self {
    case .path, .abstract, .unnamed: AF_UNIX
    case .ipv4: AF_INET
    case .ipv6: AF_INET6
    }
  }

  /// The path or name as written; the form used in error messages.
  public var description: String {
    switch self {
    case .path(let path): path.printable
    case .abstract(let name): "@" + Printable.escaping(name)
    case .unnamed: "(unnamed)"
    case .ipv4(let host, let port): "\(host):\(port)"
    case .ipv6(let host, let port): "[\(host)]:\(port)"
    }
  }

  /// The port of an IP address, or nil for a Unix-domain name.
  public var port: UInt16? {
    switch self {
    case .ipv4(_, let port), .ipv6(_, let port): port
    default: nil
    }
  }

  /// Calls `body` with this address encoded as a `sockaddr` and its length, after checking the
  /// name against the kernel's limits.
  func withSockaddr<R>(
    operation: String, _ body: (UnsafeRawPointer, UInt32) -> R
  ) throws(HinixError) -> R {
    var storage = sockaddr_storage()
    let length = try encode(into: &storage, operation: operation)
    return withUnsafeBytes(of: &storage) { body($0.baseAddress!, length) }
  }

  private func encode(into storage: inout sockaddr_storage, operation: String) throws(HinixError) -> UInt32 {
    let pathOffset = MemoryLayout<sockaddr_un>.offset(of: \sockaddr_un.sun_path)!
    func unixName(_ bytes: [UInt8], abstract: Bool) throws(HinixError) -> UInt32 {
      let kind = abstract ? "abstract name" : "path"
      if bytes.isEmpty && !abstract {
        throw HinixError(
          .invalidName, operation: operation, subject: description, detail: "the path is empty")
      }
      if !abstract && bytes.contains(0) {
        throw HinixError(
          .invalidName, operation: operation, subject: description,
          detail: "the path contains a NUL byte")
      }
      if bytes.count > SocketAddress.maximumUnixNameLength {
        throw HinixError(
          .invalidName, operation: operation, subject: description,
          detail:
            "the \(kind) is \(bytes.count) bytes, above the limit of \(SocketAddress.maximumUnixNameLength) "
            + "(sun_path holds 108 bytes)")
      }
      return withUnsafeMutableBytes(of: &storage) { raw in
        raw.storeBytes(of: sa_family_t(AF_UNIX), as: sa_family_t.self)
        let start = pathOffset + (abstract ? 1 : 0)
        for (index, byte) in bytes.enumerated() { raw[start + index] = byte }
        // A path's length counts its terminator; an abstract name's counts only its bytes.
        return UInt32(start + bytes.count + (abstract ? 0 : 1))
      }
    }
    switch self {
    case .path(let path):
      return try unixName(path.bytes, abstract: false)
    case .abstract(let name):
      return try unixName(name, abstract: true)
    case .unnamed:
      withUnsafeMutableBytes(of: &storage) { $0.storeBytes(of: sa_family_t(AF_UNIX), as: sa_family_t.self) }
      return UInt32(MemoryLayout<sa_family_t>.size)
    case .ipv4(let host, let port):
      var address = sockaddr_in()
      address.sin_family = sa_family_t(AF_INET)
      address.sin_port = port.bigEndian
      try parse(
        host, AF_INET, into: &address.sin_addr, operation: operation,
        expected: "an IPv4 address in dotted form")
      withUnsafeMutableBytes(of: &storage) { $0.storeBytes(of: address, as: sockaddr_in.self) }
      return UInt32(MemoryLayout<sockaddr_in>.size)
    case .ipv6(let host, let port):
      var address = sockaddr_in6()
      address.sin6_family = sa_family_t(AF_INET6)
      address.sin6_port = port.bigEndian
      try parse(host, AF_INET6, into: &address.sin6_addr, operation: operation, expected: "an IPv6 address")
      withUnsafeMutableBytes(of: &storage) { $0.storeBytes(of: address, as: sockaddr_in6.self) }
      return UInt32(MemoryLayout<sockaddr_in6>.size)
    }
  }

  /// Parses the text form of an IP address of `family` into `address` (`inet_pton`).
  private func parse<Address>(
    _ host: String, _ family: Int32, into address: inout Address, operation: String, expected: String
  ) throws(HinixError) {
    guard withUnsafeMutableBytes(of: &address, { inet_pton(family, host, $0.baseAddress) }) == 1 else {
      throw HinixError(
        .invalidName, operation: operation, subject: description, detail: "\"\(host)\" is not \(expected)")
    }
  }

  /// The text form of the IP address at `address` of `family` (`inet_ntop`).
  private static func text<Address>(
    _ family: Int32, _ address: inout Address, length: Int32
  ) -> String {
    var text = [CChar](repeating: 0, count: Int(length))
    _ = withUnsafeBytes(of: &address) { inet_ntop(family, $0.baseAddress, &text, socklen_t(text.count)) }
    return text.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
  }

  /// Decodes what the kernel wrote into a `sockaddr_storage` (getsockname, accept, recvmsg).
  init(decoding storage: UnsafeRawBufferPointer, length: UInt32) {
    let length = Int(min(length, UInt32(storage.count)))
    guard length >= MemoryLayout<sa_family_t>.size else {
      self = .unnamed
      return
    }
    let family = Int32(storage.load(as: sa_family_t.self))
    switch family {
    case AF_INET where length >= MemoryLayout<sockaddr_in>.size:
      var address = storage.load(as: sockaddr_in.self)
      self = .ipv4(
        Self.text(AF_INET, &address.sin_addr, length: INET_ADDRSTRLEN),
        port: UInt16(bigEndian: address.sin_port))
    case AF_INET6 where length >= MemoryLayout<sockaddr_in6>.size:
      var address = storage.load(fromByteOffset: 0, as: sockaddr_in6.self)
      self = .ipv6(
        Self.text(AF_INET6, &address.sin6_addr, length: INET6_ADDRSTRLEN),
        port: UInt16(bigEndian: address.sin6_port))
    case AF_UNIX:
      let pathOffset = MemoryLayout<sockaddr_un>.offset(of: \sockaddr_un.sun_path)!
      guard length > pathOffset else {
        self = .unnamed
        return
      }
      let name = storage[pathOffset..<length]
      if name.first == 0 {
        self = .abstract(Array(name.dropFirst()))
      } else {
        self = .path(FilePath(bytes: name.prefix { $0 != 0 }))
      }
    default:
      self = .unnamed
    }
  }
}
