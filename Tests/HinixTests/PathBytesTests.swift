import Glibc
import SystemPackage
import Testing

@testable import Hinix

/// A path in `folder` whose last component is `stem` followed by `raw` bytes that are not
/// UTF-8 and then `suffix`.
func bytePath(_ folder: FilePath, _ stem: String, _ raw: [UInt8], _ suffix: String) -> FilePath {
  FilePath(bytes: folder.bytes + [UInt8(ascii: "/")] + Array(stem.utf8) + raw + Array(suffix.utf8))
}

/// Linux names are bytes: Hinix carries them to the kernel and back unchanged, as socat and
/// Python do, and prints them escaped.
@Suite("Names are bytes", .timeLimit(.minutes(1)))
struct PathBytesTests {
  @Test("a listener at a non-UTF-8 path binds that very name, serves it and removes it")
  func listenAtNonUTF8Path() throws {
    try withTemporaryFolder { folder in
      let path = bytePath(folder, "nb", [0xFF], ".sock")
      let listener = try SocketListener(.path(path))
      #expect(listener.address == .path(path))
      #expect(listener.address.description.hasSuffix("nb\\xff.sock"))
      // The file under exactly those bytes, and no file under a rewritten name.
      #expect(try Sys.status(path, followingLinks: false).get().isSocket)
      let names = try Sys.directoryEntries(folder).get()
      #expect(names.count == 1)
      #expect(FilePath(bytes: folder.bytes + [UInt8(ascii: "/")]).appending(names[0]) == path)
      let client = try Socket.blockingConnect(to: .path(path), timeout: .seconds(1))
      let server = try #require(try listener.blockingAccept(timeout: .seconds(1)).value)
      try client.blockingWrite("é")
      var buffer = [UInt8](repeating: 0, count: 2)
      try buffer.withUnsafeMutableBytes { try server.blockingReadExactly(into: $0) }
      #expect(buffer == Array("é".utf8))
      _ = consume listener
      #expect(throws: Errno.noSuchFileOrDirectory) { try Sys.status(path, followingLinks: false).get() }
    }
  }

  @Test("connecting to a Latin-1 path reaches the listener there, and a missing one is named escaped")
  func connectToLatin1Path() throws {
    try withTemporaryFolder { folder in
      let path = bytePath(folder, "caf", [0xE9], ".sock")
      let missing = expectError(.notFound) {
        try Socket.blockingConnect(to: .path(path), timeout: .seconds(1))
      }
      #expect(missing?.description.contains("caf\\xe9.sock") == true)
      #expect(missing?.description.contains("\u{FFFD}") == false)
      let listener = try SocketListener(.path(path), kind: .seqpacket)
      let client = try Socket.blockingConnect(to: .path(path), kind: .seqpacket, timeout: .seconds(1))
      let server = try #require(try listener.blockingAccept(timeout: .seconds(1)).value)
      try client.blockingSend("hi")
      #expect(try server.receiveBytes().bytes == Array("hi".utf8))
    }
  }

  @Test("a datagram server replies to a sender bound at a non-UTF-8 path")
  func datagramReplyToNonUTF8Sender() throws {
    try withTemporaryFolder { folder in
      let serverPath = folder.appending("server.sock")
      let clientPath = bytePath(folder, "client", [0xC3, 0x28], ".sock")
      let server = try Socket.bound(to: .path(serverPath), kind: .datagram)
      let client = try Socket.bound(to: .path(clientPath), kind: .datagram)
      try client.blockingSend("ping", to: .path(serverPath))
      var bytes = [UInt8](repeating: 0, count: 16)
      let request = try bytes.withUnsafeMutableBytes { try server.blockingReceive(into: $0) }
      #expect(request.sender == .path(clientPath))
      try server.blockingSend("pong", to: request.sender!)
      #expect(try client.receiveBytes().bytes == Array("pong".utf8))
    }
  }

  @Test("a Unix datagram client that Socket.connect makes is autobound, so the server can reply")
  func datagramClientIsRepliable() throws {
    try withTemporaryFolder { folder in
      let path = folder.appending("dgram.sock")
      let server = try Socket.bound(to: .path(path), kind: .datagram)
      let client = try Socket.blockingConnect(to: .path(path), kind: .datagram, timeout: .seconds(1))
      guard case .abstract(let name) = try client.localAddress(), !name.isEmpty else {
        Issue.record("the client has no name to reply to")
        return
      }
      try client.blockingSend("ping")
      var bytes = [UInt8](repeating: 0, count: 16)
      let request = try bytes.withUnsafeMutableBytes { try server.blockingReceive(into: $0) }
      #expect(request.sender == .abstract(name))
      try server.blockingSend("pong", to: request.sender!)
      #expect(try client.receiveBytes().bytes == Array("pong".utf8))
    }
  }

