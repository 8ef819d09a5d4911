import Glibc
import SystemPackage
import Testing

@_spi(RingInternals) @testable import Hinix

/// Deterministic message contents: message `index` is `length(index)` bytes of `source`
/// starting at `offset(index)`, so any byte out of place is found by comparison.
struct MessagePattern {
  let source: [UInt8]
  let maximumLength: Int

  init(maximumLength: Int) {
    self.maximumLength = maximumLength
    var state: UInt64 = 0x9E37_79B9_7F4A_7C15
    source = (0..<(1 << 20) + maximumLength).map { _ in
      state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
      return UInt8(truncatingIfNeeded: state >> 56)
    }
  }

  func length(_ index: Int) -> Int {
    // Mostly large, every length mod 8 and some empty messages, to exercise the padding.
    let mixed = (UInt64(index) &* 0x9E37_79B9_7F4A_7C15) >> 40
    return index % 97 == 0 ? 0 : Int(mixed % UInt64(maximumLength + 1))
  }

  func withMessage<R>(_ index: Int, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
    let offset = (index &* 7919) % (1 << 20)
    return try source.withUnsafeBytes { bytes in
      try body(UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + length(index))]))
    }
  }

  func matches(_ index: Int, _ received: UnsafeRawBufferPointer) -> Bool {
    withMessage(index) { expected in
      expected.count == received.count
        && (expected.isEmpty || memcmp(expected.baseAddress!, received.baseAddress!, expected.count) == 0)
    }
  }
}

@Suite("Shared-memory message ring", .timeLimit(.minutes(2)))
struct MessageRingTests {
  @Test("messages of every length mod 8 wrap around a small ring whole and in order")
  func wrapAround() throws {
    let pair = try MessageSender.makeRing(capacity: 64)
    let sender = pair.sender
    let receiver = pair.receiver
    #expect(sender.maximumMessageSize == 16)
    // Lengths 0...16 in turn walk the frame start through every 8-aligned offset, with and
    // without padding before the end.
    for index in 0..<500 {
      let length = index % 17
      let bytes = (0..<length).map { UInt8(truncatingIfNeeded: index &+ $0) }
      #expect(try sender.trySend(bytes) == .completed)
      let received = try receiver.tryReceive { Array($0) }
      #expect(received == .completed(bytes))
    }
    #expect(try receiver.tryReceive { $0.count } == .wouldBlock)
  }

  @Test("a message larger than the ring's limit is an error naming the limit, never a wait")
  func tooLarge() throws {
    let pair = try MessageSender.makeRing(capacity: 256)
    let sender = pair.sender
    let receiver = pair.receiver
    let error = expectError(.messageTooLarge) { try sender.blockingSend([UInt8](repeating: 1, count: 113)) }
    #expect(error?.detail.contains("113 bytes") == true)
    #expect(error?.detail.contains("112 bytes") == true)
    try sender.blockingSend([UInt8](repeating: 2, count: 112))
    // A buffer too small to receive it leaves the message in the ring.
    var small = [UInt8](repeating: 0, count: 100)
    let tooSmall = expectError(.messageTooLarge) {
      _ = try small.withUnsafeMutableBytes { try receiver.tryReceive(into: $0) }
    }
    #expect(tooSmall?.detail.contains("100-byte buffer") == true)
    #expect(try receiver.blockingReceive() == [UInt8](repeating: 2, count: 112))
    _ = expectError(.invalidArgument) { _ = try MessageSender.makeRing(capacity: 32) }
    _ = expectError(.invalidArgument) { _ = try MessageSender.makeRing(capacity: 100) }
  }

