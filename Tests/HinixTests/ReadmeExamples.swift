import Glibc
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

    try await queue.send("low", priority: 1)
    try await queue.send("urgent", priority: 9)
    let first = try await queue.receive()  // "urgent", priority 9: highest first
    switch try queue.trySend("x") {
    case .completed: break
    case .wouldBlock: Issue.record("the queue should have room")
    case .timedOut, .ended: Issue.record("a try form on a queue reports neither")
    }
    #expect(first.priority == 9)
    #expect(first.bytes == Array("urgent".utf8))
    var seen: [UInt32] = []
    for try await message in queue.messages {
      seen.append(message.priority)
      if message.bytes == Array("x".utf8) { break }
    }
    #expect(seen == [1, 0])
    #expect(try queue.tryReceive() == .wouldBlock)
  }

  @Test func blockingMessageQueueExample() throws {
    let name = uniqueQueueName()
    let queue = try MessageQueue(
      creating: name, capacity: .init(maxMessages: 8, maxMessageSize: 1024))
    defer { try? queue.unlink() }
    try queue.blockingSend("a", priority: 2)
    try queue.blockingSend("bc", priority: 5)

    // The README's serve(_:), with a short timeout.
    let buffer = UnsafeMutableRawBufferPointer.allocate(
      byteCount: queue.capacity.maxMessageSize, alignment: 8)
    defer { buffer.deallocate() }
    var received: [(Int, UInt32)] = []
    while case .completed(let message) = try queue.blockingReceive(into: buffer, timeout: .milliseconds(50)) {
      received.append((message.count, message.priority))
    }
    try queue.blockingSend("idle for 5 s", priority: 1)
    #expect(received.map(\.0) == [2, 1] && received.map(\.1) == [5, 2])
    #expect(try queue.blockingReceive().bytes == Array("idle for 5 s".utf8))
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

      let client = try await Socket.connect(to: listener.address, kind: .seqpacket)
      let server = try await listener.accept()
      #expect(try server.peerCredentials() == .current)

      let wake = try EventFD()
      try await client.send("take this", descriptors: [wake.descriptor])
      let (bytes, message) = try await server.receive(maxDescriptors: 4)  // never truncates
      #expect(bytes == Array("take this".utf8))
      guard let received = message.descriptors.takeNext() else {
        Issue.record("no descriptor came")
        return
      }
      try await EventFD(adopting: received.release()).add(2)
      #expect(try await wake.read() == 2)
    }
  }

  // The signals example runs in SignalTests (serialized with the other tests that take signals).
}

/// The README's timer, file-watching and poller example.
@Suite("README events example", .timeLimit(.minutes(1)))
struct ReadmeEventsExample {
  @Test func eventsExample() async throws {
    try await withTemporaryFolderAsync { folder in
      let timer = try TimerFD(clock: .monotonic)
      try timer.schedule(after: .milliseconds(10), repeating: .milliseconds(10))
      guard case .expired(let count) = try await timer.read() else {
        Issue.record("no expiration")
        return
      }
      #expect(count >= 1)

      let watcher = try FileWatcher()
      try watcher.watchRecursively(folder, for: [.created, .closedAfterWriting], excluding: ["*.tmp"])
      #expect(mkdir(folder.appending("a").string, 0o755) == 0)
      for name in ["a/skip.tmp", "a/f"] {
        close(open(folder.appending(name).string, O_CREAT | O_WRONLY | O_CLOEXEC, 0o644))
      }
      var created: FilePath?
      for try await event in watcher.events where !event.isDirectory {
        created = event.path
        #expect(event.kinds == .created)
        break
      }
      #expect(created == folder.appending("a/f"))

      let (reader, writer) = try Pipe.create()
      let poller = try Poller()
      let input = try poller.register(reader, token: 1, events: .readable)
      let events = Poller.Events(capacity: 64)
      try await writer.write(Array("x".utf8))
      let ready = try await poller.wait(into: events)
      #expect(ready == 1 && events[0].token == 1)
      _ = consume input
    }
  }
}

/// The README's terminal example, with a pty slave standing in for the serial port.
@Suite struct ReadmeTerminalExample {
  @Test func terminalExample() async throws {
    let session = try PseudoTerminal.spawn(
      "/bin/sh", arguments: ["-c", "stty size; exit 3"], size: WindowSize(rows: 24, columns: 80))
    var output: [UInt8] = []
    while case let chunk = try await session.master.read(upTo: 4096), !chunk.isEmpty {
      output += chunk
    }
    #expect(String(decoding: output, as: UTF8.self) == "24 80\r\n")
    #expect(try await session.child.wait() == .exited(3))

    let line = try PseudoTerminal.open()
    let port = try SerialPort.open(line.slavePath, baudRate: 250_000, flowControl: .hardware)
    #expect(try port.attributes().baudRate == 250_000)
    // A pty has no modem lines: the same calls fail with a typed error.
    #expect(throws: HinixError.self) { try port.setModemLines(.dataTerminalReady, raised: true) }
  }
}
