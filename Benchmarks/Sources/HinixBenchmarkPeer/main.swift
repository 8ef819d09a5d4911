// The echo peer of the library-to-library round trips in SocketBenchmarks: spawned by the
// benchmarks with one end of a Unix stream socket as descriptor 3, it echoes every byte back
// until end of stream, through Hinix's async path or through SwiftNIO.
//
//   HinixBenchmarkPeer hinix <spin-nanoseconds>   Hinix async reads and writes, with
//                                                 WaitStrategy.spinThenSleep(spin) (0: sleep,
//                                                 -1: WaitStrategy.adaptive)
//   HinixBenchmarkPeer nio                        a SwiftNIO channel with an echo handler
//   HinixBenchmarkPeer ring <in> <out> <spin-ns>  echoes messages from one inherited message ring
//                                                 to another (RingInheritance arguments), with
//                                                 spinThenSleep(spin), busy-spin if negative,
//                                                 WaitStrategy.adaptive for "adaptive"
import Glibc
import Hinix
import HinixBenchKit
import NIOCore
import NIOPosix
import SystemPackage

/// The descriptor the benchmarks pass the peer's end of the socket as.
let socketDescriptor: Int32 = 3

/// Writes back whatever it reads.
final class EchoHandler: ChannelInboundHandler, Sendable {
  typealias InboundIn = ByteBuffer
  typealias OutboundOut = ByteBuffer

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    context.writeAndFlush(data, promise: nil)
  }
}

/// Reports a usage error on standard error and exits with status 2.
func fail(_ message: String) -> Never {
  let line = Array((message + "\n").utf8)
  _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
  exit(2)
}

/// Echoes through Hinix's async path on the reactor's executor, as a latency-minded user would.
nonisolated func hinixEcho(strategy: WaitStrategy) async throws {
  let socket = Socket(adopting: FileDescriptor(rawValue: socketDescriptor), domain: .unix, kind: .stream)
  socket.waitStrategy = strategy
  let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536, alignment: 64)
  defer { buffer.deallocate() }
  try await withTaskExecutorPreference(Reactor.shared) {
    while true {
      let count = try await socket.read(into: buffer)
      if count == 0 { break }
      try await socket.write(UnsafeRawBufferPointer(rebasing: buffer[..<count]))
    }
  }
}

let arguments = CommandLine.arguments
guard arguments.count >= 2 else {
  fail("usage: HinixBenchmarkPeer hinix <spin-nanoseconds> | nio")
}

switch arguments[1] {
case "hinix":
  let spin = arguments.count > 2 ? Int64(arguments[2]) ?? 0 : 0
  try await hinixEcho(strategy: spin == -1 ? .adaptive : .spinThenSleep(.nanoseconds(spin)))
case "ring":
  guard arguments.count == 5, let spin = arguments[4] == "adaptive" ? 0 : Int64(arguments[4]) else {
    fail("usage: HinixBenchmarkPeer ring <in> <out> <spin-nanoseconds | adaptive>")
  }
  let strategy: WaitStrategy =
    arguments[4] == "adaptive" ? .adaptive : spin < 0 ? .busySpin : .spinThenSleep(.nanoseconds(spin))
  // The echo loop of `hinix bench`, blocking as the C peer does, until the ring ends: the
  // benchmarks close their end or kill this process, so no count ends it first.
  do {
    try BenchLoops.ringEcho(
      from: arguments[2], to: arguments[3],
      strategy: strategy, count: .max)
  } catch is BenchError {
    // The ring ended.
  }
case "nio":
  let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
  let channel = try await ClientBootstrap(group: group)
    .channelInitializer { channel in channel.pipeline.addHandler(EchoHandler()) }
    .withConnectedSocket(socketDescriptor).get()
  try await channel.closeFuture.get()
  try await group.shutdownGracefully()
default:
  fail("HinixBenchmarkPeer: unknown mode \(arguments[1])")
}
