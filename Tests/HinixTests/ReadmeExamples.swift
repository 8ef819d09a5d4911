import Glibc
import SystemPackage
import Testing

@testable import Hinix

/// The README's examples, compiled and run: if these change, change the README with them.
@Suite("README examples", .timeLimit(.minutes(1)))
struct ReadmeExamples {
  @Test func messageQueueExample() async throws {
    let name = uniqueQueueName()
    let queue = try MessageQueue(
      creating: name, capacity: .init(maxMessages: 8, maxMessageSize: 1024))
    defer { try? queue.unlink() }

    let first = try synchronousPart(queue)
    #expect(first.priority == 9)
    #expect(first.bytes == Array("urgent".utf8))

    try await queue.send("tail", priority: 3)
    var seen: [UInt32] = []
    for try await message in queue.messages {
      seen.append(message.priority)
      if message.bytes == Array("x".utf8) { break }
    }
    #expect(seen == [3, 0])

    let buffer = UnsafeMutableRawBufferPointer.allocate(
      byteCount: queue.capacity.maxMessageSize, alignment: 8)
    defer { buffer.deallocate() }
    #expect(try queue.trySend("again"))
    let received = try queue.tryReceive(into: buffer)
    #expect(received?.count == 5)
  }

  private func synchronousPart(_ queue: MessageQueue) throws -> MessageQueue.Message {
    try queue.send("low", priority: 1)
    try queue.send("urgent", priority: 9)
    let first = try queue.receive()
    if try !queue.trySend("x") { Issue.record("the queue should have room") }
    let later = try queue.receive(timeout: .milliseconds(100))
    #expect(later?.bytes == Array("low".utf8))
    return first
  }

  @Test func eventFDExample() async throws {
    let wake = try EventFD()
    let child = try ChildProcess.spawn(
      FilePath("\(productsFolder)/hinix-test-peer"), arguments: ["eventfd-add-after", "50", "1"],
      passing: [wake.descriptor: 3])
    let count = try await wake.read()
    #expect(count == 1)
    #expect(try await child.wait() == .exited(0))
  }

  @Test func socketExample() async throws {
    try await withTemporaryFolderAsync { folder in
      var options = SocketListener.Options()
      options.mode = [.ownerReadWrite]
      let path = folder.appending("run/app/control.sock")
      let listener = try SocketListener(.path(path), kind: .seqpacket, options: options)
      #expect(listener.address == .path(path))

      let client = try Socket.connect(to: listener.address, kind: .seqpacket, timeout: .seconds(1))
      let server = try await listener.accept()
      #expect(try server.peerCredentials() == .current)

      let wake = try EventFD()
      try client.send("take this", descriptors: [wake.descriptor])
      var bytes: [UInt8] = []
      let message = try server.receive(into: &bytes, maxDescriptors: 4)
      #expect(bytes == Array("take this".utf8))
      guard let received = message.descriptors.takeNext() else {
        Issue.record("no descriptor came")
        return
      }
      try await EventFD(adopting: received.release()).add(2)
      #expect(try await wake.read() == 2)
    }
  }
}
