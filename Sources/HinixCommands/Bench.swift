import ArgumentParser
import CHinixBaseline
import Glibc
import Hinix
import Synchronization
import SystemPackage

/// Which side of a measurement runs: Hinix's API, or the raw C baseline doing the same syscalls.
enum Implementation: String, CaseIterable, ExpressibleByArgument {
  case hinix
  case c
}

/// One figure of the report: a metric of one transport at one size, Hinix beside its baseline.
struct Figure {
  var transport: String
  var size: Int
  var metric: String
  var hinix: Double
  var baseline: Double

  /// "Times worse than the baseline": hinix/baseline for times, baseline/hinix for throughput.
  var ratio: Double {
    metric.hasPrefix("throughput") ? baseline / hinix : hinix / baseline
  }
}

/// `hinix bench`: every transport between two processes, each beside raw C in the same run.
struct Bench: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Measure each Hinix transport between two processes beside raw C doing the same syscalls.",
    discussion: """
      Spawns itself as the peer process. By default the two processes are pinned to two different \
      CPUs; --same-core pins both to one. Reports round-trip latency (median, p99) and one-way \
      throughput, each beside the C baseline measured in the same run, with the ratio "times \
      worse than the baseline".
      """)

  @Flag(help: "A few seconds instead of about a minute and a half: fewer iterations.")
  var quick = false

  @Flag(help: "Pin both processes to the same CPU.")
  var sameCore = false

  @Flag(help: "Print one JSON array of figures instead of the table.")
  var json = false

  @Option(
    name: .customLong("only"),
    help: "Measure only these groups (repeatable): mq, eventfd, stream, fdpass, ring.")
  var groups: [String] = []

  private func measures(_ group: String) -> Bool {
    groups.isEmpty || groups.contains(group)
  }

  func validate() throws {
    let known = ["mq", "eventfd", "stream", "fdpass", "ring"]
    for group in groups where !known.contains(group) {
      throw ValidationError("unknown group '\(group)'; the groups are \(known.joined(separator: ", "))")
    }
  }

  func run() throws {
    let cpus = ChildProcess.allowedCPUs()
    let parentCPU = cpus.first ?? 0
    let peerCPU = sameCore || cpus.count < 2 ? parentCPU : cpus[1]
    try ChildProcess.pinCurrentThread(toCPU: parentCPU)
    let placement =
      parentCPU == peerCPU
      ? "both processes on CPU \(parentCPU) (same core\(cpus.count < 2 ? ": only one CPU allowed" : ""))"
      : "this process on CPU \(parentCPU), the peer on CPU \(peerCPU) (different cores)"
    let plan =
      quick
      ? Plan(roundTrips: 1_000, streamed: 4_000, streamedBytes: 16 << 20, rounds: 2)
      : Plan(roundTrips: 6_000, streamed: 30_000, streamedBytes: 256 << 20, rounds: 5)
    if json {
      Tool.report("placement: \(placement)")
    } else {
      try writeOut("hinix bench: \(placement); \(plan.rounds) alternating rounds per figure\n\n")
    }
    let runner = Runner(executable: try ownExecutable(), peerCPU: peerCPU, plan: plan)
    var figures: [Figure] = []
    let limits = try MessageQueue.Limits.current()
    for size in [64, 1024, 8192] where size <= limits.maxMessageSize && measures("mq") {
      figures += try runner.messageQueueRoundTrips(size: size)
      figures.append(try runner.messageQueueThroughput(size: size))
    }
    if measures("eventfd") {
      figures += try runner.eventFDRoundTrips()
    }
    for kind in StreamKind.allCases where measures("stream") {
      for size in [64, 4096, 65536] {
        figures += try runner.streamRoundTrips(kind, size: size)
        figures.append(try runner.streamThroughput(kind, size: size))
      }
    }
    if measures("fdpass") {
      figures += try runner.descriptorPassingRoundTrips()
    }
    if measures("ring") {
      for size in [64, 4096, 65536] {
        figures.append(try runner.ringThroughput(size: size))
      }
      figures += try runner.ringLatencies()
      for size in [64, 4096, 65536, 1 << 20] {
        figures.append(try runner.ringSameThread(size: size))
      }
    }
    try writeOut(json ? Report.json(figures) : Report.table(figures) + Report.ringSummary(figures))
  }

  private func ownExecutable() throws -> FilePath {
    switch Sys.executablePath() {
    case .success(let path): return path
    case .failure(let error):
      throw ToolError(status: .failure, description: "readlink(/proc/self/exe): \(error)")
    }
  }
}

