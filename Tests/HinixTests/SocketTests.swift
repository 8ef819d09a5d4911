import Glibc
import Synchronization
import SystemPackage
import Testing

@testable import Hinix

/// A fresh private folder under /tmp (mode 0700), for socket files.
func makeTemporaryFolder() throws -> FilePath {
  switch Sys.makeTemporaryDirectory(prefix: "/tmp/hinix-test-") {
  case .success(let folder): return folder
  case .failure(let error): throw HinixError.system(error, "mkdtemp")
  }
}

/// Runs `body` with a fresh private folder, removed with its contents afterwards.
func withTemporaryFolder<R>(_ body: (FilePath) throws -> R) throws -> R {
  let path = try makeTemporaryFolder()
  defer { removeTree(path) }
  return try body(path)
}

/// The async form of ``withTemporaryFolder(_:)``.
func withTemporaryFolderAsync(_ body: (FilePath) async throws -> Void) async throws {
  let path = try makeTemporaryFolder()
  defer { removeTree(path) }
  try await body(path)
}

func removeTree(_ path: FilePath) {
  if let child = try? ChildProcess.spawn("/bin/rm", arguments: ["-rf", path.string]) {
    _ = try? child.blockingWait()
  }
}

func fileMode(_ path: FilePath) -> mode_t? {
  var status = stat()
  return path.withPlatformString { lstat($0, &status) } == 0 ? status.st_mode : nil
}

func uniqueAbstractName(_ label: String = #function) -> String {
  "hinix-test-\(label.filter { $0.isLetter }.prefix(30))-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
}

extension Socket {
  /// Receives one message into a fresh array (test helper).
  func receiveBytes(maxDescriptors: Int = 0) throws -> (bytes: [UInt8], credentials: Credentials?) {
    var bytes: [UInt8] = []
    let message = try blockingReceive(into: &bytes, maxDescriptors: maxDescriptors)
    return (bytes, message.credentials)
  }
}

@Suite("Unix domain sockets", .timeLimit(.minutes(1)))
struct SocketTests {
  @Test("a stream socketpair carries bytes both ways and reports end of stream after shutdown")
  func streamPair() throws {
    let (left, right) = try Socket.pair()
    try left.blockingWrite("hello")
    var buffer = [UInt8](repeating: 0, count: 16)
    let count = try buffer.withUnsafeMutableBytes { try right.blockingRead(into: $0) }
    #expect(Array(buffer[..<count]) == Array("hello".utf8))
    try right.blockingWrite("back")
    try buffer.withUnsafeMutableBytes {
      try left.blockingReadExactly(into: UnsafeMutableRawBufferPointer(rebasing: $0[..<4]))
    }
    #expect(Array(buffer[..<4]) == Array("back".utf8))
    try left.shutdown(.write)
    #expect(try buffer.withUnsafeMutableBytes { try right.blockingRead(into: $0) } == 0)
    // The other direction still works after a one-way shutdown.
    try right.blockingWrite("still")
    #expect(try buffer.withUnsafeMutableBytes { try left.blockingRead(into: $0) } == 5)
  }

