// Unix-domain sockets between this process and a forked raw-C peer on the other core: round
// trips and a 1 GiB stream through Hinix (blocking and async), through raw C doing the same
// system calls, and through SwiftNIO (the peer a Swift user would otherwise pick), in one run.
//
// Goals (issue 3): Hinix's median at most 1.10x the C baseline's; Hinix's async round-trip rate
// at least 2x NIO's, and its 1 GiB stream at least as fast as NIO's.
import Benchmark
import CHinixBaseline
import Glibc
import Hinix
import NIOCore
import NIOPosix
import SystemPackage

/// The sockets and forked peers of the socket benchmarks.
final class SocketFixture: @unchecked Sendable {
  static let messageSize = 64
  static let streamTotal = 1 << 30
  static let chunk = 65536

  let echo: Socket
  let seqpacket: Socket
  let descriptorEcho: Socket
  let sink: Socket
  let passed: EventFD
  let buffer: UnsafeMutableRawBufferPointer
  let group: MultiThreadedEventLoopGroup
  let nioEcho: Channel
  let nioEchoHandler: RoundTripHandler
  let nioSink: Channel
  let nioSinkHandler: RoundTripHandler
  private var peers: [pid_t] = []

  init() async throws {
    let peerCPU = try pinForPeer()
    var ends: [Socket] = []
    var nioDescriptors: [Int32] = []
    for (kind, socketKind, nio) in [
      (0, Socket.Kind.stream, false), (0, .seqpacket, false), (2, .seqpacket, false), (1, .stream, false),
      (0, .stream, true), (1, .stream, true),
    ] {
      let (mine, theirs) = try Socket.pair(socketKind)
      let size = kind == 0 ? SocketFixture.messageSize : 1
      let pid = hinix_c_fork_stream_peer(
        Int32(kind), theirs.descriptor.rawValue, size, Int64(SocketFixture.streamTotal), peerCPU)
      guard pid > 0 else { throw HinixError(.system, operation: "fork", detail: "\(pid)") }
      peers.append(pid)
      if nio {
        // NIO takes its own descriptor and closes it with the channel.
        nioDescriptors.append(dup(mine.descriptor.rawValue))
      } else {
        // Blocking as the C side does, whatever the default strategy is.
        mine.waitStrategy = .sleep
        ends.append(mine)
      }
    }
    echo = ends[0]
    seqpacket = ends[1]
    descriptorEcho = ends[2]
    sink = ends[3]
    passed = try EventFD()
    buffer = .allocate(byteCount: SocketFixture.chunk, alignment: 64)
    buffer.initializeMemory(as: UInt8.self, repeating: 1)
    group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    let echoHandler = RoundTripHandler()
    nioEchoHandler = echoHandler
    nioEcho = try await ClientBootstrap(group: group)
      .channelInitializer { channel in channel.pipeline.addHandler(echoHandler) }
      .withConnectedSocket(nioDescriptors[0]).get()
    let sinkHandler = RoundTripHandler()
    nioSinkHandler = sinkHandler
    nioSink = try await ClientBootstrap(group: group)
      .channelInitializer { channel in channel.pipeline.addHandler(sinkHandler) }
      .withConnectedSocket(nioDescriptors[1]).get()
  }

  func end() async throws {
    try await nioEcho.close()
    try await nioSink.close()
    try await group.shutdownGracefully()
    endPeers(peers)
    buffer.deallocate()
  }
}

/// Completes a promise once the expected number of bytes has come back: how a NIO client
/// waits for a reply. Used only on its channel's event loop.
final class RoundTripHandler: ChannelInboundHandler, @unchecked Sendable {
  typealias InboundIn = ByteBuffer

  private var expected = 0
  private var received = 0
  private var promise: EventLoopPromise<Void>?

  /// Arms the handler for `count` bytes; call on the event loop.
  func expect(_ count: Int, _ promise: EventLoopPromise<Void>) {
    expected = count
    received = 0
    self.promise = promise
  }

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    received += unwrapInboundIn(data).readableBytes
    if received >= expected, let promise {
      self.promise = nil
      promise.succeed(())
    }
  }

  func errorCaught(context: ChannelHandlerContext, error: any Error) {
    promise?.fail(error)
    promise = nil
  }
}

