import Glibc
import SystemPackage
import Testing

@testable import Hinix

@Suite("Pipes", .timeLimit(.minutes(1)))
struct PipeTests {
  private func readAll(_ reader: PipeReader) throws -> [UInt8] {
    var result: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
      let count = try buffer.withUnsafeMutableBytes { try reader.blockingRead(into: $0) }
      if count == 0 { return result }
      result += buffer[..<count]
    }
  }

  @Test func parentAndChildTalkThroughTwoPipes() throws {
    var (toChildReader, toChildWriter): (PipeReader?, PipeWriter?) = try Pipe.create()
    var (fromChildReader, fromChildWriter): (PipeReader, PipeWriter?) = try Pipe.create()
    let child = try spawnPeer(
      ["pipe-upper"], passing: [toChildReader!.descriptor: 3, fromChildWriter!.descriptor: 4])
    // Drop the parent's copies of the child's ends, or no side ever sees end-of-file.
    toChildReader = nil
    fromChildWriter = nil
    try toChildWriter!.blockingWrite("hello, child")
    toChildWriter = nil
    #expect(String(decoding: try readAll(fromChildReader), as: UTF8.self) == "HELLO, CHILD")
    #expect(try child.blockingWait() == .exited(0))
    _ = fromChildReader
  }

  @Test func endsAreCloseOnExecAndOptionallyNonBlocking() throws {
    let (reader, writer) = try Pipe.create(nonBlocking: true)
    #expect(try !reader.descriptor.isInheritable())
    #expect(try !writer.descriptor.isInheritable())
    #expect(try reader.descriptor.isNonBlocking().get())
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 16, alignment: 1)
    defer { buffer.deallocate() }
    // The timed form on a non-blocking pipe waits in poll; pipes are blocking by default.
    #expect(try reader.blockingRead(into: buffer, timeout: .milliseconds(20)) == .timedOut)
    #expect(try writer.tryWrite([1, 2]) == .completed(2))
    #expect(try reader.blockingRead(into: buffer) == 2)
    let (blockingReader, _) = try Pipe.create()
    #expect(try !blockingReader.descriptor.isNonBlocking().get())
  }

  @Test("blocking forms on non-blocking ends wait (in poll) for the other side, and lose nothing")
  func blockingFormsOnNonBlockingEnds() throws {
    let (reader, writer) = try Pipe.create(nonBlocking: true)
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536, alignment: 1)
    defer { buffer.deallocate() }
    // An empty pipe: the blocking read's first read gets EAGAIN, then it waits for the write.
    let late = Thread {
      usleep(50_000)
      try writer.blockingWrite([1, 2, 3])
    }
    #expect(try reader.blockingRead(into: buffer) == 3)
    #expect(Array(buffer[..<3]) == [1, 2, 3])
    try late.join()
    // A full pipe: the blocking write's first write gets EAGAIN, then it waits for room.
    buffer.initializeMemory(as: UInt8.self, repeating: 0)
    var filled = 0
    while case .completed(let count) = try writer.tryWrite(UnsafeRawBufferPointer(buffer)) { filled += count }
    #expect(filled > 0)
    let writing = Thread { try writer.blockingWrite([9]) }
    usleep(50_000)
    #expect(!writing.isFinished)
    var drained = 0
    var last: UInt8 = 0
    while drained < filled + 1 {
      let count = try reader.blockingRead(into: buffer)
      drained += count
      last = buffer[count - 1]
    }
    try writing.join()
    #expect(drained == filled + 1)
    #expect(last == 9)
  }

  @Test("a write that the reader's close stops part-way throws brokenPipe saying how much was written")
  func partialWriteBrokenPipe() throws {
    var (reader, writer): (PipeReader?, PipeWriter) = try Pipe.create()
    // The writer fills the pipe and waits for room; the child, the only reader, takes a little
    // and exits.
    let child = try spawnPeer(["pipe-read-some", "50", "100"], passing: [reader!.descriptor: 3])
    reader = nil
    let large = [UInt8](repeating: 4, count: 1 << 20)
    let error = expectError(.brokenPipe) { try writer.blockingWrite(large) }
    #expect(try child.blockingWait() == .exited(0))
    let detail = error?.detail ?? ""
    #expect(detail.contains("of 1048576 bytes were written before it"), "\(detail)")
  }

  @Test func tryAndTimedFormsNeverBlockOnABlockingPipe() throws {
    let (reader, writer) = try Pipe.create()
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 1)
    defer { buffer.deallocate() }
    #expect(try reader.tryRead(into: buffer) == .wouldBlock)
    let start = ContinuousClock.now
    #expect(try reader.blockingRead(into: buffer, timeout: .milliseconds(40)) == .timedOut)
    #expect(ContinuousClock.now - start >= .milliseconds(40))
    // Fill the pipe: tryWrite takes what fits and then reports that it would block.
    let capacity = try writer.capacity()
    let big = [UInt8](repeating: 7, count: capacity + 4096)
    #expect(try writer.tryWrite(big) == .completed(capacity))
    #expect(try writer.tryWrite([1]) == .wouldBlock)
    #expect(try writer.blockingWrite([1], timeout: .milliseconds(20)) == .timedOut)
    #expect(try reader.tryRead(into: buffer) == .completed(capacity))
  }

  @Test func capacityCanBeReadAndSetWithinTheSystemMaximum() throws {
    let (reader, writer) = try Pipe.create()
    #expect(try reader.capacity() == 65536)
    #expect(try writer.setCapacity(200_000) == 262_144)
    #expect(try reader.capacity() == 262_144)
    let maximum = try Pipe.maximumCapacity()
    #expect(try writer.setCapacity(maximum) == maximum)
    // Root without CAP_SYS_RESOURCE is held to the maximum as well.
    let error = expectError(.limitExceeded) { try writer.setCapacity(maximum * 2) }
    #expect(error?.description.contains("/proc/sys/fs/pipe-max-size") == true)
    #expect(error?.description.contains("\(maximum)") == true)
    expectError(.invalidArgument) { try writer.setCapacity(0) }
  }

  @Test func writingToAPipeWithNoReaderThrowsAndNeverKills() throws {
    var (reader, writer): (PipeReader?, PipeWriter) = try Pipe.create()
    _ = reader
    reader = nil
    let error = expectError(.brokenPipe) { try writer.blockingWrite("anyone there?") }
    #expect(error?.errno == .brokenPipe)
    #expect(error?.description.contains("reading end is closed") == true)
  }

  @Test func readUpToZeroIsRefusedNotMistakenForTheEnd() async throws {
    let (reader, writer) = try Pipe.create()
    try await writer.write("x")
    let (left, right) = try Socket.pair()
    try await right.write("y")
    for read in [{ try await reader.read(upTo: 0) }, { try await left.read(upTo: -1) }] {
      let error = await #expect(throws: HinixError.self) { _ = try await read() }
      #expect(error?.code == .invalidArgument)
    }
    #expect(try await reader.read(upTo: 8) == Array("x".utf8))
    #expect(try await left.read(upTo: 8) == Array("y".utf8))
  }

  @Test func asyncReadIsWokenByAChildProcess() async throws {
    var (reader, writer): (PipeReader, PipeWriter?) = try Pipe.create()
    let child = try spawnPeer(["pipe-write-after", "80", "from the child"], passing: [writer!.descriptor: 3])
    writer = nil
    var text: [UInt8] = []
    while true {
      let chunk = try await reader.read(upTo: 64)
      if chunk.isEmpty { break }
      text += chunk
    }
    #expect(String(decoding: text, as: UTF8.self) == "from the child")
    #expect(try await child.wait() == .exited(0))
  }

  @Test func asyncWriteWaitsForTheReaderToDrain() async throws {
    let (reader, writer) = try Pipe.create()
    let total = 300_000
    async let wrote: Void = writer.write([UInt8](repeating: 1, count: total))
    var received = 0
    while received < total {
      received += try await reader.read(upTo: 65536).count
    }
    try await wrote
    #expect(received == total)
  }

  @Test func oneTaskReadsWhileAnotherWritesTheSameEnds() async throws {
    let (reader, writer) = try Pipe.create(nonBlocking: true)
    let messages = 200
    async let sent: Void = {
      for index in 0..<messages { try await writer.write(Array("\(index);".utf8)) }
    }()
    var text = ""
    while text.split(separator: ";").count < messages {
      text += String(decoding: try await reader.read(upTo: 4096), as: UTF8.self)
    }
    try await sent
    #expect(text.split(separator: ";").map { Int($0)! } == Array(0..<messages))
  }

  @Test func standardStreamsAreDuplicatesThatLeaveTheOriginalsOpen() throws {
    do {
      let input = try PipeReader.standardInput()
      #expect(input.descriptor.rawValue > 2)
      let output = try PipeWriter.standardOutput()
      #expect(output.descriptor.rawValue > 2)
    }
    #expect(fcntl(0, F_GETFD) >= 0)
    #expect(fcntl(1, F_GETFD) >= 0)
  }
}