  @Test("an abstract name is bytes: invalid UTF-8 and inner NULs round-trip, and print escaped")
  func abstractNameBytes() throws {
    let name: [UInt8] = Array("hinix-\(getpid())-".utf8) + [0xFF, 0x00, 0x41]
    let listener = try SocketListener(.abstract(name))
    #expect(listener.address == .abstract(name))
    #expect(listener.address.description.hasSuffix("\\xff\\x00A"))
    let client = try Socket.blockingConnect(to: .abstract(name), timeout: .seconds(1))
    let server = try #require(try listener.blockingAccept(timeout: .seconds(1)).value)
    #expect(try server.localAddress() == .abstract(name))
    _ = client
  }

  @Test("a FIFO at a non-UTF-8 path is made, opened and removed under its own name")
  func fifoAtNonUTF8Path() throws {
    try withTemporaryFolder { folder in
      let path = bytePath(folder, "pipe", [0x80], "")
      try FIFO.create(at: path)
      #expect(try Sys.status(path).get().isFIFO)
      let ends = try FIFO.openReadWrite(path)
      try ends.writer.blockingWrite("x")
      var buffer = [UInt8](repeating: 0, count: 1)
      #expect(try buffer.withUnsafeMutableBytes { try ends.reader.blockingRead(into: $0) } == 1)
      try FIFO.remove(path)
      let gone = expectError(.notFound) { try FIFO.remove(path) }
      #expect(gone?.description.contains("pipe\\x80") == true)
    }
  }

  @Test("listening where a live listener of another socket type is bound is alreadyExists")
  func liveListenerOfAnotherType() throws {
    try withTemporaryFolder { folder in
      let path = folder.appending("typed.sock")
      let stream = try SocketListener(.path(path), kind: .stream)
      let error = expectError(.alreadyExists) { try SocketListener(.path(path), kind: .seqpacket) }
      #expect(error?.description.contains("another listener") == true)
      // The live listener's file is untouched.
      let client = try Socket.blockingConnect(to: .path(path), timeout: .seconds(1))
      #expect(try stream.blockingAccept(timeout: .seconds(1)).isCompleted)
      _ = client
    }
  }

  @Test("connecting to a regular file or a folder says it is not a socket")
  func connectToNonSocket() throws {
    try withTemporaryFolder { folder in
      let file = folder.appending("plain")
      let fd = try Sys.open(file, O_WRONLY | O_CREAT, mode: 0o600).get()
      _ = Sys.close(fd)
      let notSocket = expectError(.invalidArgument) {
        try Socket.blockingConnect(to: .path(file), timeout: .seconds(1))
      }
      #expect(notSocket?.description.contains("not a socket: a regular file") == true)
      let toFolder = expectError(.invalidArgument) {
        try Socket.blockingConnect(to: .path(folder), timeout: .seconds(1))
      }
      #expect(toFolder?.description.contains("not a socket: a folder") == true)
    }
  }

  @Test("from a working folder too deep for sun_path, a short relative name binds as given")
  func relativeNameFromADeepFolder() throws {
    try withTemporaryFolder { folder in
      var deep = folder
      while deep.bytes.count <= SocketAddress.maximumUnixNameLength {
        deep.append("a-folder-name-of-some-length")
        try Sys.makeDirectory(deep, mode: 0o700).get()
      }
      try withProcessWideState {
        let saved = try Sys.currentDirectory().get()
        defer { _ = saved.withPlatformString { chdir($0) } }
        #expect(deep.withPlatformString { chdir($0) } == 0)
        let listener = try SocketListener(.path("s.sock"))
        #expect(listener.address == .path("s.sock"))
        let client = try Socket.blockingConnect(to: .path("s.sock"), timeout: .seconds(1))
        #expect(try listener.blockingAccept(timeout: .seconds(1)).isCompleted)
        _ = client
        _ = consume listener
      }
      #expect(throws: Errno.noSuchFileOrDirectory) {
        try Sys.status(deep.appending("s.sock"), followingLinks: false).get()
      }
    }
  }
}