/// How many iterations a run makes.
struct Plan {
  var roundTrips: Int
  var streamed: Int
  var streamedBytes: Int
  var rounds: Int
  var warmUp: Int { max(roundTrips / 10, 100) }
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

  /// The socket type of a socketpair transport.
  var socketKind: Socket.Kind? {
    switch self {
    case .socketStream, .pathStream: .stream
    case .seqpacket: .seqpacket
    case .datagram: .datagram
    case .pipe, .fifo: nil
    }
  }
}

/// The parent's ends of a stream transport.
enum StreamEnds {
  case pipe(PipeWriter, PipeReader)
  case socket(Socket)

  var descriptors: (write: Int32, read: Int32) {
    switch self {
    case .pipe(let writer, let reader): (writer.descriptor.rawValue, reader.descriptor.rawValue)
    case .socket(let socket): (socket.descriptor.rawValue, socket.descriptor.rawValue)
    }
  }
}

/// Runs each measurement against a freshly spawned peer, alternating Hinix and C in rounds.
struct Runner {
  var executable: FilePath
  var peerCPU: Int
  var plan: Plan

  /// Runs `measure` for C and then Hinix, `plan.rounds` times, so that drift over the run hits
  /// both alike, and adds up each side's results with `add`.
  func alternating<T>(
    _ zero: T, _ add: (T, T) -> T, _ measure: (Implementation) throws -> T
  ) rethrows -> [Implementation: T] {
    var results: [Implementation: T] = [:]
    for _ in 0..<plan.rounds {
      for implementation in [Implementation.c, .hinix] {
        results[implementation] = add(results[implementation] ?? zero, try measure(implementation))
      }
    }
    return results
  }

  func spawnPeer(
    _ arguments: [String], passing: [FileDescriptor: Int32] = [:], queues: [String] = []
  ) throws -> PeerWatch {
    let peer = try ChildProcess.spawn(
      executable, arguments: ["bench-peer"] + arguments, passing: passing, cpu: peerCPU)
    return try PeerWatch(peer, queues: queues)
  }

  func finish(_ peer: PeerWatch) throws {
    let termination = peer.join()
    guard termination == .exited(0) else {
      throw ToolError(status: .failure, description: "the benchmark peer ended with \(termination)")
    }
  }

