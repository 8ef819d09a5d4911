import CHinixBaseline
import Hinix
import SystemPackage

/// The Hinix side of each measurement: the same work as the C baseline, through Hinix's API.
///
/// Each loop first sets the wait strategy of what it uses to ``WaitStrategy/sleep``: the C
/// baseline blocks in its system calls, so Hinix does too, whatever the default strategy is
/// (a spinning one would compare a spin with a sleep).
public enum BenchLoops {
  static func messageQueueRoundTrips(
    out: MessageQueue, back: MessageQueue, buffer: UnsafeMutableRawBufferPointer, size: Int,
    samples: UnsafeMutableBufferPointer<Int64>
  ) throws {
    sleeping(out, back)
    let message = UnsafeRawBufferPointer(rebasing: buffer[..<size])
    for index in samples.indices {
      let start = hinix_c_now_ns()
      try out.blockingSend(message)
      _ = try back.blockingReceive(into: buffer)
      samples[index] = hinix_c_now_ns() - start
    }
  }

  static func messageQueueEcho(input: MessageQueue, output: MessageQueue, count: Int) throws {
    sleeping(input, output)
    let buffer = UnsafeMutableRawBufferPointer.allocate(
      byteCount: input.capacity.maxMessageSize, alignment: 16)
    defer { buffer.deallocate() }
    for _ in 0..<count {
      let received = try input.blockingReceive(into: buffer)
      try output.blockingSend(UnsafeRawBufferPointer(rebasing: buffer[..<received.count]))
    }
  }

  static func messageQueueStream(
    out: MessageQueue, ack: MessageQueue, buffer: UnsafeMutableRawBufferPointer, size: Int, count: Int
  ) throws -> Int64 {
    sleeping(out, ack)
    let message = UnsafeRawBufferPointer(rebasing: buffer[..<size])
    let start = hinix_c_now_ns()
    for _ in 0..<count {
      try out.blockingSend(message)
    }
    _ = try ack.blockingReceive(into: buffer)
    return hinix_c_now_ns() - start
  }

  static func messageQueueSink(input: MessageQueue, ack: MessageQueue, count: Int) throws {
    sleeping(input, ack)
    let buffer = UnsafeMutableRawBufferPointer.allocate(
      byteCount: input.capacity.maxMessageSize, alignment: 16)
    defer { buffer.deallocate() }
    for _ in 0..<count {
      _ = try input.blockingReceive(into: buffer)
    }
    try ack.blockingSend(UnsafeRawBufferPointer(rebasing: buffer[..<1]))
  }

  static func eventFDRoundTrips(ping: EventFD, pong: EventFD, samples: UnsafeMutableBufferPointer<Int64>)
    throws
  {
    sleeping(ping, pong)
    for index in samples.indices {
      let start = hinix_c_now_ns()
      try ping.blockingAdd(1)
      _ = try pong.blockingRead()
      samples[index] = hinix_c_now_ns() - start
    }
  }

  static func eventFDEcho(ping: EventFD, pong: EventFD, count: Int) throws {
    sleeping(ping, pong)
    for _ in 0..<count {
      try pong.blockingAdd(try ping.blockingRead())
    }
  }
}

/// What the loops set to ``WaitStrategy/sleep``.
protocol BenchWaiting: AnyObject {
  var waitStrategy: WaitStrategy { get set }
}

extension BenchLoops {
  /// Makes each of `objects` block as the C baseline does.
  static func sleeping(_ objects: any BenchWaiting...) {
    for object in objects { object.waitStrategy = .sleep }
  }
}

extension MessageQueue: BenchWaiting {}
extension EventFD: BenchWaiting {}
extension PipeWriter: BenchWaiting {}
extension PipeReader: BenchWaiting {}
extension Terminal: BenchWaiting {}
extension Socket: BenchWaiting {}

/// One side of a byte transport as the Hinix loops use it: a message socket sends and
/// receives whole messages through Hinix's message API, the others write and read bytes.
protocol BenchWriter: BenchWaiting {
  func benchWrite(_ bytes: UnsafeRawBufferPointer) throws
}

