import Glibc
import SystemPackage
import Testing

@testable import Hinix

@Suite("Message queues", .timeLimit(.minutes(1)))
struct MessageQueueTests {
  @Test func attributesAreReadBackFromTheKernel() throws {
    let queue = try makeQueue(capacity: .init(maxMessages: 3, maxMessageSize: 100))
    defer { try? queue.unlink() }
    #expect(queue.capacity == .init(maxMessages: 3, maxMessageSize: 100))
    let attributes = try queue.attributes()
    #expect(attributes.capacity == queue.capacity)
    #expect(attributes.currentMessages == 0)
    #expect(!attributes.isNonBlocking)
    try queue.blockingSend("one")
    try queue.blockingSend("two")
    #expect(try queue.messageCount == 2)
    // Opening an existing queue with another capacity keeps the queue's own.
    let again = try MessageQueue(
      creating: queue.name!.string!, capacity: .init(maxMessages: 9, maxMessageSize: 900))
    #expect(again.capacity == .init(maxMessages: 3, maxMessageSize: 100))
    #expect(try again.messageCount == 2)
  }

  @Test("a queue name that is not UTF-8 is used as the bytes it is, and shown escaped")
  func nameBytes() throws {
    let bytes = Array(uniqueQueueName().utf8) + [0xE9]
    let name = MessageQueue.Name(bytes: bytes)
    let queue = try MessageQueue(creating: name, exclusive: true)
    defer { try? MessageQueue.unlink(name) }
    // The kernel holds exactly these bytes, not a U+FFFD rewrite.
    if let listed = try queueNamesListed() {
      #expect(listed.contains(Array(bytes.dropFirst())), "\(listed.count) queues listed")
    } else {
      print(
        "skipped the listing check: no mqueue filesystem mounted, and unshare --mount cannot mount one here")
    }
    try MessageQueue(opening: name).blockingSend("by bytes")
    #expect(try queue.blockingReceive().bytes == Array("by bytes".utf8))
    #expect(queue.name == name)
    try MessageQueue.unlink(name)
    let missing = expectError(.notFound) { _ = try MessageQueue(opening: name) }
    #expect(
      missing?.description.hasSuffix("\\xe9\"): no such queue") == true, "\(String(describing: missing))")
    let bad = expectError(.invalidName) { try MessageQueue.validate(name: .init(bytes: [0x2F, 0x61, 0x00])) }
    #expect(bad?.description.contains("/a\\x00") == true, "\(String(describing: bad))")
    #expect(name.string == nil)
    #expect(MessageQueue.Name("/plain").string == "/plain")
  }

  @Test("each errno mq_open can report becomes a code and a detail that names the limit")
  func openErrorsExplainTheirLimit() {
    let name: MessageQueue.Name = "/jobs"
    let capacity = MessageQueue.Capacity(maxMessages: 10, maxMessageSize: 64)
    func error(_ code: Errno, flags: Int32 = O_RDWR, capacity: MessageQueue.Capacity? = nil) -> HinixError {
      MessageQueue.openError(code, name: name, flags: flags, capacity: capacity)
    }
    #expect(error(.permissionDenied, flags: O_WRONLY).detail.contains("writing by uid"))
    #expect(error(.permissionDenied, flags: O_RDONLY).detail.contains("reading by uid"))
    #expect(error(.permissionDenied).detail.contains("reading and writing"))
    #expect(error(.fileExists).code == .alreadyExists)
    #expect(error(.invalidArgument, capacity: capacity).detail.contains("/proc/sys/fs/mqueue/msg_max"))
    #expect(error(.invalidArgument).code == .invalidName)
    #expect(error(.fileNameTooLong).detail.contains("NAME_MAX 255"))
    #expect(error(.tooManyOpenFiles, capacity: capacity).detail.contains("RLIMIT_MSGQUEUE"))
    #expect(error(.tooManyOpenFilesInSystem).detail.contains("file-max"))
    #expect(error(.noSpace).detail.contains("queues_max"))
    #expect(error(.noMemory).code == .limitExceeded)
    let other = error(.ioError)
    #expect(other.code == .system && other.errno == .ioError && other.subject == "/jobs")
  }

  @Test func defaultCapacityComesFromTheSystem() throws {
    let name = uniqueQueueName()
    let queue = try MessageQueue(creating: name)
    defer { try? MessageQueue.unlink(name) }
    #expect(queue.capacity == (try MessageQueue.Limits.current().defaultCapacity))
  }

  @Test func messagesComeOutInPriorityOrder() throws {
    let queue = try makeQueue(capacity: .init(maxMessages: 8, maxMessageSize: 16))
    defer { try? queue.unlink() }
    for priority: UInt32 in [1, 7, 3, 0, 7] {
      try queue.blockingSend("p\(priority)", priority: priority)
    }
    var order: [UInt32] = []
    var texts: [String] = []
    while let message = try queue.tryReceive().value {
      order.append(message.priority)
      texts.append(String(decoding: message.bytes, as: UTF8.self))
    }
    #expect(order == [7, 7, 3, 1, 0])
    #expect(texts == ["p7", "p7", "p3", "p1", "p0"])
  }

  @Test func receiveIntoACallersBuffer() throws {
    let queue = try makeQueue()
    defer { try? queue.unlink() }
    try queue.blockingSend([1, 2, 3, 4], priority: 9)
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 128, alignment: 1)
    defer { buffer.deallocate() }
    let received = try queue.blockingReceive(into: buffer)
    #expect(received == MessageQueue.Received(count: 4, priority: 9))
    #expect(Array(buffer[0..<4]) == [1, 2, 3, 4])
    #expect(try queue.tryReceive(into: buffer) == .wouldBlock)
  }

  @Test func emptyMessagesAndFullSizeMessagesArriveIntact() throws {
    let queue = try makeQueue()
    defer { try? queue.unlink() }
    let full = (0..<128).map { UInt8($0) }
    try queue.blockingSend([UInt8]())
    try queue.blockingSend(full)
    #expect(try queue.blockingReceive().bytes == [])
    #expect(try queue.blockingReceive().bytes == full)
  }

  @Test func tryFormsReportWouldBlockAsAValue() throws {
    let queue = try makeQueue(capacity: .init(maxMessages: 2, maxMessageSize: 16))
    defer { try? queue.unlink() }
    #expect(try queue.tryReceive() == .wouldBlock)
    #expect(try queue.trySend("a") == .completed)
    #expect(try queue.trySend("b") == .completed)
    #expect(try queue.trySend("c") == .wouldBlock)
    #expect(try queue.messageCount == 2)
  }

  @Test func timedFormsWaitAndThenGiveUp() throws {
    let queue = try makeQueue(capacity: .init(maxMessages: 1, maxMessageSize: 16))
    defer { try? queue.unlink() }
    let clock = ContinuousClock()
    let start = clock.now
    #expect(try queue.blockingReceive(timeout: .milliseconds(60)) == .timedOut)
    #expect(clock.now - start >= .milliseconds(60))
    try queue.blockingSend("x")
    let start2 = clock.now
    #expect(try queue.blockingSend("y", timeout: .milliseconds(60)) == .timedOut)
    #expect(clock.now - start2 >= .milliseconds(60))
    #expect(try queue.blockingReceive(timeout: .seconds(5)).value?.bytes == Array("x".utf8))
    #expect(try queue.blockingSend("z", timeout: .seconds(5)) == .completed)
  }

  @Test func timedReceiveGetsAMessageFromAnotherProcess() throws {
    let queue = try makeQueue()
    defer { try? queue.unlink() }
    let peer = try spawnPeer(["mq-send-after", queue.name!.string!, "100", "1"])
    let message = try queue.blockingReceive(timeout: .seconds(10))
    #expect(message.map { String(decoding: $0.bytes, as: UTF8.self) } == .completed("0"))
    #expect(try peer.blockingWait() == .exited(0))
  }

  @Test func nonBlockingModeKeepsEveryFormsMeaning() throws {
    let queue = try makeQueue(capacity: .init(maxMessages: 1, maxMessageSize: 16))
    defer { try? queue.unlink() }
    try queue.setNonBlocking(true)
    #expect(try queue.attributes().isNonBlocking)
    #expect(try queue.tryReceive() == .wouldBlock)
    #expect(try queue.blockingReceive(timeout: .milliseconds(30)) == .timedOut)
    // A blocking receive on a non-blocking description still waits for the peer's message.
    let peer = try spawnPeer(["mq-send-after", queue.name!.string!, "100", "1"])
    #expect(try queue.blockingReceive().bytes == Array("0".utf8))
    #expect(try peer.blockingWait() == .exited(0))
    try queue.blockingSend("a")
    #expect(try queue.trySend("b") == .wouldBlock)
    #expect(try queue.blockingSend("b", timeout: .milliseconds(30)) == .timedOut)
    try queue.setNonBlocking(false)
    #expect(try !queue.attributes().isNonBlocking)
  }

  @Test func blockingSendWaitsUntilAnotherProcessMakesRoom() throws {
    let queue = try makeQueue(capacity: .init(maxMessages: 1, maxMessageSize: 16))
    defer { try? queue.unlink() }
    try queue.blockingSend("first")
    let peer = try spawnPeer(["mq-drain-after", queue.name!.string!, "100", "2"])
    try queue.blockingSend("second")
    #expect(try peer.blockingWait() == .exited(0))
    #expect(try queue.messageCount == 0)
  }

  @Test func asyncReceiveSuspendsUntilAnotherProcessSends() async throws {
    let queue = try makeQueue()
    defer { try? queue.unlink() }
    let peer = try spawnPeer(["mq-send-after", queue.name!.string!, "100", "3"])
    var received: [String] = []
    for try await message in queue.messages {
      received.append(String(decoding: message.bytes, as: UTF8.self))
      if received.count == 3 { break }
    }
    #expect(received == ["0", "1", "2"])
    #expect(try await peer.wait() == .exited(0))
  }

  @Test func asyncSendSuspendsUntilAnotherProcessDrains() async throws {
    let queue = try makeQueue(capacity: .init(maxMessages: 1, maxMessageSize: 16))
    defer { try? queue.unlink() }
    try await queue.send("first")
    let peer = try spawnPeer(["mq-drain-after", queue.name!.string!, "100", "3"])
    try await queue.send("second")
    try await queue.send("third")
    #expect(try await peer.wait() == .exited(0))
  }

  @Test func cancelledAsyncReceiveThrowsAndLosesNothing() async throws {
    let queue = try makeQueue()
    defer { try? queue.unlink() }
    let waiter = Task { try await queue.receive() }
    try await Task.sleep(for: .milliseconds(50))
    waiter.cancel()
    await #expect(throws: CancellationError.self) { try await waiter.value }
    try await queue.send("after")
    #expect(try await queue.receive().bytes == Array("after".utf8))
  }

  @Test func alreadyCancelledTaskDoesNotWait() async throws {
    let queue = try makeQueue()
    defer { try? queue.unlink() }
    let waiter = Task {
      withUnsafeCurrentTask { $0?.cancel() }
      return try await queue.receive()
    }
    await #expect(throws: CancellationError.self) { try await waiter.value }
  }

  @Test func oneTaskSendsWhileAnotherReceivesOnTheSameQueue() async throws {
    let queue = try makeQueue(capacity: .init(maxMessages: 2, maxMessageSize: 16))
    defer { try? queue.unlink() }
    let count = 500
    async let sent: Void = {
      for index in 0..<count { try await queue.send("\(index)") }
    }()
    var received: [Int] = []
    for _ in 0..<count {
      received.append(Int(String(decoding: try await queue.receive().bytes, as: UTF8.self))!)
    }
    try await sent
    #expect(received == Array(0..<count))
  }

  @Test func aPeerProcessSendsAndWakesUsThroughAnInheritedEventFD() async throws {
    let queue = try makeQueue(capacity: .init(maxMessages: 8, maxMessageSize: 64))
    defer { try? queue.unlink() }
    let wake = try EventFD()
    let peer = try spawnPeer(
      ["mq-send-wake", queue.name!.string!, "2,9,0,5"], passing: [wake.descriptor: 3])
    #expect(try await wake.read() == 1)
    var messages: [MessageQueue.Message] = []
    while let message = try queue.tryReceive().value { messages.append(message) }
    #expect(messages.map(\.priority) == [9, 5, 2, 0])
    #expect(
      messages.map { String(decoding: $0.bytes, as: UTF8.self) } == [
        "message 9", "message 5", "message 2", "message 0",
      ])
    #expect(try await peer.wait() == .exited(0))
  }

  @Test func aPeerProcessEchoesMessagesWithTheirPriorities() throws {
    let inbound = uniqueQueueName("in")
    let outbound = uniqueQueueName("out")
    let toPeer = try MessageQueue(creating: outbound, access: .writeOnly, exclusive: true)
    defer { try? MessageQueue.unlink(outbound) }
    let fromPeer = try MessageQueue(creating: inbound, access: .readOnly, exclusive: true)
    defer { try? MessageQueue.unlink(inbound) }
    let peer = try spawnPeer(["mq-echo", outbound, inbound, "100"])
    for index in 0..<100 {
      try toPeer.blockingSend("echo \(index)", priority: UInt32(index % 32))
      let reply = try #require(try fromPeer.blockingReceive(timeout: .seconds(10)).value)
      #expect(reply.priority == UInt32(index % 32))
      #expect(String(decoding: reply.bytes, as: UTF8.self) == "echo \(index)")
    }
    #expect(try peer.blockingWait() == .exited(0))
  }

  // MARK: Errors

  @Test(arguments: [
    ("noslash", "must start with \"/\""),
    ("/", "at least one character"),
    ("/a/b", "exactly one \"/\""),
    ("/a\0b", "NUL"),
    ("/" + String(repeating: "x", count: 256), "256 bytes after \"/\", above NAME_MAX 255"),
  ])
  func badNamesAreRefusedBeforeTheKernelSeesThem(name: String, expected: String) {
    let error = expectError(.invalidName) { try MessageQueue(creating: name) }
    #expect(error?.description.contains(expected) == true, "\(String(describing: error))")
    #expect(error?.operation == "mq_open")
  }

  @Test func theLongestNameIsAccepted() throws {
    let name = "/" + String(repeating: "n", count: 200) + "\(getpid())\(UInt32.random(in: 0...UInt32.max))"
    let trimmed = String(name.prefix(256))
    _ = try MessageQueue(creating: trimmed, exclusive: true)
    try MessageQueue.unlink(trimmed)
  }

  @Test func capacityAboveTheSystemLimitsNamesTheFileAndValue() throws {
    let limits = try MessageQueue.Limits.current()
    let name = uniqueQueueName()
    defer { try? MessageQueue.unlink(name) }
    let tooMany = expectError(.limitExceeded) {
      try MessageQueue(
        creating: name, capacity: .init(maxMessages: limits.maxMessages + 1, maxMessageSize: 16))
    }
    #expect(tooMany?.description.contains("/proc/sys/fs/mqueue/msg_max") == true)
    #expect(tooMany?.description.contains("limit \(limits.maxMessages)") == true)
    let tooLarge = expectError(.limitExceeded) {
      try MessageQueue(
        creating: name, capacity: .init(maxMessages: 1, maxMessageSize: limits.maxMessageSize + 1))
    }
    #expect(tooLarge?.description.contains("/proc/sys/fs/mqueue/msgsize_max") == true)
    #expect(tooLarge?.description.contains("\(limits.maxMessageSize)") == true)
    expectError(.invalidArgument) {
      try MessageQueue(creating: name, capacity: .init(maxMessages: 0, maxMessageSize: 16))
    }
  }

  @Test func missingQueueAndExclusiveCreateGetClearErrors() throws {
    let name = uniqueQueueName()
    let missing = expectError(.notFound) { try MessageQueue(opening: name) }
    #expect(missing?.subject == name)
    #expect(missing?.errno == .noSuchFileOrDirectory)
    let queue = try makeQueue()
    defer { try? queue.unlink() }
    let exists = expectError(.alreadyExists) {
      try MessageQueue(creating: queue.name!.string!, exclusive: true)
    }
    #expect(exists?.description.contains(queue.name!.string!) == true)
  }

  @Test func unlinkRemovesTheName() throws {
    let name = uniqueQueueName()
    let queue = try MessageQueue(creating: name)
    try queue.unlink()
    expectError(.notFound) { try MessageQueue(opening: name) }
    expectError(.notFound) { try MessageQueue.unlink(name) }
    // The open queue itself still works until closed.
    try queue.blockingSend("still here")
    #expect(try queue.blockingReceive().bytes == Array("still here".utf8))
  }

  @Test(.enabled(if: getuid() == 0, "dropping to another uid needs root"))
  func permissionDeniedForAnotherUser() throws {
    let queue = try makeQueue()
    defer { try? queue.unlink() }
    // The queue is 0600 and owned by us; the peer drops to uid 65534 before opening it.
    let output = try run("hinix-test-peer", ["mq-open-as-nobody", queue.name!.string!])
    #expect(output.termination == .exited(0), "\(output.standardError)")
    #expect(output.standardOutput.hasPrefix("permissionDenied"), "\(output.standardOutput)")
    #expect(output.standardOutput.contains(queue.name!.string!))
    #expect(output.standardOutput.contains("uid 65534"))
  }

  @Test func priorityOutOfRange() throws {
    let queue = try makeQueue()
    defer { try? queue.unlink() }
    #expect(MessageQueue.priorityLimit == 32768)
    let error = expectError(.invalidArgument) {
      try queue.blockingSend("x", priority: MessageQueue.priorityLimit)
    }
    #expect(error?.description.contains("priority 32768 is out of range 0..<32768") == true)
    try queue.blockingSend("x", priority: MessageQueue.priorityLimit - 1)
  }

  @Test func messageLargerThanTheQueueSaysBothSizes() throws {
    let queue = try makeQueue(capacity: .init(maxMessages: 2, maxMessageSize: 16))
    defer { try? queue.unlink() }
    let error = expectError(.messageTooLarge) { try queue.blockingSend([UInt8](repeating: 7, count: 17)) }
    #expect(error?.description.contains("17 bytes") == true)
    #expect(error?.description.contains("16 bytes") == true)
    let small = UnsafeMutableRawBufferPointer.allocate(byteCount: 8, alignment: 1)
    defer { small.deallocate() }
    let tooSmall = expectError(.messageTooLarge) { try queue.blockingReceive(into: small) }
    #expect(tooSmall?.description.contains("8 bytes, smaller than the queue's message size 16") == true)
  }

  @Test func sendingOnAReadOnlyQueueIsAClearError() throws {
    let queue = try makeQueue()
    defer { try? queue.unlink() }
    let reader = try MessageQueue(opening: queue.name!.string!, access: .readOnly)
    let error = expectError(.invalidArgument) { try reader.blockingSend("x") }
    #expect(error?.description.contains("not open for writing") == true)
    let writer = try MessageQueue(opening: queue.name!.string!, access: .writeOnly)
    let error2 = expectError(.invalidArgument) { try writer.tryReceive() }
    #expect(error2?.description.contains("not open for reading") == true)
  }

  @Test func descriptorsAreCloseOnExec() throws {
    let queue = try makeQueue()
    defer { try? queue.unlink() }
    #expect(try !queue.descriptor.isInheritable())
    let event = try EventFD()
    let inheritable = try event.descriptor.isInheritable()
    #expect(!inheritable)
    withExtendedLifetime(event) {}
  }

  @Test func adoptingRejectsANonQueueDescriptor() throws {
    let event = try EventFD()
    let duplicate = try event.descriptor.duplicate()
    expectError(.invalidArgument) { try MessageQueue(adopting: duplicate) }
  }
}

/// The names of the queues the mqueue filesystem lists, as bytes: read where it is mounted, else
/// through a mount of its own in a private mount namespace (`unshare --mount`, as root), so
/// that no test needs `/dev/mqueue` mounted by hand; nil when neither can be done.
func queueNamesListed() throws -> [[UInt8]]? {
  let mounts = try readProcFile("/proc/self/mounts").split(separator: "\n")
  if let line = mounts.first(where: { $0.split(separator: " ").dropFirst(2).first == "mqueue" }) {
    let point = FilePath(String(line.split(separator: " ")[1]))
    return try Sys.directoryEntries(point).get().map { name in
      name.withPlatformString { Array(UnsafeRawBufferPointer(start: $0, count: strlen($0))) }
    }
  }
  guard access("/usr/bin/unshare", X_OK) == 0 else { return nil }
  let output = try run(
    "/usr/bin/unshare",
    [
      "--mount", "/bin/sh", "-c",
      "d=$(mktemp -d) && mount -t mqueue none \"$d\" && ls -1 \"$d\"; s=$?; rmdir \"$d\"; exit $s",
    ])
  guard output.termination == .exited(0) else { return nil }
  return output.outputBytes.split(separator: UInt8(ascii: "\n")).map(Array.init)
}