  @Test("close() on kept message ends: the receiver drains then ends; the sender learns the receiver left")
  func explicitClose() throws {
    let pair = try MessageSender.makeRing(capacity: 256)
    let sender = pair.sender
    let receiver = pair.receiver
    try sender.blockingSend([1, 2, 3])
    sender.close()
    _ = expectError(.closed) { try sender.blockingSend([4]) }
    #expect(try receiver.blockingReceive() == [1, 2, 3])
    #expect(try receiver.blockingReceive() == nil)

    let other = try MessageSender.makeRing(capacity: 256)
    let otherSender = other.sender
    let otherReceiver = other.receiver
    otherReceiver.close()
    _ = expectError(.closed) {
      _ = try otherReceiver.tryReceive(into: UnsafeMutableRawBufferPointer(start: nil, count: 0))
    }
    // The sender learns it when it has to wait for room: two of the largest messages (112
    // bytes: 120-byte frames, each sent with the next frame's 8-byte header word free) fill it.
    #expect(otherSender.maximumMessageSize == 112)
    let half = [UInt8](repeating: 5, count: 112)
    try otherSender.blockingSend(half)
    try otherSender.blockingSend(half)
    _ = expectError(.peerGone) { try otherSender.blockingSend(half) }
  }

  @Test("zero-copy send writes in place and publishes only the length the closure reports")
  func zeroCopy() throws {
    let pair = try MessageSender.makeRing(capacity: 1024)
    let sender = pair.sender
    let receiver = pair.receiver
    let sent = try sender.blockingSend(upTo: 300) { room in
      #expect(room.count == 300)
      for index in 0..<7 { room[index] = UInt8(index) }
      return 7
    }
    #expect(sent == 7)
    struct Refused: Error {}
    #expect(throws: Refused.self) { try sender.blockingSend(upTo: 10) { _ in throw Refused() } }
    #expect(try receiver.tryReceive { Array($0) } == .completed([0, 1, 2, 3, 4, 5, 6]))
    #expect(try receiver.tryReceive { $0.count } == .wouldBlock)
  }

  @Test("full and empty in one process: try, timed, blocking and async forms")
  func fullAndEmpty() async throws {
    let pair = try MessageSender.makeRing(capacity: 64)
    let sender = pair.sender
    let receiver = pair.receiver
    let message = [UInt8](repeating: 9, count: 16)
    func tryAndTimedForms(_ sender: borrowing MessageSender, _ receiver: borrowing MessageReceiver) throws {
      #expect(try receiver.blockingReceive(timeout: .milliseconds(10)) { $0.count } == .timedOut)
      #expect(try receiver.tryReceive() == .wouldBlock)
      // 24-byte frames: two fill the ring (each send needs its frame and the next frame's
      // 8-byte header word free: 32 of the 64 bytes, then 32 of the 40 left, then 32 of 16).
      #expect(try sender.trySend(message) == .completed)
      #expect(try sender.trySend(message) == .completed)
      #expect(try message.withUnsafeBytes { try sender.trySend($0) } == .wouldBlock)
      #expect(try sender.blockingSend(message, timeout: .milliseconds(10)) == .timedOut)
    }
    try tryAndTimedForms(sender, receiver)
    let consumer = Task { [receiver = consume receiver] in
      var lengths: [Int] = []
      while let bytes = try await receiver.receive() { lengths.append(bytes.count) }
      return lengths
    }
    for _ in 0..<100 { try await sender.send(message) }
    _ = consume sender
    #expect(try await consumer.value == [Int](repeating: 16, count: 102))
  }