  /// Two fresh queues (to the peer, from the peer) that are unlinked when `body` returns.
  private func withQueues<R>(_ body: (MessageQueue, MessageQueue) throws -> R) throws -> R {
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

  func messageQueueRoundTrips(size: Int) throws -> [Figure] {
    let samples = try alternating([Int64](), +) { implementation in
      return try withQueues { out, back in
        let count = plan.warmUp + plan.roundTrips
        let peer = try spawnPeer(
          ["mq-echo", implementation.rawValue, out.name!, back.name!, "\(count)"],
          queues: [out.name!, back.name!])
        defer { peer.end() }
        var recorded = [Int64](repeating: 0, count: count)
        let message = MessageBuffer(size: back.capacity.maxMessageSize)
        defer { message.free() }
        try recorded.withUnsafeMutableBufferPointer { buffer in
          switch implementation {
          case .c:
            try check(
              hinix_c_mq_rtt(
                out.descriptor.rawValue, back.descriptor.rawValue, message.bytes.baseAddress,
                message.bytes.count,
                size, count, buffer.baseAddress))
          case .hinix:
            try BenchLoops.messageQueueRoundTrips(
              out: out, back: back, buffer: message.bytes, size: size, samples: buffer)
          }
        }
        try finish(peer)
        return Array(recorded[plan.warmUp...])
      }
    }
    return Report.latency(transport: "mq", size: size, samples)
  }

  func messageQueueThroughput(size: Int) throws -> Figure {
    let seconds = try alternating(0.0, +) { implementation in
      return try withQueues { out, back in
        let peer = try spawnPeer(
          ["mq-sink", implementation.rawValue, out.name!, back.name!, "\(plan.streamed)"],
          queues: [out.name!, back.name!])
        defer { peer.end() }
        var elapsed: Int64 = 0
        let message = MessageBuffer(size: back.capacity.maxMessageSize)
        defer { message.free() }
        switch implementation {
        case .c:
          try check(
            hinix_c_mq_stream_send(
              out.descriptor.rawValue, back.descriptor.rawValue, message.bytes.baseAddress,
              message.bytes.count,
              size, plan.streamed, &elapsed))
        case .hinix:
          elapsed = try BenchLoops.messageQueueStream(
            out: out, ack: back, buffer: message.bytes, size: size, count: plan.streamed)
        }
        try finish(peer)
        return Double(elapsed) / 1e9
      }
    }
    let bytes = Double(size * plan.streamed * plan.rounds)
    return Figure(
      transport: "mq", size: size, metric: "throughput_bytes_per_s", hinix: bytes / seconds[.hinix]!,
      baseline: bytes / seconds[.c]!)
  }

  func eventFDRoundTrips() throws -> [Figure] {
    let samples = try alternating([Int64](), +) { implementation in
      let ping = try EventFD()
      let pong = try EventFD()
      let count = plan.warmUp + plan.roundTrips
      let peer = try spawnPeer(
        ["eventfd-echo", implementation.rawValue, "\(count)"],
        passing: [ping.descriptor: 3, pong.descriptor: 4])
      defer { peer.end() }
      var recorded = [Int64](repeating: 0, count: count)
      try recorded.withUnsafeMutableBufferPointer { buffer in
        switch implementation {
        case .c:
          try check(
            hinix_c_eventfd_rtt(
              ping.descriptor.rawValue, pong.descriptor.rawValue, count, buffer.baseAddress))
        case .hinix:
          try BenchLoops.eventFDRoundTrips(ping: ping, pong: pong, samples: buffer)
        }
      }
      try finish(peer)
      return Array(recorded[plan.warmUp...])
    }
    return Report.latency(transport: "eventfd", size: 8, samples)
  }
}

/// Watches a benchmark peer from a thread of its own: if the peer dies while this process waits
/// for it in a blocking call, the bench reports it, removes its queues and exits with status 1
/// instead of waiting forever.
final class PeerWatch: @unchecked Sendable {
  private let peer: ChildProcess
  private let queues: [String]
  private var termination: ChildProcess.Termination = .exited(0)
  private var joined = false
  private let stopping = Atomic<Bool>(false)
  /// Counts 1 once the watching thread has reaped the peer.
  private let done: EventFD

  init(_ peer: ChildProcess, queues: [String]) throws {
    self.peer = peer
    self.queues = queues
    done = try EventFD()
    if case .failure(let error) = Sys.startThread({ self.watch() }) {
      throw ToolError(status: .failure, description: "pthread_create: \(error)")
    }
  }

  private func watch() {
    termination = (try? peer.wait()) ?? .exited(-1)
    defer { try? done.add(1) }
    if termination != .exited(0) && !stopping.load(ordering: .acquiring) {
      Tool.report("the benchmark peer (pid \(peer.pid)) ended with \(termination)")
      for name in queues { try? MessageQueue.unlink(name) }
      exit(ToolStatus.failure.rawValue)
    }
  }

  /// Waits for the peer to end and returns how it ended.
  func join() -> ChildProcess.Termination {
    if !joined {
      _ = try? done.read()
      joined = true
    }
    return termination
  }

