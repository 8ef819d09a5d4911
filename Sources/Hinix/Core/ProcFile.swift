import Glibc
import SystemPackage

/// Reads a small file whole (a kernel file under /proc, whose size `stat` does not tell), as
/// text.
package func readProcFile(_ path: FilePath) throws(HinixError) -> String {
  let fd: Int32
  switch Sys.open(path, O_RDONLY) {
  case .success(let value): fd = value
  case .failure(let error): throw HinixError.system(error, "open", subject: path.printable)
  }
  defer { _ = Sys.close(fd) }
  var bytes: [UInt8] = []
  var chunk = [UInt8](repeating: 0, count: 4096)
  while true {
    switch chunk.withUnsafeMutableBytes({ Sys.read(fd, $0) }) {
    case .success(0): return String(decoding: bytes, as: UTF8.self)
    case .success(let count): bytes += chunk[..<count]
    case .failure(let error): throw HinixError.system(error, "read", subject: path.printable)
    }
  }
}

/// The value in a one-line /proc file such as a limit under /proc/sys, trimmed, for an error
/// message; "?" when it cannot be read.
package func procValue(_ path: String) -> String {
  (try? readProcFile(FilePath(path))).map { String($0.trimmingWhitespace()) } ?? "?"
}

extension StringProtocol {
  package func trimmingWhitespace() -> SubSequence {
    let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\n" || $0 == "\t" || $0 == "\r" }
    guard let first = firstIndex(where: { !isSpace($0) }) else { return self[endIndex...] }
    let last = lastIndex(where: { !isSpace($0) })!
    return self[first...last]
  }
}