  @Test(
    "property: whatever the start position, a ring that refuses a message is not empty, and an empty ring takes any allowed message"
  )
  func property() throws {
    var state: UInt64 = 12345
    func random(_ bound: Int) -> Int {
      state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
      return Int((state >> 33) % UInt64(bound))
    }
    for start in [0, 1 << 20, UInt64.max - 300, UInt64.max - 5000] as [UInt64] {
      for capacity in [64, 128, 1024] {
        let parts = try RingSetup.make(
          capacity: capacity, elementSize: 1, elementAlignment: 8, flags: RingLayout.messageFlag,
          options: RingOptions())
        // A ring that has already carried `start` bytes: both positions there, near the wrap of
        // the 64-bit counters for some starts (8-aligned, as a sender keeps them).
        let aligned = start & ~7
        for offset in [RingLayout.producerPosition, RingLayout.consumerPosition] {
          parts.memory.baseAddress.storeBytes(of: aligned, toByteOffset: offset, as: UInt64.self)
        }
        let sender = MessageSender(core: RingEndCore(try RingSetup.side(parts, .producer)))
        let receiver = MessageReceiver(core: RingEndCore(try RingSetup.side(parts, .consumer)))
        var queue: [[UInt8]] = []
        for step in 0..<2000 {
          if random(3) < 2 {
            let length = random(sender.maximumMessageSize + 1)
            let bytes = (0..<length).map { UInt8(truncatingIfNeeded: step &+ $0) }
            if try sender.trySend(bytes) == .completed {
              queue.append(bytes)
            } else {
              #expect(!queue.isEmpty, "an empty ring refused \(length) bytes")
            }
          } else {
            let received = try receiver.tryReceive { Array($0) }
            #expect(received == (queue.first.map { .completed($0) } ?? .wouldBlock))
            if !queue.isEmpty { queue.removeFirst() }
          }
        }
        while let received = try receiver.tryReceive({ Array($0) }).value {
          #expect(received == queue.removeFirst())
        }
        #expect(queue.isEmpty)
        let largest = [UInt8](repeating: 7, count: sender.maximumMessageSize)
        #expect(try sender.trySend(largest) == .completed)
      }
    }
  }

  @Test("bytes left from earlier laps that look like frame headers are never taken for a message")
  func staleLookalikes() throws {
    for capacity in [64, 128, 256] {
      let pair = try MessageSender.makeRing(capacity: capacity)
      let sender = pair.sender
      let receiver = pair.receiver
      // Every message is made of words that are valid message headers (kind 1, length 8), so
      // each offset of the ring holds one once a lap has gone by.
      let lookalike = MessageFrame.word(length: 8, kind: MessageFrame.messageKind)
      for step in 0..<2_000 {
        let words = 1 + step % (sender.maximumMessageSize / 8)
        let bytes = (0..<words).flatMap { _ in withUnsafeBytes(of: lookalike.littleEndian, Array.init) }
        #expect(try sender.trySend(bytes) == .completed)
        #expect(try receiver.tryReceive() == .completed(bytes))
        // The ring is empty again, whatever the bytes at the receiver's position say.
        #expect(try receiver.tryReceive() == .wouldBlock)
      }
    }
  }

  @Test(
    "a message ring whose positions are not multiples of 8 is refused as corrupt when it is opened, by either end",
    arguments: [(UInt64(4095), UInt64(4095)), (4, 0), (12, 4), (8200, 8196)])
  func unalignedPositions(producer: UInt64, consumer: UInt64) throws {
    // A frame's header word at offset 4095 of a 4096-byte ring would straddle the end of the
    // mapping: reading it would be a crash, not an error.
    for openerIsReceiver in [true, false] {
      let (left, right) = try Socket.pair()
      func poke(_ base: UnsafeMutableRawPointer) {
        base.storeBytes(of: producer, toByteOffset: RingLayout.producerPosition, as: UInt64.self)
        base.storeBytes(of: consumer, toByteOffset: RingLayout.consumerPosition, as: UInt64.self)
      }
      let error: HinixError?
      if openerIsReceiver {
        let creator = try MessageSender.blockingCreate(over: left, capacity: 4096)
        poke(creator.side.memory.baseAddress)
        error = expectError(.corrupt) { _ = try MessageReceiver.blockingAccept(over: right) }
      } else {
        let creator = try MessageReceiver.blockingCreate(over: left, capacity: 4096)
        poke(creator.side.memory.baseAddress)
        error = expectError(.corrupt) { _ = try MessageSender.blockingAccept(over: right) }
      }
      #expect(error?.detail.contains("multiples of 8") == true, "\(String(describing: error))")
    }
  }

