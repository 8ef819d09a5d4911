import Glibc
import SystemPackage
import Testing

@testable import Hinix

@Suite("Sockets: async forms and local sockets", .timeLimit(.minutes(1)))
struct SocketAsyncTests {
  @Test("one task reads while another writes the same connection, both ways at once")
  func twoTasksOneConnection() async throws {
    let (left, right) = try Socket.pair(nonBlocking: true)
    let total = 4 << 20
    // Each side writes 4 MiB (far above the socket buffer) while its reader drains the other.
    async let leftWrites: Void = left.write([UInt8](repeating: 1, count: total))
    async let rightWrites: Void = right.write([UInt8](repeating: 2, count: total))
    async let leftReads = drain(left, total, expecting: 2)
    async let rightReads = drain(right, total, expecting: 1)
    try await leftWrites
    try await rightWrites
    #expect(try await leftReads == total)
    #expect(try await rightReads == total)
  }

  private func drain(_ socket: Socket, _ total: Int, expecting value: UInt8) async throws -> Int {
    var received = 0
    while received < total {
      let bytes = try await socket.read(upTo: 65536)
      if bytes.isEmpty { break }
      if bytes.contains(where: { $0 != value }) { return -1 }
      received += bytes.count
    }
    return received
  }

  @Test("async connect, accept through the connections sequence, and messages with descriptors")
  func asyncConnectAcceptAndDescriptors() async throws {
    let name = uniqueAbstractName()
    let listener = try SocketListener(.abstract(name), kind: .seqpacket)
    async let accepted: Socket? = {
      for try await connection in listener.connections { return connection }
      return nil
    }()
    let client = try await Socket.connect(to: .abstract(name), kind: .seqpacket)
    let server = try #require(try await accepted)
    let event = try EventFD()
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 32, alignment: 8)
    defer { buffer.deallocate() }
    buffer.copyBytes(from: "with fd".utf8)
    try await client.send(UnsafeRawBufferPointer(rebasing: buffer[..<7]), descriptors: [event.descriptor])
    let message = try await server.receive(into: buffer, maxDescriptors: 1)
    #expect(message.count == 7)
    guard let passed = message.descriptors.takeNext() else {
      Issue.record("no descriptor came")
      return
    }
    try await EventFD(adopting: passed.release()).add(3)
    #expect(try await event.read() == 3)
  }

  @Test("async accept waits without holding a thread, and cancellation ends it")
  func cancelAccept() async throws {
    let listener = try SocketListener(.abstract(uniqueAbstractName()))
    let task = Task { try await listener.accept() }
    try await Task.sleep(for: .milliseconds(20))
    task.cancel()
    await #expect(throws: CancellationError.self) { try await task.value }
  }

  @Test("async connect to nobody throws connectionRefused")
  func asyncRefused() async throws {
    do {
      _ = try await Socket.connect(to: .abstract(uniqueAbstractName()))
      Issue.record("connected to nobody")
    } catch let error as HinixError {
      #expect(error.code == .connectionRefused)
    }
  }

  @Test("local socket names: abstract by default, files under XDG_RUNTIME_DIR when asked")
  func localNames() throws {
    let name = uniqueAbstractName()
    let server = try LocalSocket.listen(.namespaced(name))
    #expect(server.address == .abstract(name))
    let client = try LocalSocket.blockingConnect(.namespaced(name))
    let accepted = try server.blockingAccept()
    #expect(try accepted.peerCredentials() == .current)
    _ = client
    try withTemporaryFolder { folder in
      try withRuntimeFolder(folder.string) {
        let fileServer = try LocalSocket.listen(.filesystem("app.sock"))
        #expect(fileServer.address == .path(folder.appending("app.sock")))
        _ = try LocalSocket.blockingConnect(.filesystem("app.sock"))
      }
    }
    expectError(.invalidName) { try LocalSocket.listen(.namespaced("")) }
    expectError(.invalidName) { try LocalSocket.listen(.filesystem("a/b")) }
    expectError(.invalidName) { try LocalSocket.listen(.namespaced("nul\u{0}name")) }
  }

  @Test(
    "without XDG_RUNTIME_DIR a filesystem name lives in a private folder; an explicit path is used as given")
  func fallbackFolderAndPaths() async throws {
    try withRuntimeFolder(nil) {
      let folder = try LocalSocketName.runtimeFolder()
      #expect(folder == FilePath("/tmp/hinix-\(getuid())"))
      // A folder left open to others is made private again.
      _ = folder.withPlatformString { chmod($0, 0o755) }
      #expect(try LocalSocketName.runtimeFolder() == folder)
      var info = stat()
      #expect(folder.withPlatformString { stat($0, &info) } == 0 && info.st_mode & 0o777 == 0o700)
    }
    try await withTemporaryFolderAsync { folder in
      let name = LocalSocketName.path(folder.appending("explicit.sock"))
      #expect(name.description == folder.appending("explicit.sock").string)
      #expect(LocalSocketName.namespaced("n").description == "n")
      #expect(LocalSocketName.filesystem("f").description == "f")
      let server = try LocalSocket.listen(name)
      let client = try await LocalSocket.connect(name)
      _ = (server, client)
      let missing = LocalSocketName.path(folder.appending("missing.sock"))
      let start = ContinuousClock.now
      await #expect(throws: HinixError.self) {
        _ = try await LocalSocket.connect(missing, wait: .timeout(.milliseconds(40)))
      }
      #expect(ContinuousClock.now - start >= .milliseconds(35))
    }
  }

  @Test("connect wait modes: fail at once, time out, or wait for the server to appear")
  func connectWaitModes() async throws {
    let name = uniqueAbstractName()
    expectError(.connectionRefused) { try LocalSocket.blockingConnect(.namespaced(name)) }
    let start = ContinuousClock.now
    let timedOut = expectError(.timedOut) {
      try LocalSocket.blockingConnect(.namespaced(name), wait: .timeout(.milliseconds(60)))
    }
    #expect(ContinuousClock.now - start >= .milliseconds(55))
    #expect(timedOut?.detail.contains("no server appeared") == true)
    // A server that appears later is found by a waiting client, sync and async.
    let late = Task {
      try await Task.sleep(for: .milliseconds(50))
      return try LocalSocket.listen(.namespaced(name))
    }
    let client = try await LocalSocket.connect(.namespaced(name), wait: .forever)
    let server = try await late.value
    _ = try await server.accept()
    _ = client
  }

  @Test(
    "an async stream send larger than the socket's buffer holds no thread: its reader runs on the same one")
  func largeAsyncSendSharesItsThread() async throws {
    let reactor = Reactor()
    defer { reactor.shutdown() }
    let (left, right) = try Socket.pair()
    let payload = [UInt8](repeating: 3, count: 4 << 20)
    // Both tasks run on the reactor's one thread: a send that waited in the kernel for room
    // would keep the reader from ever running.
    try await withTaskExecutorPreference(reactor) {
      async let received: Int = {
        var total = 0
        while total < payload.count { total += try await right.read(upTo: 1 << 16, reactor: reactor).count }
        return total
      }()
      try await left.send(payload, reactor: reactor)
      #expect(try await received == payload.count)
    }
  }
}

/// Runs `body` with `XDG_RUNTIME_DIR` set to `folder` (unset for nil), then restores it; holds
/// the process-wide state lock, since the environment is the whole process's.
private func withRuntimeFolder<R>(_ folder: String?, _ body: () throws -> R) throws -> R {
  try withProcessWideState {
    let saved = getenv("XDG_RUNTIME_DIR").map { String(cString: $0) }
    if let folder { setenv("XDG_RUNTIME_DIR", folder, 1) } else { unsetenv("XDG_RUNTIME_DIR") }
    defer {
      if let saved { setenv("XDG_RUNTIME_DIR", saved, 1) } else { unsetenv("XDG_RUNTIME_DIR") }
    }
    return try body()
  }
}
