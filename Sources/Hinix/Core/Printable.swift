import Glibc
import SystemPackage

extension FilePath {
  /// The path's bytes as the kernel sees them (no NUL terminator).
  var bytes: [UInt8] {
    withPlatformString { name in
      UnsafeRawBufferPointer(start: name, count: strlen(name)).map { $0 }
    }
  }

  /// The path whose bytes are `bytes` (up to a NUL, which no path holds), whatever they are.
  init(bytes: some Collection<UInt8>) {
    var terminated = bytes.prefix { $0 != 0 }.map { CChar(bitPattern: $0) }
    terminated.append(0)
    self = terminated.withUnsafeBufferPointer { FilePath(platformString: $0.baseAddress!) }
  }

  /// The path for an error message: its bytes as text where they are valid UTF-8, and every
  /// other byte, control character and backslash escaped (`\xff`, `\x0a`, `\\`), so a name that
  /// is not UTF-8 is shown as it is instead of being rewritten with U+FFFD.
  package var printable: String { Printable.escaping(bytes) }
}

/// Text for messages made from bytes that need not be UTF-8 (paths, abstract socket names).
enum Printable {
  /// `bytes` as text, escaping what is not printable UTF-8 (see ``FilePath/printable``).
  static func escaping(_ bytes: some Collection<UInt8>) -> String {
    let bytes = Array(bytes)
    var text = ""
    var index = 0
    while index < bytes.count {
      let lead = bytes[index]
      let length =
        switch lead {
        case 0..<0x80: 1
        case 0xC2...0xDF: 2
        case 0xE0...0xEF: 3
        case 0xF0...0xF4: 4
        default: 0
        }
      if length == 1 {
        if lead < 0x20 || lead == 0x7F {
          text += hex(lead)
        } else if lead == UInt8(ascii: "\\") {
          text += "\\\\"
        } else {
          text.unicodeScalars.append(Unicode.Scalar(lead))
        }
        index += 1
      } else if length > 1, index + length <= bytes.count,
        let scalar = String(validating: bytes[index..<index + length], as: UTF8.self)
      {
        text += scalar
        index += length
      } else {
        text += hex(lead)
        index += 1
      }
    }
    return text
  }

  private static func hex(_ byte: UInt8) -> String {
    let digits = Array("0123456789abcdef")
    return "\\x\(digits[Int(byte >> 4)])\(digits[Int(byte & 15)])"
  }
}