  @Test("misuse: a typed ring is not a message ring, and inheritance arguments are checked")
  func misuse() throws {
    let (left, right) = try Socket.pair()
    let typed = try RingSender<UInt64>.blockingCreate(over: left, capacity: 64)
    let error = expectError(.incompatible) { _ = try MessageReceiver.blockingAccept(over: right) }
    #expect(error?.detail.contains("a typed ring") == true)
    _ = typed
    let ring = try MessageSender.createForChild(capacity: 64)
    let argument = ring.child.argument()
    #expect(argument == "receiver:3,4")
    let wrongRole = expectError(.invalidArgument) { _ = try MessageSender.inherited(from: argument) }
    #expect(wrongRole?.detail.contains("made for a receiver") == true)
    // Wrong counts and repeated numbers are refused before any descriptor is adopted.
    _ = expectError(.invalidArgument) { _ = try MessageReceiver.inherited(from: "receiver:3,4,5") }
    _ = expectError(.invalidArgument) { _ = try MessageReceiver.inherited(from: "receiver:3,3") }
    _ = expectError(.invalidArgument) { _ = try MessageReceiver.inherited(from: "nonsense") }
  }
}

@Suite("Shared-memory message ring across processes", .timeLimit(.minutes(3)))
struct MessageRingProcessTests {
  /// Sends `total` bytes of pattern messages through a child that forwards them from one ring
  /// to another (both set up by inheritance), and compares every message that comes back.
  private func roundTrip(mode: String, capacity: Int, total: Int, spin: WaitStrategy) throws {
    let out = try MessageSender.createForChild(capacity: capacity)
    let back = try MessageReceiver.createForChild(capacity: capacity)
    let outChild = out.child
    let backChild = back.child
    var passing = outChild.passing(from: 3)
    passing.merge(backChild.passing(from: 7)) { first, _ in first }
    let child = try spawnPeer(
      ["msg-forward", mode, outChild.argument(from: 3), backChild.argument(from: 7)], passing: passing)
    outChild.close()
    backChild.close()
    let sender = out.end
    let receiver = back.end
    sender.waitStrategy = spin
    receiver.waitStrategy = spin
    let pattern = MessagePattern(maximumLength: sender.maximumMessageSize)
    var count = 0
    var bytes = 0
    while bytes < total {
      bytes += pattern.length(count)
      count += 1
    }
    let producer = Thread { [sender = consume sender, count] in
      for index in 0..<count {
        try pattern.withMessage(index) { message in
          if mode == "timed" {
            while try !sender.blockingSend(message, timeout: .milliseconds(1)).isCompleted {}
          } else {
            try sender.blockingSend(message)
          }
        }
      }
    }
    var received = 0
    var receivedBytes = 0
    var mismatches = 0
    while let (length, ok) = try receiver.blockingReceive({ ($0.count, pattern.matches(received, $0)) }) {
      if !ok { mismatches += 1 }
      received += 1
      receivedBytes += length
    }
    try producer.join()
    #expect(received == count)
    #expect(receivedBytes == bytes && bytes >= total)
    #expect(mismatches == 0)
    #expect(try child.blockingWait() == .exited(0))
  }

  @Test("1 GiB of variable-length messages to a child and back, every byte compared")
  func gibibyte() throws {
    try roundTrip(
      mode: "blocking", capacity: 1 << 18, total: 1 << 30, spin: .spinThenSleep(.microseconds(50)))
  }

  @Test("full and empty across processes, with timed waits, through a small ring")
  func timed() throws {
    try roundTrip(mode: "timed", capacity: 1 << 12, total: 16 << 20, spin: .sleep)
  }

  @Test("full and empty across processes, with async waits in the child, through a small ring")
  func async() throws {
    try roundTrip(mode: "async", capacity: 1 << 12, total: 16 << 20, spin: .sleep)
  }

