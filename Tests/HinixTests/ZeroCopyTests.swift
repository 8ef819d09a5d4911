import Glibc
import SystemPackage
import Testing

@testable import Hinix

@Suite("splice, tee, vmsplice, sendfile and copy", .timeLimit(.minutes(1)))
struct ZeroCopyTests {
  /// A temporary file holding `bytes`, open for reading and writing, removed from disk at once.
  private func temporaryFile(_ bytes: [UInt8] = []) throws -> FileDescriptor {
    var template = Array("/tmp/hinix-copy-XXXXXX".utf8CString)
    // A regular file that leaks into a concurrently spawned child does no harm, so mkstemp's
    // moment without close-on-exec is fine here.
    let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
    try #require(fd >= 0)
    try FileDescriptor(rawValue: fd).setInheritable(false)
    template.withUnsafeBufferPointer { _ = unlink($0.baseAddress!) }
    let file = FileDescriptor(rawValue: fd)
    _ = try file.writeAll(bytes)
    _ = try file.seek(offset: 0, from: .start)
    return file
  }

  private func contents(_ file: FileDescriptor) throws -> [UInt8] {
    _ = try file.seek(offset: 0, from: .start)
    return readAll(file.rawValue)
  }

  private func drain(_ reader: PipeReader, _ count: Int) throws -> [UInt8] {
    var result: [UInt8] = []
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536, alignment: 1)
    defer { buffer.deallocate() }
    while result.count < count {
      let got = try reader.blockingRead(into: buffer)
      if got == 0 { break }
      result += buffer[..<got]
    }
    return result
  }

  let payload = (0..<50_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }

  @Test func spliceMovesAFileRangeIntoAPipeAndBackOut() throws {
    let file = try temporaryFile(payload)
    defer { try? file.close() }
    let (reader, writer) = try Pipe.create()
    var offset: Int64 = 1000
    let moved = try ZeroCopy.blockingSplice(from: file, offset: &offset, to: writer.descriptor, count: 4000)
    #expect(moved == 4000)
    #expect(offset == 5000)
    let target = try temporaryFile()
    defer { try? target.close() }
    #expect(try ZeroCopy.blockingSplice(from: reader.descriptor, to: target, count: 4000) == 4000)
    #expect(try contents(target) == Array(payload[1000..<5000]))
  }

  @Test func spliceBetweenTwoFilesIsAClearError() throws {
    let a = try temporaryFile(payload)
    let b = try temporaryFile()
    defer {
      try? a.close()
      try? b.close()
    }
    let error = expectError(.invalidArgument) { try ZeroCopy.blockingSplice(from: a, to: b, count: 10) }
    #expect(error?.description.contains("one must be a pipe") == true)
  }

  @Test func trySpliceSaysWouldBlockOnAnEmptyPipeAndEndedOnceItsWritersAreGone() throws {
    var (reader, writer): (PipeReader, PipeWriter?) = try Pipe.create()
    let target = try temporaryFile()
    defer { try? target.close() }
    #expect(try ZeroCopy.trySplice(from: reader.descriptor, to: target, count: 10) == .wouldBlock)
    // With every writer gone the same call reports end of input. A child that another test
    // forks meanwhile holds a copy of the write end until it execs, so wait (up to 5 s) for
    // the hang-up before asking.
    _ = writer
    writer = nil
    var hangUp = pollfd(fd: reader.descriptor.rawValue, events: Int16(POLLIN), revents: 0)
    #expect(poll(&hangUp, 1, 5_000) == 1 && hangUp.revents & Int16(POLLHUP) != 0)
    #expect(try ZeroCopy.trySplice(from: reader.descriptor, to: target, count: 10) == .ended)
  }

  @Test func tryTeeAndTryVmspliceNeverWait() throws {
    let (reader, writer) = try Pipe.create()
    let (copyReader, copyWriter) = try Pipe.create()
    #expect(try ZeroCopy.tryTee(from: reader, to: copyWriter, count: 10) == .wouldBlock)
    let page = [UInt8](repeating: 1, count: 4096)
    var filled = 0
    while case .completed(let count) = try page.withUnsafeBytes({ try ZeroCopy.tryVmsplice($0, to: writer) })
    {
      filled += count
    }
    // The loop ended because the full pipe made the try form say so, not by an error.
    #expect(filled > 0)
    #expect(try page.withUnsafeBytes { try ZeroCopy.tryVmsplice($0, to: writer) } == .wouldBlock)
    #expect(try ZeroCopy.tryTee(from: reader, to: copyWriter, count: 10) == .completed(10))
    _ = copyReader
  }

  @Test func teeDuplicatesWithoutConsuming() throws {
    let (reader, writer) = try Pipe.create()
    let (copyReader, copyWriter) = try Pipe.create()
    try writer.blockingWrite(Array(payload[..<3000]))
    #expect(try ZeroCopy.blockingTee(from: reader, to: copyWriter, count: 3000) == 3000)
    #expect(try drain(copyReader, 3000) == Array(payload[..<3000]))
    #expect(try drain(reader, 3000) == Array(payload[..<3000]))
  }

  @Test func vmspliceFeedsUserMemoryIntoAPipe() throws {
    let (reader, writer) = try Pipe.create()
    let moved = try payload[..<8192].withUnsafeBytes { try ZeroCopy.blockingVmsplice($0, to: writer) }
    #expect(moved == 8192)
    #expect(try drain(reader, 8192) == Array(payload[..<8192]))
  }

  @Test func sendfileFromAFileToAPipe() throws {
    let file = try temporaryFile(payload)
    defer { try? file.close() }
    let (reader, writer) = try Pipe.create()
    try #require(try writer.setCapacity(1 << 20) >= payload.count)
    var offset: Int64 = 0
    #expect(
      try ZeroCopy.blockingSendfile(from: file, offset: &offset, to: writer.descriptor, count: payload.count)
        == payload.count)
    #expect(offset == Int64(payload.count))
    #expect(try drain(reader, payload.count) == payload)
  }

  @Test func timedSpliceTeeAndVmspliceWaitThenGiveUp() throws {
    let (reader, writer) = try Pipe.create()
    let (copyReader, copyWriter) = try Pipe.create()
    let clock = ContinuousClock()
    var start = clock.now
    #expect(
      try ZeroCopy.blockingSplice(
        from: reader.descriptor, to: copyWriter.descriptor, count: 10, timeout: .milliseconds(40))
        == .timedOut)
    #expect(clock.now - start >= .milliseconds(40))
    start = clock.now
    #expect(
      try ZeroCopy.blockingTee(from: reader, to: copyWriter, count: 10, timeout: .milliseconds(40))
        == .timedOut)
    #expect(clock.now - start >= .milliseconds(40))

    try writer.blockingWrite(Array(payload[..<100]))
    #expect(
      try ZeroCopy.blockingTee(from: reader, to: copyWriter, count: 100, timeout: .seconds(5))
        == .completed(100))
    #expect(
      try ZeroCopy.blockingSplice(
        from: reader.descriptor, to: copyWriter.descriptor, count: 100, timeout: .seconds(5))
        == .completed(100))
    #expect(try drain(copyReader, 200) == Array(payload[..<100]) + Array(payload[..<100]))

    // A full pipe: the timed vmsplice waits, gives up, and moves bytes once there is room.
    let page = [UInt8](repeating: 2, count: 4096)
    while case .completed = try page.withUnsafeBytes({ try ZeroCopy.tryVmsplice($0, to: copyWriter) }) {}
    start = clock.now
    #expect(
      try page.withUnsafeBytes {
        try ZeroCopy.blockingVmsplice($0, to: copyWriter, timeout: .milliseconds(40))
      }
        == .timedOut)
    #expect(clock.now - start >= .milliseconds(40))
    _ = try drain(copyReader, 8192)
    #expect(
      try page.withUnsafeBytes { try ZeroCopy.blockingVmsplice($0, to: copyWriter, timeout: .seconds(5)) }
        .value ?? 0 > 0)
  }

  @Test func timedSpliceReportsTheEndOfTheInput() throws {
    var (reader, writer): (PipeReader, PipeWriter?) = try Pipe.create()
    let (copyReader, copyWriter) = try Pipe.create()
    // A child that another test forks meanwhile may hold the write end until it execs: the
    // timed form waits for the hang-up.
    _ = writer
    writer = nil
    #expect(
      try ZeroCopy.blockingSplice(
        from: reader.descriptor, to: copyWriter.descriptor, count: 10, timeout: .seconds(5))
        == .ended)
    _ = copyReader
  }

  @Test func trySendfileAndTimedSendfile() throws {
    let file = try temporaryFile(Array(payload[..<5000]))
    defer { try? file.close() }
    let (reader, writer) = try Pipe.create(nonBlocking: true)
    #expect(try ZeroCopy.trySendfile(from: file, to: writer.descriptor, count: 5000) == .completed(5000))
    #expect(try ZeroCopy.trySendfile(from: file, to: writer.descriptor, count: 5000) == .ended)
    #expect(try drain(reader, 5000) == Array(payload[..<5000]))

    // A full destination: the try form says so, the timed form waits and gives up.
    let page = [UInt8](repeating: 3, count: 4096)
    while case .completed = try page.withUnsafeBytes({ try ZeroCopy.tryVmsplice($0, to: writer) }) {}
    var offset: Int64 = 0
    #expect(
      try ZeroCopy.trySendfile(from: file, offset: &offset, to: writer.descriptor, count: 100) == .wouldBlock)
    let start = ContinuousClock.now
    #expect(
      try ZeroCopy.blockingSendfile(
        from: file, offset: &offset, to: writer.descriptor, count: 100, timeout: .milliseconds(40))
        == .timedOut)
    #expect(ContinuousClock.now - start >= .milliseconds(40))
    #expect(offset == 0)
  }

  @Test func asyncSendfileWaitsForRoom() async throws {
    let file = try temporaryFile(payload)
    defer { try? file.close() }
    let (reader, writer) = try Pipe.create(nonBlocking: true)
    var sent = 0
    var received: [UInt8] = []
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536, alignment: 1)
    defer { buffer.deallocate() }
    // More than the pipe holds: each send waits until the reads below make room.
    while sent < payload.count {
      sent += try await ZeroCopy.sendfile(from: file, to: writer.descriptor, count: payload.count - sent)
      while case .completed(let count) = try reader.tryRead(into: buffer) { received += buffer[..<count] }
    }
    #expect(received == payload)
  }

  @Test func asyncCopyCopiesAFileAndStopsWhenCancelled() async throws {
    let source = try temporaryFile(payload)
    let destination = try temporaryFile()
    defer {
      try? source.close()
      try? destination.close()
    }
    let copied = try await ZeroCopy.copy(from: source, to: destination)
    #expect(copied.bytes == payload.count)
    #expect(try contents(destination) == payload)

    // An endless copy (/dev/zero to /dev/null) ends when its task is cancelled.
    let zero = try FileDescriptor.open("/dev/zero", .readOnly, options: .closeOnExec)
    let null = try FileDescriptor.open("/dev/null", .writeOnly, options: .closeOnExec)
    defer {
      try? zero.close()
      try? null.close()
    }
    let endless = Task { try await ZeroCopy.copy(from: zero, to: null) }
    try await Task.sleep(for: .milliseconds(50))
    endless.cancel()
    await #expect(throws: CancellationError.self) { _ = try await endless.value }
  }

  @Test func writingIntoAPipeWithNoReaderIsBrokenPipe() throws {
    let file = try temporaryFile(payload)
    defer { try? file.close() }
    var (reader, writer): (PipeReader?, PipeWriter) = try Pipe.create()
    _ = reader
    reader = nil
    expectError(.brokenPipe) { try ZeroCopy.blockingSplice(from: file, to: writer.descriptor, count: 100) }
  }

  @Test func copyFileToFileFileToPipeAndPipeToFile() throws {
    let source = try temporaryFile(payload)
    let target = try temporaryFile()
    defer {
      try? source.close()
      try? target.close()
    }
    let fileToFile = try ZeroCopy.blockingCopy(from: source, to: target)
    #expect(fileToFile.bytes == payload.count)
    #expect(fileToFile.method != .readWrite)
    #expect(try contents(target) == payload)

    _ = try source.seek(offset: 0, from: .start)
    let (reader, writer) = try Pipe.create()
    _ = try writer.setCapacity(1 << 20)
    let fileToPipe = try ZeroCopy.blockingCopy(from: source, to: writer.descriptor, count: 20_000)
    #expect(fileToPipe.bytes == 20_000)
    #expect(fileToPipe.method != .readWrite)

    let sink = try temporaryFile()
    defer { try? sink.close() }
    let pipeToFile = try ZeroCopy.blockingCopy(from: reader.descriptor, to: sink, count: 20_000)
    #expect(pipeToFile.bytes == 20_000)
    #expect(pipeToFile.method != .readWrite)
    #expect(try contents(sink) == Array(payload[..<20_000]))
  }

  @Test func copyFallsBackToReadAndWriteWhereTheKernelRefuses() throws {
    // An eventfd neither sends nor splices: the copy reads its 8-byte counter and writes it.
    let event = try EventFD(initialValue: 42)
    let target = try temporaryFile()
    defer { try? target.close() }
    let copied = try ZeroCopy.blockingCopy(from: event.descriptor, to: target, count: 8)
    #expect(copied.bytes == 8)
    #expect(copied.method == .readWrite)
    #expect(try contents(target) == withUnsafeBytes(of: UInt64(42)) { Array($0) })
  }
}