  /// Stops a peer that is still running (after an error on this side) and reaps it.
  func end() {
    if !joined {
      stopping.store(true, ordering: .releasing)
      try? peer.kill(SIGKILL)
      _ = join()
    }
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

extension Runner {
  /// Spawns the peer with `arguments` (to which the transport and its paths are added) and gives
  /// `body` the parent's ends: pipes reach the peer as descriptors 3 and 4, a socketpair's end as
  /// 3, FIFOs and the path socket by their paths.
  private func withStreamPeer<R>(
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
      case .failure(let error): throw ToolError(status: .failure, description: "mkdtemp: \(error)")
      }
      let base = folder.string
      defer { _ = Sys.removeDirectory(folder) }
      if kind == .pathStream {
        let path = FilePath(base + "/bench.sock")
        let listener = try SocketListener(.path(path))
        let peer = try spawnPeer(arguments + [kind.rawValue, path.string])
        defer { peer.end() }
        guard let connection = try listener.accept(timeout: .seconds(30)).value else {
          throw ToolError(status: .failure, description: "the benchmark peer did not connect to \(path)")
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
      guard let writer = try FIFO.openForWriting(FilePath(to)) else {
        throw ToolError(status: .failure, description: "open(\(to)): no reader")
      }
      let reader = try FIFO.openForReading(FilePath(from))
      let result = try body(.pipe(writer, reader))
      try finish(peer)
      return result
    }
  }

  func streamRoundTrips(_ kind: StreamKind, size: Int) throws -> [Figure] {
    let count = plan.warmUp + plan.roundTrips
    let samples = try alternating([Int64](), +) { implementation in
      return try withStreamPeer(kind, ["stream-echo", implementation.rawValue, "\(size)", "\(count)"]) {
        ends in
        let message = MessageBuffer(size: size)
        defer { message.free() }
        var recorded = [Int64](repeating: 0, count: count)
        try recorded.withUnsafeMutableBufferPointer { buffer in
          switch (implementation, ends) {
          case (.c, _):
            try check(
              hinix_c_stream_rtt(
                ends.descriptors.write, ends.descriptors.read, message.bytes.baseAddress, size, count,
                buffer.baseAddress))
          case (.hinix, .pipe(let writer, let reader)):
            try BenchLoops.streamRoundTrips(
              writer: writer, reader: reader, buffer: message.bytes, samples: buffer)
          case (.hinix, .socket(let socket)):
            try BenchLoops.streamRoundTrips(
              writer: socket, reader: socket, buffer: message.bytes, samples: buffer)
          }
        }
        return Array(recorded[plan.warmUp...])
      }
    }
    return Report.latency(transport: kind.rawValue, size: size, samples)
  }

  func streamThroughput(_ kind: StreamKind, size: Int) throws -> Figure {
    let count = max(1, min(plan.streamed, plan.streamedBytes / size))
    let seconds = try alternating(0.0, +) { implementation in
      return try withStreamPeer(
        kind, ["stream-sink", implementation.rawValue, "\(size)", "\(count * size)"]
      ) { ends in
        let message = MessageBuffer(size: size)
        defer { message.free() }
        var elapsed: Int64 = 0
        switch (implementation, ends) {
        case (.c, _):
          try check(
            hinix_c_stream_send(
              ends.descriptors.write, ends.descriptors.read, message.bytes.baseAddress, size, count, &elapsed)
          )
        case (.hinix, .pipe(let writer, let reader)):
          elapsed = try BenchLoops.streamSend(
            writer: writer, ack: reader, buffer: message.bytes, count: count)
        case (.hinix, .socket(let socket)):
          elapsed = try BenchLoops.streamSend(
            writer: socket, ack: socket, buffer: message.bytes, count: count)
        }
        return Double(elapsed) / 1e9
      }
    }
    let bytes = Double(size * count * plan.rounds)
    return Figure(
      transport: kind.rawValue, size: size, metric: "throughput_bytes_per_s", hinix: bytes / seconds[.hinix]!,
      baseline: bytes / seconds[.c]!)
  }

  /// Descriptor passing: one byte with a descriptor attached, sent and echoed back with it.
  func descriptorPassingRoundTrips() throws -> [Figure] {
    let count = plan.warmUp + plan.roundTrips
    let samples = try alternating([Int64](), +) { implementation in
      return try withStreamPeer(.seqpacket, ["fdpass-echo", implementation.rawValue, "1", "\(count)"]) {
        ends in
        guard case .socket(let socket) = ends else { return [] }
        let passed = try EventFD()
        var recorded = [Int64](repeating: 0, count: count)
        try recorded.withUnsafeMutableBufferPointer { buffer in
          switch implementation {
          case .c:
            try check(
              hinix_c_fdpass_rtt(
                socket.descriptor.rawValue, passed.descriptor.rawValue, count, buffer.baseAddress))
          case .hinix:
            try BenchLoops.descriptorRoundTrips(socket: socket, passing: passed.descriptor, samples: buffer)
          }
        }
        return Array(recorded[plan.warmUp...])
      }
    }
    return Report.latency(transport: "fd-pass", size: 1, samples)
  }
}

/// One side of a byte transport as the Hinix loops use it: a message socket sends and
/// receives whole messages through Hinix's message API, the others write and read bytes.
protocol BenchWriter {
  func benchWrite(_ bytes: UnsafeRawBufferPointer) throws
}

/// The reading side of a byte transport (see ``BenchWriter``).
protocol BenchReader {
  func benchRead(into buffer: UnsafeMutableRawBufferPointer) throws -> Int
}

extension PipeWriter: BenchWriter {
  func benchWrite(_ bytes: UnsafeRawBufferPointer) throws { try write(bytes) }
}

extension PipeReader: BenchReader {
  func benchRead(into buffer: UnsafeMutableRawBufferPointer) throws -> Int { try read(into: buffer) }
}

extension Socket: BenchWriter, BenchReader {
  func benchWrite(_ bytes: UnsafeRawBufferPointer) throws {
    if kind == .stream {
      try write(bytes)
    } else {
      try send(bytes)
    }
  }

  func benchRead(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
    kind == .stream ? try read(into: buffer) : try receive(into: buffer).count
  }
}

extension BenchLoops {
  static func readExactly(_ reader: some BenchReader, _ buffer: UnsafeMutableRawBufferPointer) throws {
    var done = 0
    while done < buffer.count {
      let count = try reader.benchRead(into: UnsafeMutableRawBufferPointer(rebasing: buffer[done...]))
      if count == 0 { throw ToolError(status: .failure, description: "the stream closed early") }
      done += count
    }
  }

  static func streamRoundTrips(
    writer: some BenchWriter, reader: some BenchReader, buffer: UnsafeMutableRawBufferPointer,
    samples: UnsafeMutableBufferPointer<Int64>
  ) throws {
    for index in samples.indices {
      let start = hinix_c_now_ns()
      try writer.benchWrite(UnsafeRawBufferPointer(buffer))
      try readExactly(reader, buffer)
      samples[index] = hinix_c_now_ns() - start
    }
  }

  static func streamEcho(
    reader: some BenchReader, writer: some BenchWriter, buffer: UnsafeMutableRawBufferPointer, count: Int
  ) throws {
    for _ in 0..<count {
      try readExactly(reader, buffer)
      try writer.benchWrite(UnsafeRawBufferPointer(buffer))
    }
  }

  static func streamSend(
    writer: some BenchWriter, ack: some BenchReader, buffer: UnsafeMutableRawBufferPointer, count: Int
  ) throws -> Int64 {
    let start = hinix_c_now_ns()
    for _ in 0..<count {
      try writer.benchWrite(UnsafeRawBufferPointer(buffer))
    }
    try readExactly(ack, UnsafeMutableRawBufferPointer(rebasing: buffer[..<1]))
    return hinix_c_now_ns() - start
  }

  static func streamSink(
    reader: some BenchReader, ack: some BenchWriter, buffer: UnsafeMutableRawBufferPointer, total: Int
  ) throws {
    var done = 0
    while done < total {
      let want = UnsafeMutableRawBufferPointer(rebasing: buffer[..<min(buffer.count, total - done)])
      let count = try reader.benchRead(into: want)
      if count == 0 { throw ToolError(status: .failure, description: "the stream closed early") }
      done += count
    }
    try ack.benchWrite(UnsafeRawBufferPointer(rebasing: buffer[..<1]))
  }

  static func descriptorRoundTrips(
    socket: Socket, passing descriptor: FileDescriptor, samples: UnsafeMutableBufferPointer<Int64>
  ) throws {
    let descriptors = [descriptor]
    let byte = UnsafeMutableRawBufferPointer.allocate(byteCount: 1, alignment: 1)
    defer { byte.deallocate() }
    byte[0] = 120
    for index in samples.indices {
      let start = hinix_c_now_ns()
      try socket.send(UnsafeRawBufferPointer(byte), descriptors: descriptors)
      let message = try socket.receive(into: byte, maxDescriptors: 1)
      guard let received = message.descriptors.takeNext() else {
        throw ToolError(status: .failure, description: "the echo came back without a descriptor")
      }
      try received.close()
      samples[index] = hinix_c_now_ns() - start
    }
  }

  static func descriptorEcho(socket: Socket, count: Int) throws {
    let byte = UnsafeMutableRawBufferPointer.allocate(byteCount: 1, alignment: 1)
    defer { byte.deallocate() }
    for _ in 0..<count {
      let message = try socket.receive(into: byte, maxDescriptors: 1)
      guard let received = message.descriptors.takeNext() else {
        throw ToolError(status: .failure, description: "a message came without a descriptor")
      }
      try socket.send(UnsafeRawBufferPointer(byte), descriptors: [received.descriptor])
    }
  }
}

/// Throws for a negative errno returned by a baseline function.
func check(_ result: Int32) throws {
  if result < 0 {
    throw ToolError(status: .failure, description: "baseline: \(String(cString: strerror(-result)))")
  }
}

/// The Hinix side of each measurement: the same work as the C baseline, through Hinix's API.
enum BenchLoops {
  static func messageQueueRoundTrips(
    out: MessageQueue, back: MessageQueue, buffer: UnsafeMutableRawBufferPointer, size: Int,
    samples: UnsafeMutableBufferPointer<Int64>
  ) throws {
    let message = UnsafeRawBufferPointer(rebasing: buffer[..<size])
    for index in samples.indices {
      let start = hinix_c_now_ns()
      try out.send(message)
      _ = try back.receive(into: buffer)
      samples[index] = hinix_c_now_ns() - start
    }
  }

  static func messageQueueEcho(input: MessageQueue, output: MessageQueue, count: Int) throws {
    let buffer = UnsafeMutableRawBufferPointer.allocate(
      byteCount: input.capacity.maxMessageSize, alignment: 16)
    defer { buffer.deallocate() }
    for _ in 0..<count {
      let received = try input.receive(into: buffer)
      try output.send(UnsafeRawBufferPointer(rebasing: buffer[..<received.count]))
    }
  }

  static func messageQueueStream(
    out: MessageQueue, ack: MessageQueue, buffer: UnsafeMutableRawBufferPointer, size: Int, count: Int
  ) throws -> Int64 {
    let message = UnsafeRawBufferPointer(rebasing: buffer[..<size])
    let start = hinix_c_now_ns()
    for _ in 0..<count {
      try out.send(message)
    }
    _ = try ack.receive(into: buffer)
    return hinix_c_now_ns() - start
  }

  static func messageQueueSink(input: MessageQueue, ack: MessageQueue, count: Int) throws {
    let buffer = UnsafeMutableRawBufferPointer.allocate(
      byteCount: input.capacity.maxMessageSize, alignment: 16)
    defer { buffer.deallocate() }
    for _ in 0..<count {
      _ = try input.receive(into: buffer)
    }
    try ack.send(UnsafeRawBufferPointer(rebasing: buffer[..<1]))
  }

  static func eventFDRoundTrips(ping: EventFD, pong: EventFD, samples: UnsafeMutableBufferPointer<Int64>)
    throws
  {
    for index in samples.indices {
      let start = hinix_c_now_ns()
      try ping.add(1)
      _ = try pong.read()
      samples[index] = hinix_c_now_ns() - start
    }
  }

  static func eventFDEcho(ping: EventFD, pong: EventFD, count: Int) throws {
    for _ in 0..<count {
      try pong.add(try ping.read())
    }
  }
}

/// `hinix bench-peer`: the other process of `hinix bench` (not for direct use).
struct BenchPeer: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "bench-peer", abstract: "The peer process of hinix bench.", shouldDisplay: false)

