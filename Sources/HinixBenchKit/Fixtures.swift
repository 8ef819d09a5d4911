import CHinixBaseline
import Glibc
import Hinix
import SystemPackage

/// Why a benchmark could not run, in one line; the tool that runs it picks the exit status.
public struct BenchError: Error, CustomStringConvertible {
  /// What kind of failure: the tool exits 1 for a failure and 2 for a usage error.
  public enum Kind: Sendable {
    /// The measurement failed.
    case failure
    /// The peer was asked wrongly: bad or missing arguments, or a transport that ended early.
    case usage
  }

  /// What kind of failure.
  public var kind: Kind
  /// The failure, said in one line.
  public var description: String

  static func failure(_ description: String) -> BenchError {
    BenchError(kind: .failure, description: description)
  }

  static func usage(_ description: String) -> BenchError {
    BenchError(kind: .usage, description: description)
  }
}

/// Throws for a negative errno returned by a baseline function.
func check(_ result: Int32) throws {
  if result < 0 {
    throw BenchError.failure("baseline: \(String(cString: strerror(-result)))")
  }
}

/// The CPUs this process was allowed before ``pinProcess(toCPU:)`` narrowed them to one, so
/// that a second placement in the same process still finds a CPU for its peer.
public let allowedCPUs: [Int] = ChildProcess.allowedCPUs()

/// Pins every thread of this process to `cpu`, and so the threads it starts later: a peer on
/// another CPU then never shares its CPU with this process's thread pool or reactor, whichever
/// thread an async measurement happens to run on.
public func pinProcess(toCPU cpu: Int) throws {
  _ = allowedCPUs  // read before the mask narrows
  let result = hinix_c_pin_process(Int32(cpu))
  if result < 0 {
    throw BenchError.failure("sched_setaffinity (cpu \(cpu)): \(String(cString: strerror(-result)))")
  }
}

/// A zeroed, aligned buffer shared by the Hinix and C sides of a measurement.
struct MessageBuffer {
  let bytes: UnsafeMutableRawBufferPointer

  init(size: Int) {
    bytes = .allocate(byteCount: size, alignment: 64)
    bytes.initializeMemory(as: UInt8.self, repeating: 0)
  }

  func free() { bytes.deallocate() }
}

/// The transports measured with the byte-stream loops: unnamed pipes handed to the peer, FIFOs
/// it opens by path, the three kinds of socketpair handed to it, and a stream socket it
/// connects to by path.
enum StreamKind: String, CaseIterable {
  case pipe
  case fifo
  case socketStream = "uds-stream"
  case seqpacket = "uds-seqpkt"
  case datagram = "uds-dgram"
  case pathStream = "uds-path"
  /// A pseudo-terminal in raw mode: the parent holds the master, the peer the slave.
  case pty

  /// The socket type of a socketpair transport.
  var socketKind: Socket.Kind? {
    switch self {
    case .socketStream, .pathStream: .stream
    case .seqpacket: .seqpacket
    case .datagram: .datagram
    case .pipe, .fifo, .pty: nil
    }
  }
}

/// The parent's ends of a stream transport.
enum StreamEnds {
  case pipe(PipeWriter, PipeReader)
  case socket(Socket)
  case terminal(Terminal)

  var descriptors: (write: Int32, read: Int32) {
    switch self {
    case .pipe(let writer, let reader): (writer.descriptor.rawValue, reader.descriptor.rawValue)
    case .socket(let socket): (socket.descriptor.rawValue, socket.descriptor.rawValue)
    case .terminal(let terminal): (terminal.descriptor.rawValue, terminal.descriptor.rawValue)
    }
  }
}

extension Runner {
  /// Two fresh queues (to the peer, from the peer) that are unlinked when `body` returns.
  func withQueues<R>(_ body: (MessageQueue, MessageQueue) throws -> R) throws -> R {
    let limits = try MessageQueue.Limits.current()
    let capacity = MessageQueue.Capacity(
      maxMessages: min(10, limits.maxMessages), maxMessageSize: min(8192, limits.maxMessageSize))
    let stem = "/hinix-bench-\(Sys.processID)-\(UInt32.random(in: 0...UInt32.max))"
    let out = try MessageQueue(creating: stem + "-out", capacity: capacity, exclusive: true)
    defer { try? out.unlink() }
    let back = try MessageQueue(creating: stem + "-back", capacity: capacity, exclusive: true)
    defer { try? back.unlink() }
    return try body(out, back)
  }

