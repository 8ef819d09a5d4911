import SystemPackage

/// Reads a small kernel file (under /proc) whole, as text.
func readProcFile(_ path: String, capacity: Int = 4096) throws(HinixError) -> String {
  do {
    let fd = try FileDescriptor.open(FilePath(path), .readOnly, options: .closeOnExec)
    defer { try? fd.close() }
    var buffer = [UInt8](repeating: 0, count: capacity)
    let count = try buffer.withUnsafeMutableBytes { try fd.read(into: $0) }
    return String(decoding: buffer[..<count], as: UTF8.self)
  } catch let errno as Errno {
    throw HinixError.system(errno, "open", subject: path)
  } catch {
    throw HinixError(.system, operation: "read", subject: path, detail: "\(error)")
  }
}

extension StringProtocol {
  func trimmingWhitespace() -> SubSequence {
    let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\n" || $0 == "\t" || $0 == "\r" }
    guard let first = firstIndex(where: { !isSpace($0) }) else { return self[endIndex...] }
    let last = lastIndex(where: { !isSpace($0) })!
    return self[first...last]
  }
}