extension Channel {
  /// Writes `buffer` and waits until `replyBytes` bytes have come back to `handler`.
  func roundTrip(_ buffer: ByteBuffer, expecting replyBytes: Int, handler: RoundTripHandler) async throws {
    let promise = eventLoop.makePromise(of: Void.self)
    eventLoop.execute {
      handler.expect(replyBytes, promise)
      self.writeAndFlush(buffer, promise: nil)
    }
    try await promise.futureResult.get()
  }

  /// Writes `count` copies of `buffer`, then waits for the one-byte acknowledgement.
  func stream(_ buffer: ByteBuffer, count: Int, handler: RoundTripHandler) async throws {
    let promise = eventLoop.makePromise(of: Void.self)
    eventLoop.execute { handler.expect(1, promise) }
    for index in 0..<count {
      // Let NIO's buffering apply back-pressure the way a user would: wait for each write.
      if index % 16 == 15 {
        try await writeAndFlush(buffer)
      } else {
        write(buffer, promise: nil)
      }
    }
    flush()
    try await promise.futureResult.get()
  }
}

nonisolated(unsafe) var sockets: SocketFixture!

func socketBenchmarks() {
  let roundTrips = perMessage(
    setup: { sockets = try await SocketFixture() }, teardown: { try await sockets.end() })
  let size = SocketFixture.messageSize

  Benchmark("uds stream round trip 64 B: Hinix", configuration: roundTrips) { benchmark in
    let message = UnsafeRawBufferPointer(rebasing: sockets.buffer[..<size])
    let reply = UnsafeMutableRawBufferPointer(rebasing: sockets.buffer[..<size])
    for _ in benchmark.scaledIterations {
      try sockets.echo.blockingWrite(message)
      try sockets.echo.blockingReadExactly(into: reply)
    }
  }

  Benchmark("uds stream round trip 64 B: Hinix async", configuration: roundTrips) { benchmark in
    let message = UnsafeRawBufferPointer(rebasing: sockets.buffer[..<size])
    let reply = UnsafeMutableRawBufferPointer(rebasing: sockets.buffer[..<size])
    for _ in benchmark.scaledIterations {
      try await sockets.echo.write(message)
      try await sockets.echo.readExactly(into: reply)
    }
  }

  Benchmark("uds stream round trip 64 B: Hinix async, adaptive", configuration: roundTrips) { benchmark in
    let message = UnsafeRawBufferPointer(rebasing: sockets.buffer[..<size])
    let reply = UnsafeMutableRawBufferPointer(rebasing: sockets.buffer[..<size])
    sockets.echo.waitStrategy = .adaptive
    defer { sockets.echo.waitStrategy = .sleep }
    for _ in benchmark.scaledIterations {
      try await sockets.echo.write(message)
      try await sockets.echo.readExactly(into: reply)
    }
  }

  Benchmark("uds stream round trip 64 B: Hinix async on the reactor", configuration: roundTrips) {
    benchmark in
    let message = UnsafeRawBufferPointer(rebasing: sockets.buffer[..<size])
    let reply = UnsafeMutableRawBufferPointer(rebasing: sockets.buffer[..<size])
    try await withTaskExecutorPreference(Reactor.shared) {
      for _ in benchmark.scaledIterations {
        try await sockets.echo.write(message)
        try await sockets.echo.readExactly(into: reply)
      }
    }
  }

  Benchmark("uds stream round trip 64 B: C", configuration: roundTrips) { benchmark in
    let fd = sockets.echo.descriptor.rawValue
    for _ in benchmark.scaledIterations {
      let result = hinix_c_stream_rtt(fd, fd, sockets.buffer.baseAddress, size, 1, nil)
      precondition(result == 0, "stream round trip failed: \(result)")
    }
  }

  Benchmark("uds stream round trip 64 B: SwiftNIO", configuration: roundTrips) { benchmark in
    let buffer = sockets.nioEcho.allocator.buffer(repeating: 1, count: size)
    for _ in benchmark.scaledIterations {
      try await sockets.nioEcho.roundTrip(buffer, expecting: size, handler: sockets.nioEchoHandler)
    }
  }

  Benchmark("uds seqpacket round trip 64 B: Hinix", configuration: roundTrips) { benchmark in
    let message = UnsafeRawBufferPointer(rebasing: sockets.buffer[..<size])
    let reply = UnsafeMutableRawBufferPointer(rebasing: sockets.buffer[..<size])
    for _ in benchmark.scaledIterations {
      try sockets.seqpacket.blockingSend(message)
      blackHole(try sockets.seqpacket.blockingReceive(into: reply).count)
    }
  }

  Benchmark("uds seqpacket round trip 64 B: C", configuration: roundTrips) { benchmark in
    let fd = sockets.seqpacket.descriptor.rawValue
    for _ in benchmark.scaledIterations {
      let result = hinix_c_stream_rtt(fd, fd, sockets.buffer.baseAddress, size, 1, nil)
      precondition(result == 0, "seqpacket round trip failed: \(result)")
    }
  }

  Benchmark("descriptor passing round trip: Hinix", configuration: roundTrips) { benchmark in
    let descriptors = [sockets.passed.descriptor]
    let byte = UnsafeMutableRawBufferPointer(rebasing: sockets.buffer[..<1])
    for _ in benchmark.scaledIterations {
      try sockets.descriptorEcho.blockingSend(UnsafeRawBufferPointer(byte), descriptors: descriptors)
      let message = try sockets.descriptorEcho.blockingReceive(into: byte, maxDescriptors: 1)
      try message.descriptors.takeNext()?.close()
    }
  }

  Benchmark("descriptor passing round trip: C", configuration: roundTrips) { benchmark in
    let fd = sockets.descriptorEcho.descriptor.rawValue
    let passed = sockets.passed.descriptor.rawValue
    for _ in benchmark.scaledIterations {
      let result = hinix_c_fdpass_rtt(fd, passed, 1, nil)
      precondition(result == 0, "descriptor passing failed: \(result)")
    }
  }

  let stream = Benchmark.Configuration(
    metrics: [.wallClock, .throughput, .mallocCountTotal],
    warmupIterations: 1,
    maxDuration: .seconds(10),
    maxIterations: 5,
    setup: { sockets = try await SocketFixture() },
    teardown: { try await sockets.end() }
  )
  let chunks = SocketFixture.streamTotal / SocketFixture.chunk

  Benchmark("uds stream 1 GiB in 64 KiB writes: Hinix async", configuration: stream) { _ in
    let chunk = UnsafeRawBufferPointer(sockets.buffer)
    for _ in 0..<chunks {
      try await sockets.sink.write(chunk)
    }
    try await sockets.sink.readExactly(into: UnsafeMutableRawBufferPointer(rebasing: sockets.buffer[..<1]))
  }

  Benchmark("uds stream 1 GiB in 64 KiB writes: Hinix async, adaptive", configuration: stream) { _ in
    let chunk = UnsafeRawBufferPointer(sockets.buffer)
    sockets.sink.waitStrategy = .adaptive
    defer { sockets.sink.waitStrategy = .sleep }
    for _ in 0..<chunks {
      try await sockets.sink.write(chunk)
    }
    try await sockets.sink.readExactly(into: UnsafeMutableRawBufferPointer(rebasing: sockets.buffer[..<1]))
  }

  // 16 chunks per call, as NIO's writev of its pending writes.
  Benchmark("uds stream 1 GiB in 64 KiB writes: Hinix async, 16 per gathering write", configuration: stream) {
    _ in
    let batch = [UnsafeRawBufferPointer](repeating: UnsafeRawBufferPointer(sockets.buffer), count: 16)
    for _ in 0..<chunks / 16 {
      try await sockets.sink.write(gathering: batch)
    }
    try await sockets.sink.readExactly(into: UnsafeMutableRawBufferPointer(rebasing: sockets.buffer[..<1]))
  }

  Benchmark("uds stream 1 GiB in 64 KiB writes: C", configuration: stream) { _ in
    var elapsed: Int64 = 0
    let fd = sockets.sink.descriptor.rawValue
    let result = hinix_c_stream_send(
      fd, fd, sockets.buffer.baseAddress, SocketFixture.chunk, chunks, &elapsed)
    precondition(result == 0, "stream failed: \(result)")
  }

  Benchmark("uds stream 1 GiB in 64 KiB writes: SwiftNIO", configuration: stream) { _ in
    let buffer = sockets.nioSink.allocator.buffer(repeating: 1, count: SocketFixture.chunk)
    try await sockets.nioSink.stream(buffer, count: chunks, handler: sockets.nioSinkHandler)
  }
}
