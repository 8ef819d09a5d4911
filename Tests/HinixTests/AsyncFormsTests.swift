import Glibc
import SystemPackage
import Testing

@testable import Hinix

/// Every async form, called from async code with every input type its blocking twin takes.
///
/// Each call here is the plain, async name with `await`: were there no async form for that
/// input, it would not compile (a blocking form has a `blocking…` name of its own and is
/// `@available(*, noasync)`). Each call also checks what it carried.
@Suite("Async forms take every input the blocking forms take", .timeLimit(.minutes(1)))
struct AsyncFormsTests {
  /// The payloads every byte-sending form accepts, as each MessageBytes type.
  static let text = "héllo"

  @Test func socketsWriteAndSendEveryInputType() async throws {
    let (left, right) = try Socket.pair()
    let bytes = Array(Self.text.utf8)
    let raw = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes.count, alignment: 1)
    defer { raw.deallocate() }
    raw.copyBytes(from: bytes)
    try await left.write(Self.text)
    try await left.write(Self.text[...])
    try await left.write(bytes)
    try await left.write(bytes[...])
    try await left.write(ContiguousArray(bytes))
    try await left.write(UnsafeRawBufferPointer(raw))
    try await left.send(Self.text)
    try await left.send(bytes)
    try await left.send(UnsafeRawBufferPointer(raw))
    try await left.write(gathering: [UnsafeRawBufferPointer(raw)])
    let expected = [UInt8]((0..<10).map { _ in bytes }.joined())
    let received = UnsafeMutableRawBufferPointer.allocate(byteCount: expected.count, alignment: 1)
    defer { received.deallocate() }
    try await right.readExactly(into: received)
    #expect(Array(received) == expected)
    try await left.write("x")
    #expect(try await right.read(upTo: 16) == Array("x".utf8))
    try await left.write("y")
    #expect(try await right.read(into: received) == 1)
    try await left.write("z")
    var message: [UInt8] = []
    #expect(try await right.receive(into: &message).count == 1)
    try await left.write("w")
    #expect(try await right.receive(into: received).count == 1)
  }

  @Test func messageSocketsPeekSizesAndConnect() async throws {
    let (left, right) = try Socket.pair(.seqpacket)
    try await left.send("four")
    #expect(try await right.nextMessageSize() == 4)
    let name = uniqueAbstractName()
    let listener = try SocketListener(.abstract(name), kind: .seqpacket)
    let client = try await Socket.connect(to: .abstract(name), kind: .seqpacket)
    let server = try await listener.accept()
    try await client.send("hi")
    var bytes: [UInt8] = []
    _ = try await server.receive(into: &bytes)
    #expect(bytes == Array("hi".utf8))
    let local = try await LocalSocket.connect(.namespaced(name), kind: .seqpacket)
    _ = try await listener.accept()
    _ = local
    _ = right
  }

  @Test func pipesAndDescriptorsWriteAndReadEveryInputType() async throws {
    let (reader, writer) = try Pipe.create()
    let bytes = Array(Self.text.utf8)
    try await writer.write(Self.text)
    try await writer.write(bytes)
    let raw = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes.count, alignment: 1)
    defer { raw.deallocate() }
    raw.copyBytes(from: bytes)
    try await writer.write(UnsafeRawBufferPointer(raw))
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 3 * bytes.count, alignment: 1)
    defer { buffer.deallocate() }
    var got = 0
    while got < buffer.count {
      got += try await reader.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[got...]))
    }
    #expect(Array(buffer) == bytes + bytes + bytes)
    // Any descriptor, owned plainly, reads and writes the same way.
    let (readEnd, writeEnd) = try Sys.pipe().get()
    let owner = OwnedDescriptor(adopting: FileDescriptor(rawValue: writeEnd))
    let other = OwnedDescriptor(adopting: FileDescriptor(rawValue: readEnd))
    try await owner.write(Self.text)
    #expect(try await other.read(upTo: 64) == bytes)
  }

  @Test func queuesSendEveryInputTypeAndReceiveBothWays() async throws {
    let queue = try makeQueue()
    defer { try? queue.unlink() }
    let bytes = Array(Self.text.utf8)
    try await queue.send(Self.text, priority: 3)
    try await queue.send(bytes, priority: 2)
    let raw = UnsafeMutableRawBufferPointer.allocate(byteCount: queue.capacity.maxMessageSize, alignment: 8)
    defer { raw.deallocate() }
    raw.copyBytes(from: bytes)
    try await queue.send(UnsafeRawBufferPointer(rebasing: raw[..<bytes.count]), priority: 1)
    #expect(try await queue.receive().priority == 3)
    #expect(try await queue.receive(into: raw).priority == 2)
    #expect(try await queue.receive().bytes == bytes)
  }

  @Test func eventFDsAndChildProcesses() async throws {
    let event = try EventFD()
    try await event.add(2)
    try await event.add()
    #expect(try await event.read() == 3)
    let child = try spawnPeer(["sleep", "0"])
    #expect(try await child.wait() == .exited(0))
  }

  @Test func zeroCopyMovesSuspendUntilTheirPipeIsReady() async throws {
    let (source, sourceWriter) = try Pipe.create()
    let (destination, destinationWriter) = try Pipe.create()
    let later = Task {
      try await Task.sleep(for: .milliseconds(30))
      try await sourceWriter.write("spliced")
    }
    // Both wait for the data that comes 30 ms later: tee copies it, splice then moves it.
    #expect(try await ZeroCopy.tee(from: source, to: destinationWriter, count: 64) == 7)
    #expect(
      try await ZeroCopy.splice(from: source.descriptor, to: destinationWriter.descriptor, count: 64) == 7)
    try await later.value
    #expect(try await destination.read(upTo: 64) == Array("splicedspliced".utf8))

    // vmsplice into a full pipe waits until a reader makes room.
    _ = try destinationWriter.setCapacity(4096)
    let chunk = [UInt8](repeating: 1, count: 4096)
    while try destinationWriter.tryWrite(chunk).isCompleted {}
    let drain = Task {
      try await Task.sleep(for: .milliseconds(30))
      return try await destination.read(upTo: 8192).count
    }
    let bytes = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 4096)
    defer { bytes.deallocate() }
    bytes.initializeMemory(as: UInt8.self, repeating: 2)
    let moved = try await ZeroCopy.vmsplice(UnsafeRawBufferPointer(bytes), to: destinationWriter)
    #expect(moved > 0)
    #expect(try await drain.value > 0)
  }

  @Test func ringsAreCreatedAndAcceptedOverASocket() async throws {
    let (left, right) = try Socket.pair(.stream)
    // The acceptor waits in the reactor for an offer that has not been sent yet.
    let acceptor = Task {
      let receiver = try await RingReceiver<UInt32>.accept(over: right)
      return try await receiver.receive()
    }
    let sender = try await RingSender<UInt32>.create(over: left, capacity: 8)
    try await sender.send(7)
    #expect(try await acceptor.value == 7)

    let (mine, theirs) = try Socket.pair(.stream)
    let offerer = Task {
      let messages = try await MessageSender.create(over: theirs, capacity: 256)
      try await messages.send("ring")
    }
    let messages = try await MessageReceiver.accept(over: mine)
    try await offerer.value
    #expect(try await messages.receive() == Array("ring".utf8))
  }

  @Test func ringsSendEveryInputTypeAndReceiveEveryWay() async throws {
    let typed = try RingSender<UInt32>.makeRing(capacity: 16)
    let sender = typed.sender
    let receiver = typed.receiver
    try await sender.send(1)
    let pair = UnsafeMutableBufferPointer<UInt32>.allocate(capacity: 2)
    defer { pair.deallocate() }
    _ = pair.initialize(from: [2, 3])
    try await sender.send(contentsOf: UnsafeBufferPointer(pair))
    try await sender.send { slots in
      slots.initialize(repeating: 4)
      return 1
    }
    #expect(try await receiver.receive() == 1)
    let buffer = UnsafeMutableBufferPointer<UInt32>.allocate(capacity: 2)
    defer { buffer.deallocate() }
    #expect(try await receiver.receive(into: buffer) == 2)
    #expect(try await receiver.receive { $0.count } == 1)

    let messages = try MessageSender.makeRing(capacity: 256)
    let messageSender = messages.sender
    let messageReceiver = messages.receiver
    let bytes = Array(Self.text.utf8)
    try await messageSender.send(Self.text)
    try await messageSender.send(bytes)
    let raw = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes.count, alignment: 1)
    defer { raw.deallocate() }
    raw.copyBytes(from: bytes)
    try await messageSender.send(UnsafeRawBufferPointer(raw))
    try await messageSender.send(upTo: 8) { room in
      room.copyBytes(from: bytes.prefix(2))
      return 2
    }
    #expect(try await messageReceiver.receive() == bytes)
    let into = UnsafeMutableRawBufferPointer.allocate(
      byteCount: messageReceiver.maximumMessageSize, alignment: 8)
    defer { into.deallocate() }
    #expect(try await messageReceiver.receive(into: into) == bytes.count)
    #expect(try await messageReceiver.receive { Array($0) } == bytes)
    #expect(try await messageReceiver.receive() == Array(bytes.prefix(2)))
  }
}