  @Argument var kind: String
  @Argument var implementation: Implementation
  @Argument var parameters: [String] = []

  /// The peer's ends of the stream transport named by the third parameter: pipes inherited as
  /// descriptors 3 (from the bench) and 4 (to it), a socketpair end as 3, FIFOs or a socket
  /// path named by the parameters after it.
  private func streamEnds() throws -> StreamEnds {
    guard parameters.count >= 3, let kind = StreamKind(rawValue: parameters[2]) else {
      throw ValidationError("missing or unknown transport")
    }
    switch kind {
    case .pipe:
      return .pipe(
        PipeWriter(adopting: FileDescriptor(rawValue: 4)), PipeReader(adopting: FileDescriptor(rawValue: 3)))
    case .socketStream, .seqpacket, .datagram:
      return .socket(Socket(adopting: FileDescriptor(rawValue: 3), domain: .unix, kind: kind.socketKind!))
    case .pathStream:
      guard parameters.count >= 4 else { throw ValidationError("missing socket path") }
      return .socket(try Socket.connect(to: .path(FilePath(parameters[3]))))
    case .fifo:
      guard parameters.count >= 5 else { throw ValidationError("missing FIFO paths") }
      let input = try FIFO.openForReading(FilePath(parameters[3]))
      guard let output = try FIFO.openForWriting(FilePath(parameters[4])) else {
        throw ValidationError("no reader on \(parameters[4])")
      }
      return .pipe(output, input)
    }
  }

