import Glibc
import SystemPackage
import Testing

@testable import Hinix

@Suite("FIFOs", .timeLimit(.minutes(1)))
struct FIFOTests {
  /// A unique path in a fresh temporary folder, removed afterwards.
  private func withTemporaryPath<R>(_ body: (FilePath) throws -> R) throws -> R {
    var template = Array("/tmp/hinix-fifo-XXXXXX".utf8CString)
    let folder = try #require(template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) })
    let path = String(cString: folder)
    defer {
      unlink(path + "/fifo")
      rmdir(path)
    }
    return try body(FilePath(path + "/fifo"))
  }

  @Test func createdWithExactlyTheRequestedModeDespiteTheUmask() throws {
    try withTemporaryPath { path in
      // Ask for group and other write, which a usual umask (022, 077) would strip.
      let status = try readProcFile("/proc/self/status")
      let line = try #require(status.split(separator: "\n").first { $0.hasPrefix("Umask:") })
      let mask = try #require(Int(line.dropFirst("Umask:".count).trimmingWhitespace(), radix: 8))
      #expect(mask & 0o022 != 0, "the test needs a umask that strips group or other write")
      try FIFO.create(at: path, permissions: [.ownerReadWrite, .groupReadWrite, .otherReadWrite])
      var info = stat()
      #expect(stat(path.string, &info) == 0)
      #expect(info.st_mode & S_IFMT == S_IFIFO)
      #expect(info.st_mode & 0o777 == 0o666)
      let again = expectError(.alreadyExists) { try FIFO.create(at: path) }
      #expect(again?.subject == path.string)
    }
  }

  @Test func nonBlockingOpenForWritingWithNoReaderIsAValue() throws {
    try withTemporaryPath { path in
      try FIFO.create(at: path)
      #expect(try FIFO.tryOpenForWriting(path).isWouldBlock)
      let reader = try FIFO.tryOpenForReading(path)
      let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64, alignment: 1)
      defer { buffer.deallocate() }
      let writer = try #require(try FIFO.tryOpenForWriting(path).value)
      #expect(try reader.tryRead(into: buffer) == .wouldBlock)
      try writer.write("through the fifo")
      #expect(try reader.read(into: buffer) == 16)
      #expect(String(decoding: buffer[..<16], as: UTF8.self) == "through the fifo")
    }
  }

  @Test func blockingOpenForReadingWaitsForAWriterProcess() throws {
    try withTemporaryPath { path in
      try FIFO.create(at: path)
      let child = try spawnPeer(["fifo-write", path.string, "80", "hello from another process"])
      let start = ContinuousClock.now
      let reader = try FIFO.openForReading(path)
      #expect(ContinuousClock.now - start >= .milliseconds(60))
      var text: [UInt8] = []
      let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64, alignment: 1)
      defer { buffer.deallocate() }
      while true {
        let count = try reader.read(into: buffer)
        if count == 0 { break }
        text += buffer[..<count]
      }
      #expect(String(decoding: text, as: UTF8.self) == "hello from another process")
      #expect(try child.wait() == .exited(0))
    }
  }

  @Test func readWriteOpenNeverWaits() throws {
    try withTemporaryPath { path in
      try FIFO.create(at: path)
      let (reader, writer) = try FIFO.openReadWrite(path)
      try writer.write("loop")
      let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 8, alignment: 1)
      defer { buffer.deallocate() }
      #expect(try reader.read(into: buffer) == 4)
    }
  }

  @Test func removeOnlyRemovesFIFOs() throws {
    try withTemporaryPath { path in
      let file = try FileDescriptor.open(
        path, .writeOnly, options: [.create, .closeOnExec], permissions: .ownerReadWrite)
      try file.close()
      let error = expectError(.invalidArgument) { try FIFO.remove(path) }
      #expect(error?.description.contains("not a FIFO") == true)
      expectError(.invalidArgument) { try FIFO.tryOpenForReading(path) }
      unlink(path.string)
      expectError(.notFound) { try FIFO.remove(path) }
      expectError(.notFound) { try FIFO.tryOpenForReading(path) }
      try FIFO.create(at: path)
      try FIFO.remove(path)
      var info = stat()
      #expect(lstat(path.string, &info) != 0)
    }
  }
}
