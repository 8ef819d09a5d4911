import Glibc
import SystemPackage
import Testing

@testable import Hinix

/// Reads one line from a child's output pipe.
func readLine(_ reader: PipeReader) throws -> String {
  var line: [UInt8] = []
  var byte: UInt8 = 0
  while try withUnsafeMutableBytes(of: &byte, { try reader.blockingRead(into: $0) }) == 1 && byte != 10 {
    line.append(byte)
  }
  return String(decoding: line, as: UTF8.self)
}

/// The pid a pidfd refers to, from /proc/self/fdinfo.
func pidOfPidfd(_ fd: FileDescriptor) throws -> pid_t? {
  let info = try readProcFile(FilePath("/proc/self/fdinfo/\(fd.rawValue)"))
  for line in info.split(separator: "\n") where line.hasPrefix("Pid:") {
    return pid_t(line.dropFirst(4).trimmingWhitespace())
  }
  return nil
}

@Suite("Sockets across processes", .timeLimit(.minutes(2)))
struct SocketProcessTests {
  @Test("a child receives an eventfd, a memfd and a pipe end over a Unix socket and uses each")
  func childUsesDescriptors() throws {
    try withTemporaryFolder { folder in
      let path = folder.appending("fds.sock")
      let listener = try SocketListener(.path(path))
      let child = try spawnPeer(["socket-use-fds", path.string])
      let connection = try #require(try listener.blockingAccept(timeout: .seconds(20)).value)
      let event = try EventFD()
      let memory = OwnedDescriptor(
        adopting: FileDescriptor(
          rawValue: try Sys.memfdCreate("test", allowSealing: false, hugePages: false).get()))
      let (reader, writer) = try Pipe.create()
      try connection.blockingSend(
        "take these", descriptors: [event.descriptor, memory.descriptor, writer.descriptor])
      var done = [UInt8](repeating: 0, count: 4)
      try done.withUnsafeMutableBytes { try connection.blockingReadExactly(into: $0) }
      #expect(done == Array("done".utf8))
      #expect(try child.blockingWait() == .exited(0))
      #expect(try event.blockingRead() == 7)
      var text = [UInt8](repeating: 0, count: 16)
      #expect(pread(memory.descriptor.rawValue, &text, text.count, 0) == 16)
      #expect(text == Array("memfd from child".utf8))
      _ = consume writer
      var piped = [UInt8](repeating: 0, count: 32)
      let count = try piped.withUnsafeMutableBytes { try reader.blockingRead(into: $0) }
      #expect(Array(piped[..<count]) == Array("pipe from child".utf8))
    }
  }

  @Test("peer and per-message credentials match the child's real pid, uid and gid")
  func childCredentials() throws {
    try withTemporaryFolder { folder in
      // The child drops to uid 65534, so the folder and socket must let others in.
      _ = folder.withPlatformString { chmod($0, 0o755) }
      var options = SocketListener.Options()
      options.mode = [.ownerReadWrite, .groupReadWrite, .otherReadWrite]
      let path = folder.appending("creds.sock")
      let listener = try SocketListener(.path(path), kind: .seqpacket, options: options)
      let dropping = getuid() == 0
      let child = try spawnPeer(["socket-credentials", path.string, dropping ? "1" : "0"])
      let connection = try #require(try listener.blockingAccept(timeout: .seconds(20)).value)
      let expected = Credentials(
        pid: child.pid, uid: dropping ? 65534 : getuid(), gid: dropping ? 65534 : getgid())
      #expect(try connection.peerCredentials() == expected)
      if let peer = try connection.peerProcessDescriptor() {
        #expect(try pidOfPidfd(peer.descriptor) == child.pid)
        #expect(peer.pid == child.pid)
      }
      try connection.set(.passCredentials, true)
      try connection.blockingSend("go")
      var buffer: [UInt8] = []
      let message = try connection.blockingReceive(into: &buffer)
      #expect(buffer == Array("hello".utf8))
      #expect(message.credentials == expected)
      try connection.blockingSend("bye")
      #expect(try child.blockingWait() == .exited(0))
    }
  }

  @Test("a listener killed with SIGKILL leaves a stale file that the next listener replaces")
  func staleRecoveryAfterKill() throws {
    try withTemporaryFolder { folder in
      let path = folder.appending("stale.sock")
      let (reader, writer) = try Pipe.create()
      let child = try spawnPeer(["socket-listen", path.string], passing: [writer.descriptor: 1])
      _ = consume writer
      #expect(try readLine(reader) == "ready")
      let live = expectError(.alreadyExists) { try SocketListener(.path(path)) }
      #expect(live?.detail.contains("another listener") == true)
      try child.kill(.kill)
      #expect(try child.blockingWait() == .signalled(SIGKILL))
      #expect(fileMode(path)! & S_IFMT == S_IFSOCK)
      expectError(.connectionRefused) { try Socket.blockingConnect(to: .path(path)) }
      let listener = try SocketListener(.path(path))
      let client = try Socket.blockingConnect(to: .path(path))
      _ = try listener.blockingAccept()
      _ = client
    }
  }

  @Test("one listener serves 50 client processes, 2,000 messages each, nothing lost or reordered")
  func fiftyClients() async throws {
    let name = uniqueAbstractName()
    let clients = 50
    let messages = 2000
    let listener = try LocalSocket.listen(.namespaced(name), kind: .seqpacket)
    #expect(listener.address == .abstract(name))
    var children: [ChildProcess] = []
    for id in 0..<clients {
      children.append(try spawnPeer(["socket-client", name, "\(id)", "\(messages)"]))
    }
    let counts = try await withThrowingTaskGroup(of: (Int, Int).self) { group in
      for _ in 0..<clients {
        let connection = try await listener.accept()
        group.addTask {
          let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64, alignment: 8)
          defer { buffer.deallocate() }
          var client = -1
          var expected = 0
          while true {
            let message = try await connection.receive(into: buffer)
            if message.count == 0 { break }
            let text = String(decoding: buffer[..<message.count], as: UTF8.self)
            let parts = text.split(separator: ":")
            guard parts.count == 2, let id = Int(parts[0]), let index = Int(parts[1]) else {
              throw HinixError(.invalidArgument, operation: "test", detail: "bad message \(text)")
            }
            if client < 0 { client = id }
            guard id == client, index == expected else {
              throw HinixError(
                .invalidArgument, operation: "test", detail: "expected \(client):\(expected), got \(text)")
            }
            expected += 1
            try await connection.send(UnsafeRawBufferPointer(rebasing: buffer[..<message.count]))
          }
          return (client, expected)
        }
      }
      var counts: [Int: Int] = [:]
      for try await (client, count) in group { counts[client] = count }
      return counts
    }
    #expect(counts.count == clients)
    #expect(counts.values.allSatisfy { $0 == messages })
    for child in children {
      #expect(try await child.wait() == .exited(0))
    }
  }
}
