import CHinixBaseline
import Hinix

/// The hot paths `Benchmarks/instructions.sh` counts instructions of under callgrind: each runs
/// `count` times on this thread, through Hinix or the C baseline, so that the difference between
/// two counts is the cost of the operations alone (start-up and set-up cancel out).
public enum InstructionPath: String, CaseIterable, Sendable {
  /// A 64-byte message sent to and received from one queue.
  case mq
  /// 64 bytes written to and read from one pipe.
  case pipe
  /// 64 bytes written to and read from one Unix stream socket pair.
  case socket
  /// A 64-byte slice copied into the typed ring and summed out of it.
  case ring
  /// A real-time signal sent to this process and received by a task on the reactor's executor
  /// (C: a handler writes it into a pipe that an epoll loop on another thread reads).
  case signal

  /// The C baseline's number for this path (`hinix_c_instructions`).
  var baselineNumber: Int32 {
    switch self {
    case .mq: 0
    case .pipe: 1
    case .socket: 2
    case .ring: 3
    case .signal: 4
    }
  }
}

extension BenchLoops {
  /// Runs `path` `count` times through `implementation`.
  static func instructions(_ path: InstructionPath, _ implementation: Implementation, count: Int) throws {
    if implementation == .c {
      try check(hinix_c_instructions(path.baselineNumber, count))
      return
    }
    // 64-byte aligned, as the C baseline's ring source is: memcpy's path depends on it.
    let message = UnsafeMutableRawBufferPointer.allocate(byteCount: 64, alignment: 64)
    let back = UnsafeMutableRawBufferPointer.allocate(byteCount: 64, alignment: 64)
    defer {
      message.deallocate()
      back.deallocate()
    }
    message.initializeMemory(as: UInt8.self, repeating: 1)
    switch path {
    case .mq:
      let queue = try MessageQueue(
        creating: "/hinix-instructions-swift-\(Sys.processID)", access: .readWrite,
        capacity: MessageQueue.Capacity(maxMessages: 4, maxMessageSize: 64), exclusive: true)
      try queue.unlink()
      for _ in 0..<count {
        try queue.send(UnsafeRawBufferPointer(message))
        guard try queue.receive(into: back).count == 64 else { throw BenchError.failure("short message") }
      }
    case .pipe:
      let (reader, writer) = try Pipe.create()
      for _ in 0..<count {
        try writer.write(UnsafeRawBufferPointer(message))
        guard try reader.read(into: back) == 64 else { throw BenchError.failure("short read") }
      }
    case .socket:
      let (one, other) = try Socket.pair(.stream)
      for _ in 0..<count {
        try one.write(UnsafeRawBufferPointer(message))
        guard try other.read(into: back) == 64 else { throw BenchError.failure("short read") }
      }
    case .ring:
      let pair = try RingSender<UInt64>.makeRing(capacity: 16)
      let source = UnsafeBufferPointer(message.bindMemory(to: UInt64.self))
      for _ in 0..<count { _ = try ringSliceThrough(pair.sender, pair.receiver, source) }
    case .signal:
      try signalsToSelf(count: count)
    }
  }
}