  @Test(
    "a receiver that never drains its doorbell and clears every O_NONBLOCK cannot make any send hang, alive or dead",
    arguments: ["stay", "die"])
  func wakeFlood(mode: String) async throws {
    let (child, mine) = try spawnWithSocket([
      "ring-wake-flood", String(RingLayout.producerPosition), String(RingLayout.consumerPosition),
      String(RingLayout.consumerSleeping), mode,
    ])
    let sender = try blockingSetup { try MessageSender.blockingCreate(over: mine, capacity: 4096) }
    var ready = [UInt8](repeating: 0, count: 5)
    try ready.withUnsafeMutableBytes { try mine.blockingReadExactly(into: $0) }
    #expect(String(decoding: ready, as: UTF8.self) == "ready")
    if mode == "die" { _ = try await child.wait() }
    let message = UnsafeMutableRawBufferPointer.allocate(byteCount: 100, alignment: 8)
    defer { message.deallocate() }
    message.initializeMemory(as: UInt8.self, repeating: 7)
    func blockingForms(_ sender: borrowing MessageSender) throws {
      #expect(try sender.trySend(UnsafeRawBufferPointer(message)) == .completed)
      #expect(
        try sender.blockingSend(UnsafeRawBufferPointer(message), timeout: .milliseconds(200)) == .completed)
      try sender.blockingSend(UnsafeRawBufferPointer(message))
    }
    try blockingForms(sender)
    try await sender.send(UnsafeRawBufferPointer(message))
    if mode == "die" {
      // Once the ring is full, the dead receiver is reported, not waited for.
      let gone = await #expect(throws: HinixError.self) {
        while true { try await sender.send(UnsafeRawBufferPointer(message)) }
      }
      #expect(gone?.code == .peerGone)
    } else {
      // Messages of about half the ring: each send waits for the receiver's next round, finds
      // it asleep and rings. 3,000 rings are far more than the doorbell holds (a few hundred),
      // and every send returns.
      let large = UnsafeMutableRawBufferPointer.allocate(byteCount: sender.maximumMessageSize, alignment: 8)
      defer { large.deallocate() }
      large.initializeMemory(as: UInt8.self, repeating: 9)
      sender.waitStrategy = .spinThenSleep(.milliseconds(50))
      func flood(_ sender: borrowing MessageSender) throws -> Int {
        var sent = 0
        let end = ContinuousClock.now + .seconds(30)
        while sent < 3_000 && ContinuousClock.now < end {
          if try sender.blockingSend(UnsafeRawBufferPointer(large), timeout: .milliseconds(100)) == .completed
          {
            sent += 1
          }
        }
        return sent
      }
      #expect(try flood(sender) == 3_000)
      try child.kill(.kill)
      _ = try await child.wait()
    }
  }

  @Test(
    "ringing never waits, even on a blocking doorbell that is full: a full one means a wake-up is pending")
  func fullDoorbellNeverWaits() throws {
    let pair = try MessageSender.makeRing(capacity: 64)
    let sender = pair.sender.side
    let receiver = pair.receiver.side
    try sender.bell.setNonBlocking(false)
    // A few hundred one-byte rings fill the pair; the rest find it full and return at once.
    for _ in 0..<100_000 { sender.wake() }
    var byte: UInt8 = 0
    #expect(try withUnsafeMutableBytes(of: &byte) { try receiver.bell.tryRead(into: $0) } == .completed(1))
  }

  @Test("a hostile sender scribbling over a message ring causes corrupt-ring errors only")
  func hostileScribbler() throws {
    let (child, mine) = try spawnWithSocket(["ring-scribble", "2", "messages"])
    let receiver = try MessageReceiver.blockingCreate(over: mine, capacity: 4096)
    let end = ContinuousClock.now + .seconds(3)
    var failure: HinixError?
    var received = 0
    while ContinuousClock.now < end, failure == nil {
      do {
        if try receiver.blockingReceive(timeout: .milliseconds(1), { $0.count }).isCompleted { received += 1 }
      } catch let error as HinixError {
        failure = error
      }
    }
    _ = try child.blockingWait()
    #expect(failure?.code == .corrupt || failure?.code == .peerGone, "\(String(describing: failure))")
  }
}
