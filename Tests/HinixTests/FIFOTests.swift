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
      guard case .completed(let reader) = try FIFO.tryOpenForReading(path) else {
        Issue.record("opening for reading never waits")
        return
      }
      let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64, alignment: 1)
      defer { buffer.deallocate() }
      let writer = try #require(try FIFO.tryOpenForWriting(path).value)
      #expect(try reader.tryRead(into: buffer) == .wouldBlock)
      try writer.blockingWrite("through the fifo")
      #expect(try reader.blockingRead(into: buffer) == 16)
      #expect(String(decoding: buffer[..<16], as: UTF8.self) == "through the fifo")
    }
  }

  @Test func blockingOpenForReadingWaitsForAWriterProcess() throws {
    try withTemporaryPath { path in
      try FIFO.create(at: path)
      let child = try spawnPeer(["fifo-write", path.string, "80", "hello from another process"])
      let start = ContinuousClock.now
      let reader = try FIFO.blockingOpenForReading(path)
      #expect(ContinuousClock.now - start >= .milliseconds(60))
      var text: [UInt8] = []
      let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64, alignment: 1)
      defer { buffer.deallocate() }
      while true {
        let count = try reader.blockingRead(into: buffer)
        if count == 0 { break }
        text += buffer[..<count]
      }
      #expect(String(decoding: text, as: UTF8.self) == "hello from another process")
      #expect(try child.blockingWait() == .exited(0))
    }
  }

  /// A new FIFO in a new folder, both removed after `body`.
  private func withTemporaryFIFO(_ body: (FilePath) async throws -> Void) async throws {
    var template = Array("/tmp/hinix-fifo-XXXXXX".utf8CString)
    let folder = String(
      cString: try #require(template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }))
    defer {
      unlink(folder + "/fifo")
      rmdir(folder)
    }
    let path = FilePath(folder + "/fifo")
    try FIFO.create(at: path)
    try await body(path)
  }

  @Test func asyncOpensWaitForTheOtherProcess() async throws {
    try await withTemporaryFIFO { path in
      let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64, alignment: 1)
      defer { buffer.deallocate() }
      // Reading: the writer process opens 80 ms later.
      let writerChild = try spawnPeer(["fifo-write", path.string, "80", "async from another process"])
      var start = ContinuousClock.now
      var text: [UInt8] = []
      do {
        let reader = try await FIFO.openForReading(path)
        #expect(ContinuousClock.now - start >= .milliseconds(60))
        while case let count = try await reader.read(into: buffer), count > 0 { text += buffer[..<count] }
      }
      #expect(String(decoding: text, as: UTF8.self) == "async from another process")
      #expect(try await writerChild.wait() == .exited(0))

      // Writing: the reader process opens 80 ms later and copies what it reads into a pipe.
      let (fromChild, readerChild) = try {
        let (fromChild, toParent) = try Pipe.create()
        return (
          fromChild, try spawnPeer(["fifo-read", path.string, "80"], passing: [toParent.descriptor: 3])
        )
      }()
      start = ContinuousClock.now
      do {
        let writer = try await FIFO.openForWriting(path)
        #expect(ContinuousClock.now - start >= .milliseconds(60))
        try await writer.write("into the reader process")
      }
      text = []
      while case let count = try await fromChild.read(into: buffer), count > 0 { text += buffer[..<count] }
      #expect(String(decoding: text, as: UTF8.self) == "into the reader process")
      #expect(try await readerChild.wait() == .exited(0))
    }
  }

  @Test("an async open for reading returns when a writer connects, before it writes")
  func asyncOpenFindsAnIdleWriter() async throws {
    try await withTemporaryFIFO { path in
      // The writer opens after 50 ms and writes only when told to.
      let (go, goWriter) = try Pipe.create()
      let child = try spawnPeer(["fifo-write", path.string, "50", "late", "go"], passing: [go.descriptor: 3])
      let reader = try await FIFO.openForReading(path)
      // Connected, nothing written yet: the probe consumed nothing.
      let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 16, alignment: 1)
      defer { buffer.deallocate() }
      #expect(try reader.tryRead(into: buffer) == .wouldBlock)
      try await goWriter.write("!")
      #expect(try await reader.read(into: buffer) == 4)
      #expect(String(decoding: buffer[..<4], as: UTF8.self) == "late")
      #expect(try await child.wait() == .exited(0))
    }
  }

  @Test(
    "cancelling an async open ends its wait and leaves nothing open, even when the FIFO's path is gone",
    arguments: [false, true])
  func cancelledAsyncOpen(removingThePath: Bool) async throws {
    try await withTemporaryFIFO { path in
      let opening = Task { try await FIFO.openForReading(path) }
      try await Task.sleep(for: .milliseconds(50))
      if removingThePath { try FIFO.remove(path) }
      opening.cancel()
      await #expect(throws: CancellationError.self) { _ = try await opening.value }
      if !removingThePath {
        // No reader is left open: neither the cancelled open's nor the interrupting one.
        #expect(try FIFO.tryOpenForWriting(path).isWouldBlock)
      }
      let missing = FilePath(path.string + "-missing")
      await #expect(throws: HinixError.self) { _ = try await FIFO.openForWriting(missing) }
    }
  }

  @Test func readWriteOpenNeverWaits() throws {
    try withTemporaryPath { path in
      try FIFO.create(at: path)
      let (reader, writer) = try FIFO.openReadWrite(path)
      try writer.blockingWrite("loop")
      let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 8, alignment: 1)
      defer { buffer.deallocate() }
      #expect(try reader.blockingRead(into: buffer) == 4)
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
