import CHinixBaseline
import Hinix
import SystemPackage

/// The other process of `hinix bench` (`hinix bench-peer KIND IMPLEMENTATION PARAMETERS...`):
/// the echo or sink end of one measurement, through Hinix or the C baseline.
public struct Peer {
  /// The measurement, such as "mq-echo", "stream-sink" or "ring-echo".
  public var kind: String
  /// Which side runs: Hinix's API or the C baseline.
  public var implementation: Implementation
  /// The measurement's parameters: queue names, sizes, counts, transports, paths.
  public var parameters: [String]

  /// The peer end of `kind` through `implementation`, with the arguments after them.
  public init(kind: String, implementation: Implementation, parameters: [String]) {
    self.kind = kind
    self.implementation = implementation
    self.parameters = parameters
  }

  /// The peer's ends of the stream transport named by the third parameter: pipes inherited as
  /// descriptors 3 (from the bench) and 4 (to it), a socketpair end as 3, FIFOs or a socket
  /// path named by the parameters after it.
  private func streamEnds() throws -> StreamEnds {
    guard parameters.count >= 3, let kind = StreamKind(rawValue: parameters[2]) else {
      throw BenchError.usage("missing or unknown transport")
    }
    switch kind {
    case .pipe:
      return .pipe(
        PipeWriter(adopting: FileDescriptor(rawValue: 4)), PipeReader(adopting: FileDescriptor(rawValue: 3)))
    case .pty:
      return .terminal(try Terminal(adopting: FileDescriptor(rawValue: 3)))
    case .socketStream, .seqpacket, .datagram:
      return .socket(Socket(adopting: FileDescriptor(rawValue: 3), domain: .unix, kind: kind.socketKind!))
    case .pathStream:
      guard parameters.count >= 4 else { throw BenchError.usage("missing socket path") }
      return .socket(try Socket.blockingConnect(to: .path(FilePath(parameters[3]))))
    case .fifo:
      guard parameters.count >= 5 else { throw BenchError.usage("missing FIFO paths") }
      let input = try FIFO.blockingOpenForReading(FilePath(parameters[3]))
      let output = try FIFO.blockingOpenForWriting(FilePath(parameters[4]))
      return .pipe(output, input)
    }
  }

  /// Runs this end of the measurement to its last message.
  public func run() throws {
    func queue(_ index: Int, _ access: MessageQueue.Access) throws -> MessageQueue {
      guard index < parameters.count else { throw BenchError.usage("missing queue name") }
      return try MessageQueue(opening: parameters[index], access: access)
    }
    func count(_ index: Int) throws -> Int {
      guard index < parameters.count, let value = Int(parameters[index]) else {
        throw BenchError.usage("missing count")
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
      case ("stream-echo", _, .terminal(let terminal)):
        try BenchLoops.streamEcho(reader: terminal, writer: terminal, buffer: buffer.bytes, count: amount)
      case (_, .c, _):
        try check(hinix_c_stream_sink(input, output, base, size, Int64(amount)))
      case (_, _, .pipe(let writer, let reader)):
        try BenchLoops.streamSink(reader: reader, ack: writer, buffer: buffer.bytes, total: amount)
      case (_, _, .socket(let socket)):
        try BenchLoops.streamSink(reader: socket, ack: socket, buffer: buffer.bytes, total: amount)
      case (_, _, .terminal(let terminal)):
        try BenchLoops.streamSink(reader: terminal, ack: terminal, buffer: buffer.bytes, total: amount)
      }
    case ("fdpass-echo", _):
      guard case .socket(let socket) = try streamEnds() else {
        throw BenchError.usage("fdpass needs a socket")
      }
      if implementation == .c {
        try check(hinix_c_fdpass_echo(socket.descriptor.rawValue, try count(1)))
      } else {
        try BenchLoops.descriptorEcho(socket: socket, count: try count(1))
      }
    case ("ring-sink", .hinix), ("ring-echo", .hinix):
      try runRing()
    case ("exit-stamped", _):
      try check(hinix_c_exit_stamped(3))
    case ("signal-echo", _):
      guard let signal = Signal.realtime(1) else { throw BenchError.failure("no real-time signals") }
      if implementation == .c {
        try check(hinix_c_signal_echo(signal.rawValue, try count(0), parameters.last == "loop" ? 1 : 0))
      } else {
        try BenchLoops.signalEcho(
          signal: signal, count: try count(0), onReactor: parameters.contains("reactor"))
      }
    case ("instructions", _):
      guard let path = parameters.first.flatMap(InstructionPath.init(rawValue:)) else {
        throw BenchError.usage("instructions: the path is one of \(InstructionPath.allCases.map(\.rawValue))")
      }
      try BenchLoops.instructions(path, implementation, count: try count(1))
    case ("eventfd-echo", .c):
      try check(hinix_c_eventfd_echo(3, 4, try count(0)))
    case ("eventfd-echo", .hinix):
      let ping = EventFD(adopting: FileDescriptor(rawValue: 3))
      let pong = EventFD(adopting: FileDescriptor(rawValue: 4))
      try BenchLoops.eventFDEcho(ping: ping, pong: pong, count: try count(0))
    default:
      throw BenchError.usage("unknown benchmark peer \(kind)")
    }
  }

  /// The Hinix ends of the ring measurements: "ring-sink RING COUNT SPIN" and
  /// "ring-echo IN OUT COUNT SPIN", the rings inherited from the bench.
  private func runRing() throws {
    func parameter(_ index: Int) throws -> String {
      guard index < parameters.count else {
        throw BenchError.usage("\(kind): missing parameter \(index + 1)")
      }
      return parameters[index]
    }
    func number(_ index: Int) throws -> Int {
      guard let value = Int(try parameter(index)) else { throw BenchError.usage("\(kind): not a number") }
      return value
    }
    switch kind {
    case "ring-sink":
      let receiver = try MessageReceiver.inherited(from: try parameter(0))
      receiver.waitStrategy = try RingWait.named(try parameter(2)).strategy
      try BenchLoops.ringSink(
        receiver, count: try number(1), done: EventFD(adopting: FileDescriptor(rawValue: 7)))
    case "ring-echo":
      try BenchLoops.ringEcho(
        from: try parameter(0), to: try parameter(1), strategy: try RingWait.named(try parameter(3)).strategy,
        count: try number(2))
    default:
      throw BenchError.usage("unknown benchmark peer \(kind)")
    }
  }
}