/// The reading side of a byte transport (see ``BenchWriter``).
protocol BenchReader: BenchWaiting {
  func benchRead(into buffer: UnsafeMutableRawBufferPointer) throws -> Int
}

extension PipeWriter: BenchWriter {
  func benchWrite(_ bytes: UnsafeRawBufferPointer) throws { try blockingWrite(bytes) }
}

extension PipeReader: BenchReader {
  func benchRead(into buffer: UnsafeMutableRawBufferPointer) throws -> Int { try blockingRead(into: buffer) }
}

extension Terminal: BenchWriter, BenchReader {
  func benchWrite(_ bytes: UnsafeRawBufferPointer) throws { try blockingWrite(bytes) }
  func benchRead(into buffer: UnsafeMutableRawBufferPointer) throws -> Int { try blockingRead(into: buffer) }
}

extension Socket: BenchWriter, BenchReader {
  func benchWrite(_ bytes: UnsafeRawBufferPointer) throws {
    if kind == .stream {
      try blockingWrite(bytes)
    } else {
      try blockingSend(bytes)
    }
  }

  func benchRead(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
    kind == .stream ? try blockingRead(into: buffer) : try blockingReceive(into: buffer).count
  }
}

extension BenchLoops {
  static func readExactly(_ reader: some BenchReader, _ buffer: UnsafeMutableRawBufferPointer) throws {
    var done = 0
    while done < buffer.count {
      let count = try reader.benchRead(into: UnsafeMutableRawBufferPointer(rebasing: buffer[done...]))
      if count == 0 { throw BenchError.failure("the stream closed early") }
      done += count
    }
  }

  static func streamRoundTrips(
    writer: some BenchWriter, reader: some BenchReader, buffer: UnsafeMutableRawBufferPointer,
    samples: UnsafeMutableBufferPointer<Int64>
  ) throws {
    sleeping(writer, reader)
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
    sleeping(reader, writer)
    for _ in 0..<count {
      try readExactly(reader, buffer)
      try writer.benchWrite(UnsafeRawBufferPointer(buffer))
    }
  }

  static func streamSend(
    writer: some BenchWriter, ack: some BenchReader, buffer: UnsafeMutableRawBufferPointer, count: Int
  ) throws -> Int64 {
    sleeping(writer, ack)
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
    sleeping(reader, ack)
    var done = 0
    while done < total {
      let want = UnsafeMutableRawBufferPointer(rebasing: buffer[..<min(buffer.count, total - done)])
      let count = try reader.benchRead(into: want)
      if count == 0 { throw BenchError.failure("the stream closed early") }
      done += count
    }
    try ack.benchWrite(UnsafeRawBufferPointer(rebasing: buffer[..<1]))
  }

  static func descriptorRoundTrips(
    socket: Socket, passing descriptor: FileDescriptor, samples: UnsafeMutableBufferPointer<Int64>
  ) throws {
    sleeping(socket)
    let descriptors = [descriptor]
    let byte = UnsafeMutableRawBufferPointer.allocate(byteCount: 1, alignment: 1)
    defer { byte.deallocate() }
    byte[0] = 120
    for index in samples.indices {
      let start = hinix_c_now_ns()
      try socket.blockingSend(UnsafeRawBufferPointer(byte), descriptors: descriptors)
      let message = try socket.blockingReceive(into: byte, maxDescriptors: 1)
      guard let received = message.descriptors.takeNext() else {
        throw BenchError.failure("the echo came back without a descriptor")
      }
      try received.close()
      samples[index] = hinix_c_now_ns() - start
    }
  }

  static func descriptorEcho(socket: Socket, count: Int) throws {
    sleeping(socket)
    let byte = UnsafeMutableRawBufferPointer.allocate(byteCount: 1, alignment: 1)
    defer { byte.deallocate() }
    for _ in 0..<count {
      let message = try socket.blockingReceive(into: byte, maxDescriptors: 1)
      guard let received = message.descriptors.takeNext() else {
        throw BenchError.failure("a message came without a descriptor")
      }
      try socket.blockingSend(UnsafeRawBufferPointer(byte), descriptors: [received.descriptor])
    }
  }
}