  func run() throws {
    func queue(_ index: Int, _ access: MessageQueue.Access) throws -> MessageQueue {
      guard index < parameters.count else { throw ValidationError("missing queue name") }
      return try MessageQueue(opening: parameters[index], access: access)
    }
    func count(_ index: Int) throws -> Int {
      guard index < parameters.count, let value = Int(parameters[index]) else {
        throw ValidationError("missing count")
      }
      return value
    }
    switch (kind, implementation) {
    case ("mq-echo", .c):
      let input = try queue(0, .readOnly)
      let output = try queue(1, .writeOnly)
      try check(
        hinix_c_mq_echo(
          input.descriptor.rawValue, output.descriptor.rawValue, input.capacity.maxMessageSize, try count(2)))
    case ("mq-echo", .hinix):
      try BenchLoops.messageQueueEcho(
        input: try queue(0, .readOnly), output: try queue(1, .writeOnly), count: try count(2))
    case ("mq-sink", .c):
      let input = try queue(0, .readOnly)
      let ack = try queue(1, .writeOnly)
      try check(
        hinix_c_mq_stream_receive(
          input.descriptor.rawValue, ack.descriptor.rawValue, input.capacity.maxMessageSize, try count(2)))
    case ("mq-sink", .hinix):
      try BenchLoops.messageQueueSink(
        input: try queue(0, .readOnly), ack: try queue(1, .writeOnly), count: try count(2))
    case ("stream-echo", _), ("stream-sink", _):
      let size = try count(0)
      let amount = try count(1)
      let ends = try streamEnds()
      let buffer = MessageBuffer(size: max(size, 1))
      defer { buffer.free() }
      let base = buffer.bytes.baseAddress
      let (output, input) = ends.descriptors
      switch (kind, implementation, ends) {
      case ("stream-echo", .c, _):
        try check(hinix_c_stream_echo(input, output, base, size, amount))
      case ("stream-echo", _, .pipe(let writer, let reader)):
        try BenchLoops.streamEcho(reader: reader, writer: writer, buffer: buffer.bytes, count: amount)
      case ("stream-echo", _, .socket(let socket)):
        try BenchLoops.streamEcho(reader: socket, writer: socket, buffer: buffer.bytes, count: amount)
      case (_, .c, _):
        try check(hinix_c_stream_sink(input, output, base, size, Int64(amount)))
      case (_, _, .pipe(let writer, let reader)):
        try BenchLoops.streamSink(reader: reader, ack: writer, buffer: buffer.bytes, total: amount)
      case (_, _, .socket(let socket)):
        try BenchLoops.streamSink(reader: socket, ack: socket, buffer: buffer.bytes, total: amount)
      }
    case ("fdpass-echo", _):
      guard case .socket(let socket) = try streamEnds() else {
        throw ValidationError("fdpass needs a socket")
      }
      if implementation == .c {
        try check(hinix_c_fdpass_echo(socket.descriptor.rawValue, try count(1)))
      } else {
        try BenchLoops.descriptorEcho(socket: socket, count: try count(1))
      }
    case ("ring-sink", .hinix), ("ring-echo", .hinix):
      try runRing()
    case ("eventfd-echo", .c):
      try check(hinix_c_eventfd_echo(3, 4, try count(0)))
    case ("eventfd-echo", .hinix):
      let ping = EventFD(adopting: FileDescriptor(rawValue: 3))
      let pong = EventFD(adopting: FileDescriptor(rawValue: 4))
      try BenchLoops.eventFDEcho(ping: ping, pong: pong, count: try count(0))
    default:
      throw ValidationError("unknown benchmark peer \(kind)")
    }
  }
}

/// Turns samples into figures, and figures into a table or JSON.
enum Report {
  /// The median and p99 of each side's round trips; with `mean`, also the mean of the fastest
  /// 99%. Sub-microsecond medians need that mean: clocks may tick in steps of 10 ns (the TSC
  /// of some AMD processors does), so a median of 200 ns is only known to 5%, while the mean of
  /// thousands of samples taken at random phases of the tick is not quantized.
  static func latency(
    transport: String, size: Int, _ samples: [Implementation: [Int64]], mean: Bool = false
  ) -> [Figure] {
    let hinix = samples[.hinix, default: []].sorted()
    let baseline = samples[.c, default: []].sorted()
    func percentile(_ sorted: [Int64], _ p: Double) -> Double {
      guard !sorted.isEmpty else { return .nan }
      return Double(sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))])
    }
    func fastestMean(_ sorted: [Int64]) -> Double {
      let kept = sorted.prefix(max(1, sorted.count * 99 / 100))
      return kept.isEmpty ? .nan : Double(kept.reduce(0, +)) / Double(kept.count)
    }
    var figures = [
      Figure(
        transport: transport, size: size, metric: "rtt_median_ns", hinix: percentile(hinix, 0.5),
        baseline: percentile(baseline, 0.5)),
      Figure(
        transport: transport, size: size, metric: "rtt_p99_ns", hinix: percentile(hinix, 0.99),
        baseline: percentile(baseline, 0.99)),
    ]
    if mean {
      figures.append(
        Figure(
          transport: transport, size: size, metric: "rtt_mean_ns", hinix: fastestMean(hinix),
          baseline: fastestMean(baseline)))
    }
    return figures
  }

  static func rounded(_ value: Double, _ places: Double) -> Double {
    let scale = places == 1 ? 10.0 : 100.0
    return (value * scale).rounded() / scale
  }

  static func json(_ figures: [Figure]) -> String {
    let objects = figures.map { figure in
      "{\"transport\": \"\(figure.transport)\", \"size\": \(figure.size), \"metric\": \"\(figure.metric)\", "
        + "\"hinix\": \(rounded(figure.hinix, 1)), \"baseline\": \(rounded(figure.baseline, 1)), "
        + "\"ratio\": \(rounded(figure.ratio, 2))}"
    }
    return "[\n  " + objects.joined(separator: ",\n  ") + "\n]\n"
  }

  /// The shared-memory ring's 64 KiB throughput beside the best kernel transport of the same
  /// run (either column), as issue 4 asks.
  static func ringSummary(_ figures: [Figure]) -> String {
    let throughput = figures.filter { $0.metric.hasPrefix("throughput") && $0.size == 65536 }
    guard let ring = throughput.first(where: { $0.transport == "shm-ring" }),
      let best = throughput.filter({ $0.transport != "shm-ring" }).max(by: {
        max($0.hinix, $0.baseline) < max($1.hinix, $1.baseline)
      })
    else { return "" }
    let kernel = max(best.hinix, best.baseline)
    return
      "shm-ring at 64 KiB: \(rounded(ring.hinix / kernel, 2))x the best kernel transport of this run (\(best.transport), \(rounded(kernel / 1e6, 1)) MB/s).\n"
  }

  static func table(_ figures: [Figure]) -> String {
    func pad(_ text: String, _ width: Int, left: Bool = false) -> String {
      let padding = String(repeating: " ", count: max(0, width - text.count))
      return left ? text + padding : padding + text
    }
    func value(_ figure: Figure, _ number: Double) -> String {
      if figure.metric.hasPrefix("throughput") {
        return "\(rounded(number / 1e6, 1)) MB/s"
      }
      return number < 1000 ? "\(rounded(number, 1)) ns" : "\(rounded(number / 1000, 2)) µs"
    }
    var lines = [
      pad("transport", 12, left: true) + pad("size", 6) + "  " + pad("metric", 12, left: true)
        + pad("hinix", 14) + pad("C baseline", 14) + pad("ratio", 8)
    ]
    for figure in figures {
      let metric =
        switch figure.metric {
        case "rtt_median_ns": "rtt median"
        case "rtt_p99_ns": "rtt p99"
        case "rtt_mean_ns": "rtt mean"
        case "op_ns": "per message"
        default: "throughput"
        }
      lines.append(
        pad(figure.transport, 12, left: true) + pad("\(figure.size)", 6) + "  " + pad(metric, 12, left: true)
          + pad(value(figure, figure.hinix), 14) + pad(value(figure, figure.baseline), 14)
          + pad("\(rounded(figure.ratio, 2))", 8))
    }
    lines.append("")
    lines.append("ratio: times worse than the C baseline (hinix/C for times, C/hinix for throughput).")
    lines.append("rtt mean: the mean of the fastest 99%, not quantized by the clock's tick as a median is.")
    return lines.joined(separator: "\n") + "\n"
  }
}