  /// Spawns the peer with `arguments` (to which the transport and its paths are added) and gives
  /// `body` the parent's ends: pipes reach the peer as descriptors 3 and 4, a socketpair's end as
  /// 3, FIFOs and the path socket by their paths.
  func withStreamPeer<R>(
    _ kind: StreamKind, _ arguments: [String], _ body: (StreamEnds) throws -> R
  ) throws -> R {
    switch kind {
    case .pipe:
      var toPeer: (reader: PipeReader, writer: PipeWriter)? = try Pipe.create()
      var fromPeer: (reader: PipeReader, writer: PipeWriter)? = try Pipe.create()
      let peer = try spawnPeer(
        arguments + [kind.rawValue], passing: [toPeer!.reader.descriptor: 3, fromPeer!.writer.descriptor: 4])
      defer { peer.end() }
      let ends = StreamEnds.pipe(toPeer!.writer, fromPeer!.reader)
      // Drop the peer's ends here, so that either side sees the other's exit.
      toPeer = nil
      fromPeer = nil
      let result = try body(ends)
      try finish(peer)
      return result
    case .pty:
      var pair: PseudoTerminal.Pair? = try PseudoTerminal.open(attributes: .raw)
      // The peer's slave is blocking, as the C peer's reads expect; this copy closes after the
      // spawn, so the peer holds the only one.
      let peer = try { () throws -> PeerWatch in
        let peerSlave = try PseudoTerminal.openSlave(of: pair!)
        return try withExtendedLifetime(peerSlave) {
          try spawnPeer(arguments + [kind.rawValue], passing: [peerSlave.descriptor: 3])
        }
      }()
      defer { peer.end() }
      let ends = StreamEnds.terminal(pair!.master)
      pair = nil
      let result = try body(ends)
      try finish(peer)
      return result
    case .socketStream, .seqpacket, .datagram:
      var pair: (Socket, Socket)? = try Socket.pair(kind.socketKind!)
      let peer = try spawnPeer(arguments + [kind.rawValue], passing: [pair!.1.descriptor: 3])
      defer { peer.end() }
      let ends = StreamEnds.socket(pair!.0)
      pair = nil
      let result = try body(ends)
      try finish(peer)
      return result
    case .fifo, .pathStream:
      let folder: FilePath
      switch Sys.makeTemporaryDirectory(prefix: "/tmp/hinix-bench-") {
      case .success(let path): folder = path
      case .failure(let error): throw BenchError.failure("mkdtemp: \(error)")
      }
      let base = folder.string
      defer { _ = Sys.removeDirectory(folder) }
      if kind == .pathStream {
        let path = FilePath(base + "/bench.sock")
        let listener = try SocketListener(.path(path))
        let peer = try spawnPeer(arguments + [kind.rawValue, path.string])
        defer { peer.end() }
        guard let connection = try listener.blockingAccept(timeout: .seconds(30)).value else {
          throw BenchError.failure("the benchmark peer did not connect to \(path)")
        }
        let result = try body(.socket(connection))
        try finish(peer)
        return result
      }
      let (to, from) = (base + "/to-peer", base + "/from-peer")
      defer {
        try? FIFO.remove(FilePath(to))
        try? FIFO.remove(FilePath(from))
      }
      try FIFO.create(at: FilePath(to))
      try FIFO.create(at: FilePath(from))
      let peer = try spawnPeer(arguments + [kind.rawValue, to, from])
      defer { peer.end() }
      // Both sides open "to-peer" first, so the blocking opens pair up without a deadlock.
      let writer = try FIFO.blockingOpenForWriting(FilePath(to))
      let reader = try FIFO.blockingOpenForReading(FilePath(from))
      let result = try body(.pipe(writer, reader))
      try finish(peer)
      return result
    }
  }
}