  @Test("try and timed forms return nil instead of waiting")
  func tryAndTimed() throws {
    let (left, right) = try Socket.pair()
    var buffer = [UInt8](repeating: 0, count: 8)
    #expect(try buffer.withUnsafeMutableBytes { try right.tryRead(into: $0) } == .wouldBlock)
    let start = ContinuousClock.now
    #expect(
      try buffer.withUnsafeMutableBytes { try right.blockingRead(into: $0, timeout: .milliseconds(50)) }
        == .timedOut)
    #expect(ContinuousClock.now - start >= .milliseconds(45))
    #expect(try left.tryWrite("x") == .completed(1))
    #expect(try buffer.withUnsafeMutableBytes { try right.tryRead(into: $0) } == .completed(1))
    #expect(try right.tryReceive(into: UnsafeMutableRawBufferPointer(start: nil, count: 0)).isWouldBlock)
  }

  @Test("a full socket makes tryWrite return what fit and the timed write give up")
  func fullSocket() throws {
    let (left, right) = try Socket.pair()
    defer { withExtendedLifetime(right) {} }
    try left.set(.sendBufferSize, 4096)
    let chunk = [UInt8](repeating: 7, count: 65536)
    var total = 0
    while case .completed(let count) = try left.tryWrite(chunk) {
      total += count
    }
    #expect(total > 0)
    #expect(try left.tryWrite(chunk) == .wouldBlock)
    #expect(try left.blockingWrite(chunk, timeout: .milliseconds(20)) == .timedOut)
    #expect(try left.trySend(chunk) == .wouldBlock)
  }

  @Test("on a stream, trySend and the timed send report the prefix that fit and never wait for the rest")
  func streamSendPrefix() throws {
    let (left, right) = try Socket.pair()
    try left.set(.sendBufferSize, 4096)
    let message = [UInt8](repeating: 9, count: 1 << 20)
    let (event, _) = try Socket.pair()
    // The descriptor rides with the first byte; the rest of a megabyte cannot fit.
    let start = ContinuousClock.now
    guard case .completed(let sent) = try left.trySend(message, descriptors: [event.descriptor]) else {
      Issue.record("a try send into an empty socket sent nothing")
      return
    }
    #expect(sent > 0 && sent < message.count)
    let one = UnsafeMutableRawBufferPointer.allocate(byteCount: 1, alignment: 1)
    defer { one.deallocate() }
    #expect(try right.blockingReceive(into: one, maxDescriptors: 1).descriptors.count == 1)
    let timed = try left.blockingSend(message, timeout: .milliseconds(30))
    #expect(ContinuousClock.now - start < .seconds(5))
    if case .completed(let count) = timed {
      #expect(count < message.count)
    } else {
      #expect(timed == .timedOut)
    }
  }

  @Test("SO_RCVTIMEO makes a blocking read throw timedOut")
  func receiveTimeoutOption() throws {
    let (left, right) = try Socket.pair()
    defer { withExtendedLifetime(right) {} }
    try left.set(.receiveTimeout, .milliseconds(30))
    let timeout = try left.get(.receiveTimeout)
    #expect(timeout != nil && timeout! >= .milliseconds(30) && timeout! < .milliseconds(40))
    var buffer = [UInt8](repeating: 0, count: 8)
    let error = expectError(.timedOut) {
      try buffer.withUnsafeMutableBytes { try left.blockingRead(into: $0) }
    }
    #expect(error?.description.contains("receive timeout") == true)
    try left.set(.receiveTimeout, nil)
    #expect(try left.get(.receiveTimeout) == nil)
  }

  @Test("SO_SNDTIMEO makes a blocking write to a full socket throw timedOut after one timeout, not two")
  func sendTimeoutOption() throws {
    let (left, right) = try Socket.pair()
    defer { withExtendedLifetime(right) {} }
    let chunk = [UInt8](repeating: 1, count: 4096)
    while case .completed = try left.tryWrite(chunk) {}
    try left.set(.sendTimeout, .milliseconds(200))
    let clock = ContinuousClock()
    let start = clock.now
    let error = expectError(.timedOut) { try left.blockingWrite([2]) }
    let elapsed = clock.now - start
    #expect(error?.description.contains("send timeout") == true)
    // The kernel's first blocking send times out; a second one would wait as long again.
    #expect(elapsed >= .milliseconds(190) && elapsed < .milliseconds(390), "\(elapsed)")
  }

  @Test("a blocking write that SO_SNDTIMEO stops part-way throws timedOut saying how much was written")
  func partialWriteTimeout() throws {
    let (left, right) = try Socket.pair()
    defer { withExtendedLifetime(right) {} }
    try left.set(.sendTimeout, .milliseconds(50))
    // Far more than the socket's buffer: the first send takes what fits, the next times out.
    let large = [UInt8](repeating: 3, count: 4 << 20)
    let error = expectError(.timedOut) { try left.blockingWrite(large) }
    let detail = error?.detail ?? ""
    #expect(detail.contains("of 4194304 bytes were written before it"), "\(detail)")
    #expect(!detail.contains(" 0 of "), "\(detail)")
  }

  @Test("writing to a closed peer throws brokenPipe and the process survives (MSG_NOSIGNAL)")
  func brokenPipe() throws {
    var pair: (Socket, Socket)? = try Socket.pair()
    let left = pair!.0
    pair = nil
    expectError(.brokenPipe) { try left.blockingWrite("into the void") }
    expectError(.brokenPipe) { try left.blockingSend("x", descriptors: [left.descriptor]) }
  }

  @Test("seqpacket keeps message boundaries and reports truncation as its own error")
  func seqpacketBoundaries() throws {
    let (left, right) = try Socket.pair(.seqpacket)
    try left.blockingSend("first message")
    try left.blockingSend("second")
    try left.blockingSend(Array(repeating: UInt8(1), count: 100))
    #expect(try right.blockingNextMessageSize() == 13)
    #expect(try right.receiveBytes().bytes == Array("first message".utf8))
    var small = [UInt8](repeating: 0, count: 4)
    let error = expectError(.messageTruncated) {
      try small.withUnsafeMutableBytes { try right.blockingReceive(into: $0) }
    }
    #expect(error?.detail.contains("6-byte message") == true)
    // The next message is intact: truncation cost only the one message.
    #expect(try right.receiveBytes().bytes == Array(repeating: UInt8(1), count: 100))
    try left.blockingSend("exact")
    var exact = [UInt8](repeating: 0, count: 5)
    #expect(try exact.withUnsafeMutableBytes { try right.blockingReceive(into: $0) }.count == 5)
  }

  @Test("the new-array receive forms return each whole message with its descriptors")
  func newArrayReceiveForms() throws {
    let (left, right) = try Socket.pair(.seqpacket)
    guard case .wouldBlock = try right.tryReceive(maxDescriptors: 1) else {
      Issue.record("a message came from nowhere")
      return
    }
    guard case .timedOut = try right.blockingReceive(timeout: .milliseconds(20)) else {
      Issue.record("the timed form did not time out")
      return
    }
    #expect(try right.tryNextMessageSize() == .wouldBlock)
    let wake = try EventFD()
    try left.blockingSend(Array(repeating: UInt8(7), count: 5000), descriptors: [wake.descriptor])
    #expect(try right.tryNextMessageSize() == .completed(5000))
    try left.blockingSend("two")
    try left.blockingSend("three")

    let (bytes, message) = try right.blockingReceive(maxDescriptors: 1)
    #expect(bytes == Array(repeating: UInt8(7), count: 5000) && message.count == 5000)
    guard let passed = message.descriptors.takeNext() else {
      Issue.record("the descriptor did not come")
      return
    }
    try EventFD(adopting: passed.release()).blockingAdd(3)
    #expect(try wake.tryRead() == .completed(3))
    #expect(try right.tryReceive().value?.bytes == Array("two".utf8))
    #expect(try right.blockingReceive(timeout: .seconds(5)).value?.bytes == Array("three".utf8))
  }

  @Test("the async new-array receive waits for the message")
  func asyncNewArrayReceive() async throws {
    let (left, right) = try Socket.pair(.seqpacket)
    let returned = Returned()
    try await withThrowingTaskGroup { group in
      group.addTask {
        let (bytes, message) = try await right.receive()
        returned.flag.withLock { $0 = true }
        #expect(bytes == Array("four".utf8) && message.descriptors.count == 0)
      }
      try await Task.sleep(for: .milliseconds(50))
      #expect(!returned.flag.withLock { $0 }, "the receive returned before a message was sent")
      try await left.send("four")
      try await group.waitForAll()
    }
    #expect(returned.flag.withLock { $0 })
  }

  @Test("a message larger than the buffer throws messageTruncated naming both sizes")
  func truncation() throws {
    let (left, right) = try Socket.pair(.datagram)
    try left.blockingSend(Array(repeating: UInt8(9), count: 100))
    var small = [UInt8](repeating: 0, count: 10)
    let error = expectError(.messageTruncated) {
      try small.withUnsafeMutableBytes { try right.blockingReceive(into: $0) }
    }
    #expect(error?.detail.contains("100-byte message") == true)
    #expect(error?.detail.contains("10-byte buffer") == true)
    // The whole-message form grows the buffer instead.
    try left.blockingSend(Array(repeating: UInt8(3), count: 5000))
    #expect(try right.receiveBytes().bytes == Array(repeating: UInt8(3), count: 5000))
  }

  @Test("a datagram above the socket's limit throws messageTooLarge, not shortWrite")
  func datagramTooLarge() throws {
    let (left, right) = try Socket.pair(.datagram)
    defer { withExtendedLifetime(right) {} }
    try left.set(.sendBufferSize, 4096)
    let error = expectError(.messageTooLarge) { try left.blockingSend([UInt8](repeating: 0, count: 1 << 20)) }
    #expect(error?.detail.contains("send buffer") == true)
  }

  @Test("descriptors travel with a payload and arrive owned and close-on-exec")
  func passDescriptors() throws {
    let (left, right) = try Socket.pair(.seqpacket)
    let event = try EventFD()
    let (reader, writer) = try Pipe.create()
    try left.blockingSend("two", descriptors: [event.descriptor, writer.descriptor])
    var buffer = [UInt8](repeating: 0, count: 16)
    let message = try buffer.withUnsafeMutableBytes { try right.blockingReceive(into: $0, maxDescriptors: 8) }
    #expect(message.count == 3)
    #expect(message.descriptors.count == 2)
    #expect(!message.lostDescriptors)
    let receivedEvent = message.descriptors.takeNext()!
    let receivedWriter = message.descriptors.takeNext()!
    #expect(message.descriptors.remaining == 0)
    var extra = false
    if message.descriptors.takeNext() != nil { extra = true }
    #expect(!extra)
    #expect(try receivedEvent.descriptor.isInheritable() == false)
    try EventFD(adopting: receivedEvent.release()).blockingAdd(5)
    #expect(try event.blockingRead() == 5)
    try PipeWriter(adopting: receivedWriter.release()).blockingWrite("via copy")
    var text = [UInt8](repeating: 0, count: 8)
    #expect(try text.withUnsafeMutableBytes { try reader.blockingRead(into: $0) } == 8)
    #expect(text == Array("via copy".utf8))
  }

  @Test("descriptors beyond the cap are closed and counted")
  func descriptorCap() throws {
    let (left, right) = try Socket.pair(.stream)
    let events = try (0..<6).map { _ in try EventFD() }
    // Every copy of these eventfds in this process, told apart from other tests' descriptors
    // by the kernel's eventfd id: the six originals, and whatever a receive leaves open.
    let ids = Set(try events.map { try eventFDID($0.descriptor) })
    var buffer = [UInt8](repeating: 0, count: 4)
    #expect(copies(ofEventFDs: ids) == 6)
    try left.blockingSend("x", descriptors: events.map(\.descriptor))
    do {
      let message = try buffer.withUnsafeMutableBytes {
        try right.blockingReceive(into: $0, maxDescriptors: 2)
      }
      #expect(message.descriptors.count == 2)
      #expect(message.discardedDescriptors == 4)
      #expect(message.lostDescriptors)
      // The 4 beyond the cap are closed at once; the 2 kept are open until the message ends.
      #expect(copies(ofEventFDs: ids) == 8)
      _ = message.descriptors.takeNext()
    }
    #expect(copies(ofEventFDs: ids) == 6)
    // Not taking a descriptor closes it too; a message without a cap receives none.
    try left.blockingSend("y", descriptors: [events[0].descriptor])
    _ = try buffer.withUnsafeMutableBytes { try right.blockingReceive(into: $0) }
    #expect(copies(ofEventFDs: ids) == 6)
  }

  @Test("more descriptors than SCM_MAX_FD, or descriptors with no payload on a stream, are refused")
  func descriptorLimits() throws {
    let (left, _) = try Socket.pair()
    let many = [FileDescriptor](repeating: left.descriptor, count: Socket.maximumDescriptorsPerMessage + 1)
    let error = expectError(.limitExceeded) { try left.blockingSend("x", descriptors: many) }
    #expect(error?.detail.contains("253") == true)
    expectError(.invalidArgument) { try left.blockingSend([UInt8](), descriptors: [left.descriptor]) }
    // The kernel's own limit is reachable.
    let (a, b) = try Socket.pair(.seqpacket)
    try a.blockingSend("max", descriptors: Array(many.dropLast()))
    var buffer = [UInt8](repeating: 0, count: 4)
    let message = try buffer.withUnsafeMutableBytes { try b.blockingReceive(into: $0, maxDescriptors: 1000) }
    #expect(message.descriptors.count == Socket.maximumDescriptorsPerMessage)
  }

  @Test("peer credentials and per-message credentials name this process")
  func credentials() throws {
    let (left, right) = try Socket.pair(.seqpacket)
    #expect(try left.peerCredentials() == .current)
    try right.set(.passCredentials, true)
    #expect(try right.get(.passCredentials))
    try left.blockingSend("explicit", credentials: .current)
    #expect(try right.receiveBytes().credentials == .current)
    // With SO_PASSCRED on, the kernel attaches the sender's credentials to every message.
    try left.blockingSend("implicit")
    #expect(try right.receiveBytes().credentials == .current)
    // Claiming another pid is refused by the kernel for an unprivileged claim, or allowed
    // for root; either way nothing crashes and a forged pid never passes silently as ours.
    let pidfd = try left.peerProcessDescriptor()
    if let pidfd { #expect(try pidfd.descriptor.isInheritable() == false) }
  }

  @Test("a path listener accepts, reports the resolved path, and removes only its own file")
  func pathListener() throws {
    try withTemporaryFolder { folder in
      let path = folder.appending("a/b/server.sock")
      let listener = try SocketListener(.path(path))
      #expect(listener.address == .path(path))
      // Missing parents were created 0700.
      #expect(fileMode(folder.appending("a"))! & 0o777 == 0o700)
      #expect(fileMode(folder.appending("a/b"))! & 0o777 == 0o700)
      do {
        let client = try Socket.blockingConnect(to: .path(path))
        let server = try listener.blockingAccept()
        try client.blockingWrite("ping")
        var buffer = [UInt8](repeating: 0, count: 4)
        try buffer.withUnsafeMutableBytes { try server.blockingReadExactly(into: $0) }
        #expect(buffer == Array("ping".utf8))
        // The accepted socket reports the listener's path but does not own it.
        #expect(try server.localAddress() == .path(path))
        #expect(try client.peerAddress() == .path(path))
      }
      // Closing the accepted connection left the file.
      #expect(fileMode(path) != nil)
      _ = consume listener
      #expect(fileMode(path) == nil)
    }
  }

  @Test("a relative path resolves against the working folder")
  func relativePath() throws {
    try withTemporaryFolder { folder in
      try withProcessWideState {
        var saved = [CChar](repeating: 0, count: 4096)
        _ = getcwd(&saved, saved.count)
        defer { _ = chdir(saved) }
        _ = folder.withPlatformString { chdir($0) }
        let listener = try SocketListener(.path("rel.sock"))
        #expect(listener.address == .path(folder.appending("rel.sock")))
      }
    }
  }

  @Test("an existing folder's mode is never changed and the file mode holds despite the umask")
  func modes() throws {
    try withTemporaryFolder { folder in
      _ = folder.withPlatformString { chmod($0, 0o755) }
      var options = SocketListener.Options()
      options.mode = [.ownerReadWrite, .groupReadWrite, .otherReadWrite]
      let listener = try withProcessWideState {
        let old = umask(0o077)
        defer { umask(old) }
        return try SocketListener(.path(folder.appending("open.sock")), options: options)
      }
      #expect(fileMode(folder)! & 0o777 == 0o755)
      #expect(fileMode(folder.appending("open.sock"))! & 0o777 == 0o666)
      _ = listener
    }
  }

  @Test("a stale socket file is replaced; a live listener or another file is not")
  func staleSockets() throws {
    try withTemporaryFolder { folder in
      let path = folder.appending("s.sock")
      var options = SocketListener.Options()
      options.removeOnClose = false
      do { _ = try SocketListener(.path(path), options: options) }
      #expect(fileMode(path)! & S_IFMT == S_IFSOCK)
      var strict = SocketListener.Options()
      strict.replaceStale = false
      // A child that another test forks holds a copy of every descriptor until its execve
      // closes them: until then the closed listener still listens. Ask again for up to a second.
      var refused: HinixError?
      for _ in 0..<100 {
        refused = expectError(.alreadyExists) { try SocketListener(.path(path), options: strict) }
        if refused?.detail.contains("stale") == true { break }
        usleep(10_000)
      }
      #expect(refused?.detail.contains("stale") == true, "\(String(describing: refused))")
      let live = try SocketListener(.path(path))
      let error = expectError(.alreadyExists) { try SocketListener(.path(path)) }
      #expect(error?.detail.contains("another listener") == true)
      _ = live
      let plain = folder.appending("file.sock")
      let fd = plain.withPlatformString { creat($0, 0o600) }
      close(fd)
      let notSocket = expectError(.alreadyExists) { try SocketListener(.path(plain)) }
      #expect(notSocket?.detail.contains("not a socket") == true)
      #expect(fileMode(plain)! & S_IFMT == S_IFREG)
    }
  }

  @Test("a replaced socket file is not removed by the listener that lost it")
  func replacedFileSurvives() throws {
    try withTemporaryFolder { folder in
      let path = folder.appending("r.sock")
      let first = try SocketListener(.path(path))
      _ = path.withPlatformString { unlink($0) }
      let second = try SocketListener(.path(path))
      _ = consume first
      #expect(fileMode(path) != nil)
      _ = second
    }
  }

  @Test("names: too long, NUL bytes and empty paths get clear errors before the kernel")
  func badNames() throws {
    let long = "/tmp/" + String(repeating: "x", count: 103)
    let error = expectError(.invalidName) { try Socket.blockingConnect(to: .path(FilePath(long))) }
    #expect(error?.detail.contains("108 bytes") == true)
    #expect(error?.detail.contains("limit of 107") == true)
    expectError(.invalidName) {
      try Socket.blockingConnect(to: .abstract(String(repeating: "y", count: 108)))
    }
    let nul = expectError(.invalidName) { try SocketAddress(path: "/tmp/a\u{0}b") }
    #expect(nul?.detail.contains("NUL byte at offset 6") == true)
    expectError(.invalidName) { try SocketAddress(path: "") }
    expectError(.invalidName) { try SocketAddress(path: long) }
    #expect(try SocketAddress(path: "/tmp/ok.sock") == .path("/tmp/ok.sock"))
    expectError(.invalidName) { try Socket.blockingConnect(to: .ipv4("300.1.1.1", port: 1)) }
    expectError(.invalidArgument) { try SocketListener(.abstract("x"), kind: .datagram) }
  }

  @Test("connect errors name the address: nobody listening, no file, timeout")
  func connectErrors() throws {
    let missing = expectError(.notFound) {
      try Socket.blockingConnect(to: .path("/tmp/hinix-no-such-dir/x.sock"))
    }
    #expect(missing?.subject == "/tmp/hinix-no-such-dir/x.sock")
    let refused = expectError(.connectionRefused) {
      try Socket.blockingConnect(to: .abstract(uniqueAbstractName()))
    }
    #expect(refused?.detail.contains("nobody is listening") == true)
    // A listener whose backlog is full: connect waits, then times out.
    let name = uniqueAbstractName()
    var options = SocketListener.Options()
    options.backlog = 0
    let listener = try SocketListener(.abstract(name), options: options)
    var held: [Socket] = []
    let error = expectError(.timedOut) {
      for _ in 0..<8 {
        held.append(try Socket.blockingConnect(to: .abstract(name), timeout: .milliseconds(50)))
      }
    }
    #expect(error?.subject == "@" + name)
    _ = listener
  }

  @Test("abstract names and autobind")
  func abstractAndAutobind() throws {
    let name = uniqueAbstractName()
    let listener = try SocketListener(.abstract(name), kind: .seqpacket)
    #expect(listener.address == .abstract(name))
    let client = try Socket(.unix, .seqpacket)
    try client.bind(to: .unnamed)
    guard case .abstract(let assigned) = try client.localAddress() else {
      Issue.record("autobind gave no abstract name")
      return
    }
    #expect(assigned.count == 5)
    try client.blockingConnect(to: .abstract(name))
    let server = try listener.blockingAccept()
    #expect(try server.peerAddress() == .abstract(assigned))
  }

  @Test("datagram sockets bound to paths exchange addressed messages with senders")
  func datagrams() throws {
    try withTemporaryFolder { folder in
      let a = try Socket.bound(to: .path(folder.appending("a.sock")), kind: .datagram)
      let b = try Socket.bound(to: .path(folder.appending("b.sock")), kind: .datagram)
      try a.blockingSend("to b", to: .path(folder.appending("b.sock")))
      var buffer = [UInt8](repeating: 0, count: 16)
      let message = try buffer.withUnsafeMutableBytes { try b.blockingReceive(into: $0) }
      #expect(message.count == 4)
      #expect(message.sender == .path(folder.appending("a.sock")))
      _ = a
      let missing = expectError(.notFound) {
        try a.blockingSend("x", to: .path(folder.appending("none.sock")))
      }
      #expect(missing != nil)
    }
  }

  @Test("TCP over IPv4 and IPv6 loopback with options")
  func tcp() throws {
    for host in [SocketAddress.ipv4("127.0.0.1", port: 0), .ipv6("::1", port: 0)] {
      let listener = try SocketListener(host)
      #expect(listener.address.port != 0)
      let client = try Socket.blockingConnect(to: listener.address, timeout: .seconds(2))
      try client.set(.noDelay, true)
      #expect(try client.get(.noDelay))
      try client.set(.keepAlive, true)
      #expect(try client.get(.keepAlive))
      try client.set(.linger, .seconds(1))
      #expect(try client.get(.linger) == .seconds(1))
      try client.set(.receiveBufferSize, 65536)
      #expect(try client.get(.receiveBufferSize) >= 65536)
      #expect(try listener.socket.get(.reuseAddress))
      let server = try listener.blockingAccept()
      try client.blockingWrite("over tcp")
      var buffer = [UInt8](repeating: 0, count: 8)
      try buffer.withUnsafeMutableBytes { try server.blockingReadExactly(into: $0) }
      #expect(buffer == Array("over tcp".utf8))
      #expect(try server.peerAddress() == client.localAddress())
    }
    expectError(.connectionRefused) {
      try Socket.blockingConnect(to: .loopback(port: 1), timeout: .seconds(2))
    }
  }

  @Test("UDP datagrams over loopback report their sender")
  func udp() throws {
    let server = try Socket.bound(to: .loopback(port: 0), kind: .datagram)
    let address = try server.localAddress()
    let client = try Socket(.ipv4, .datagram)
    try client.blockingSend("udp", to: address)
    var buffer = [UInt8](repeating: 0, count: 8)
    let message = try buffer.withUnsafeMutableBytes { try server.blockingReceive(into: $0) }
    #expect(message.count == 3)
    #expect(message.sender == .ipv4("127.0.0.1", port: try client.localAddress().port!))
  }
}

/// The kernel's id of the eventfd behind `descriptor` (`eventfd-id` in its fdinfo).
func eventFDID(_ descriptor: FileDescriptor) throws -> Int {
  let info = try readProcFile(FilePath("/proc/self/fdinfo/\(descriptor.rawValue)"))
  for line in info.split(separator: "\n") where line.hasPrefix("eventfd-id:") {
    if let id = Int(line.dropFirst("eventfd-id:".count).trimmingWhitespace()) { return id }
  }
  throw HinixError(.system, operation: "read", subject: "fdinfo", detail: "no eventfd-id")
}

/// How many descriptors of this process refer to one of the eventfds with these ids.
func copies(ofEventFDs ids: Set<Int>) -> Int {
  guard let folder = opendir("/proc/self/fd") else { return -1 }
  defer { closedir(folder) }
  var count = 0
  while let entry = readdir(folder) {
    let name = withUnsafeBytes(of: entry.pointee.d_name) {
      String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self)
    }
    if let fd = Int32(name), let id = try? eventFDID(FileDescriptor(rawValue: fd)), ids.contains(id) {
      count += 1
    }
  }
  return count
}

/// Whether a task's call has returned, shared with the test that waits for it.
private final class Returned: Sendable {
  let flag = Mutex(false)
}
