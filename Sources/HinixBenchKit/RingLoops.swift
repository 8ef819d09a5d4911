import CHinixBaseline
import Hinix

extension BenchLoops {
  static func ringSend(
    _ sender: borrowing MessageSender, _ message: UnsafeRawBufferPointer, count: Int, done: EventFD
  ) throws -> Int64 {
    // The peer adds 1 once it has opened its end (so its start-up is not timed), and 1 after
    // the last message.
    _ = try done.blockingRead()
    let start = hinix_c_now_ns()
    for _ in 0..<count { try sender.blockingSend(message) }
    _ = try done.blockingRead()
    return hinix_c_now_ns() - start
  }

  static func ringSink(_ receiver: borrowing MessageReceiver, count: Int, done: EventFD) throws {
    let buffer = MessageBuffer(size: receiver.maximumMessageSize)
    defer { buffer.free() }
    try done.blockingAdd(1)
    for index in 0..<count {
      guard try receiver.blockingReceive(into: buffer.bytes) != nil else {
        throw BenchError.usage("the ring ended after \(index) of \(count) messages")
      }
    }
    try done.blockingAdd(1)
  }

  static func ringRoundTrips(
    _ sender: borrowing MessageSender, _ receiver: borrowing MessageReceiver,
    buffer: UnsafeMutableRawBufferPointer, size: Int, samples: UnsafeMutableBufferPointer<Int64>
  ) throws {
    let message = UnsafeRawBufferPointer(rebasing: buffer[..<size])
    for index in samples.indices {
      let start = hinix_c_now_ns()
      try sender.blockingSend(message)
      _ = try receiver.blockingReceive(into: buffer)
      samples[index] = hinix_c_now_ns() - start
    }
  }

  /// Echoes `count` messages from `input` to `output`, copying each through a buffer of the
  /// input's largest message; throws if the ring ends before.
  public static func ringEcho(
    _ input: borrowing MessageReceiver, _ output: borrowing MessageSender, count: Int
  ) throws {
    let buffer = MessageBuffer(size: input.maximumMessageSize)
    defer { buffer.free() }
    for index in 0..<count {
      guard let length = try input.blockingReceive(into: buffer.bytes) else {
        throw BenchError.usage("the ring ended after \(index) of \(count) messages")
      }
      try output.blockingSend(UnsafeRawBufferPointer(rebasing: buffer.bytes[..<length]))
    }
  }

  /// The echo end of the ring round trips: opens the rings inherited as `inputArgument` and
  /// `outputArgument` (``RingInheritance`` arguments), has both wait with `strategy`, and
  /// echoes `count` messages with ``ringEcho(_:_:count:)``.
  public static func ringEcho(
    from inputArgument: String, to outputArgument: String, strategy: WaitStrategy, count: Int
  ) throws {
    let input = try MessageReceiver.inherited(from: inputArgument)
    let output = try MessageSender.inherited(from: outputArgument)
    input.waitStrategy = strategy
    output.waitStrategy = strategy
    try ringEcho(input, output, count: count)
  }

  /// One slice of shmem-ipc's benchmark: copies `source` into the ring in place and sums it
  /// in place on the receiving side, in as many parts as the ring's free space allows.
  @inlinable @inline(__always)
  public static func ringSliceThrough(
    _ sender: borrowing RingSender<UInt64>, _ receiver: borrowing RingReceiver<UInt64>,
    _ source: UnsafeBufferPointer<UInt64>
  ) throws -> UInt64 {
    var sum: UInt64 = 0
    var sent = 0
    while sent < source.count {
      var filled = sent
      let written =
        try sender.trySend(maxCount: source.count - sent) { slots in
          // Called twice when the free part wraps: each part continues where the last ended.
          _ = slots.initialize(
            fromContentsOf: UnsafeBufferPointer(rebasing: source[filled..<filled + slots.count]))
          filled += slots.count
          return slots.count
        }.value ?? 0
      var received = 0
      while received < written {
        received +=
          try receiver.tryReceive { elements in
            sum &+= hinix_c_sum(elements.baseAddress, elements.count)
            return elements.count
          }.value ?? 0
      }
      sent += written
    }
    return sum
  }
}
