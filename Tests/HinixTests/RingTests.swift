import Glibc
import SystemPackage
import Testing

@_spi(RingInternals) @testable import Hinix

@Suite("Shared-memory ring", .timeLimit(.minutes(2)))
struct RingTests {
  @Test("wrap-around at every offset of a small ring, through the zero-copy closures")
  func wrapAround() throws {
    let pair = try RingSender<UInt32>.makeRing(capacity: 8)
    let sender = pair.sender
    let receiver = pair.receiver
    var next: UInt32 = 0
    var expected: UInt32 = 0
    // Batches of 1 to 8 elements walk the start offset through every slot, many times.
    for round in 0..<200 {
      let batch = round % 8 + 1
      var calls = 0
      let written = try sender.trySend(maxCount: batch) { slots in
        calls += 1
        for index in slots.indices {
          slots.initializeElement(at: index, to: next)
          next &+= 1
        }
        return slots.count
      }
      #expect(written == .completed(batch))
      #expect(calls <= 2)
      var readCalls = 0
      let read = try receiver.tryReceive { elements in
        readCalls += 1
        for element in elements {
          #expect(element == expected)
          expected &+= 1
        }
        return elements.count
      }
      #expect(read == .completed(batch))
      #expect(readCalls <= 2)
    }
    #expect(try receiver.tryReceive() == .wouldBlock)
  }

  @Test("full and empty: try forms report them, timed forms wait and give up, blocking forms resume")
  func fullAndEmpty() throws {
    let pair = try RingSender<UInt64>.makeRing(capacity: 4)
    let sender = pair.sender
    let receiver = pair.receiver
    #expect(try receiver.tryReceive() == .wouldBlock)
    #expect(try receiver.blockingReceive(timeout: .milliseconds(20)) == .timedOut)
    for value in 0..<4 { #expect(try sender.trySend(UInt64(value)) == .completed) }
    #expect(try sender.trySend(99) == .wouldBlock)
    #expect(try sender.blockingSend(99, timeout: .milliseconds(20)) == .timedOut)
    // A blocked sender resumes when the receiver makes room from another thread.
    let reader = Thread {
      usleep(20_000)
      _ = try receiver.blockingReceive()
    }
    try sender.blockingSend(4)
    try reader.join()
    #expect(try receiver.blockingReceive() == 1)
  }

  @Test(
    "async send and receive between two tasks, with each wait strategy",
    arguments: [
      WaitStrategy.sleep, .spinThenSleep(.microseconds(100)), .busySpin,
    ])
  func asyncTasks(_ strategy: WaitStrategy) async throws {
    let pair = try RingSender<UInt64>.makeRing(capacity: 16)
    let total: UInt64 = 20_000
    pair.sender.waitStrategy = strategy
    pair.receiver.waitStrategy = strategy
    let producer = Task { [sender = pair.sender] in
      for value in 0..<total { try await sender.send(value) }
    }
    var expected: UInt64 = 0
    while let value = try await pair.receiver.receive() {
      #expect(value == expected)
      expected += 1
      if expected == total { break }
    }
    try await producer.value
    #expect(expected == total)
  }

  @Test("close() on an end that is kept: the peer sees the end, and this end refuses further use")
  func explicitClose() throws {
    let pair = try RingSender<UInt32>.makeRing(capacity: 8)
    let sender = pair.sender
    let receiver = pair.receiver
    try sender.blockingSend(1)
    try sender.blockingSend(2)
    sender.close()
    sender.close()
    // The cached free space does not let a send through after close().
    let refused = expectError(.closed) { try sender.blockingSend(3) }
    #expect(refused?.description.contains("closed") == true)
    _ = expectError(.closed) { _ = try sender.trySend(3) }
    #expect(try receiver.blockingReceive() == 1)
    #expect(try receiver.blockingReceive() == 2)
    #expect(try receiver.blockingReceive() == nil)

    let other = try RingSender<UInt32>.makeRing(capacity: 8)
    let otherSender = other.sender
    let otherReceiver = other.receiver
    try otherSender.blockingSend(1)
    otherReceiver.close()
    _ = expectError(.closed) { _ = try otherReceiver.blockingReceive() }
    // The sender learns it when it has to wait for room, not before.
    for value in 2...8 { try otherSender.blockingSend(UInt32(value)) }
    _ = expectError(.peerGone) { try otherSender.blockingSend(9) }
  }

  @Test("the end of the stream: the receiver drains what was sent, then gets nil")
  func endOfStream() throws {
    let receiver: RingReceiver<UInt8>
    do {
      let pair = try RingSender<UInt8>.makeRing(capacity: 8)
      try pair.sender.blockingSend(7)
      receiver = pair.receiver
    }
    #expect(try receiver.blockingReceive() == 7)
    #expect(try receiver.blockingReceive() == nil)
    let finished = receiver.isFinished
    #expect(finished)
  }

  @Test("bad capacities are refused with the limit named")
  func badCapacity() {
    for capacity in [0, 1, 3, 1000] {
      let error = expectError(.invalidArgument) { _ = try RingSender<UInt64>.makeRing(capacity: capacity) }
      #expect(error?.detail.contains("power of two") == true)
    }
  }

  @Test("a position no honest peer writes is reported as a corrupt ring, every time after")
  func corruptPosition() throws {
    let pair = try RingSender<UInt64>.makeRing(capacity: 8)
    let memory = pair.receiver.side.memory
    // The producer's published position jumps far beyond the capacity.
    memory.baseAddress.storeBytes(
      of: UInt64(1_000_000), toByteOffset: RingLayout.producerPosition, as: UInt64.self)
    expectError(.corrupt) { try pair.receiver.tryReceive() }
    expectError(.corrupt) { try pair.receiver.blockingReceive(timeout: .milliseconds(10)) }
  }

  @Test(
    "each side checks the other's position against both bounds: a ring's length apart is honest, one more or a step the wrong way is corrupt",
    arguments: [
      // (the side that reads the position, the position written, whether it is honest)
      (RingSide.Role.consumer, UInt64(8), true),  // the producer filled the ring
      (.consumer, 9, false),  // the producer ran one past the consumer's end
      (.consumer, .max, false),  // the producer went back behind the consumer
      (.producer, 0, true),  // the consumer read nothing of the full ring
      (.producer, 8, true),  // the consumer read everything
      (.producer, 9, false),  // the consumer read past what was written
      (.producer, .max, false),  // the consumer went back: the producer would overwrite unread slots
    ])
  func positionBounds(reader: RingSide.Role, written: UInt64, honest: Bool) throws {
    let pair = try RingSender<UInt64>.makeRing(capacity: 8)
    let base = pair.sender.side.memory.baseAddress
    if reader == .consumer {
      base.storeBytes(of: written, toByteOffset: RingLayout.producerPosition, as: UInt64.self)
      let outcome = try? pair.receiver.tryReceive()
      #expect((outcome == .completed(0)) == honest, "\(String(describing: outcome))")
      if !honest { expectError(.corrupt) { try pair.receiver.tryReceive() } }
    } else {
      // Fill the ring, so that the next send must read the consumer's position.
      for element in 0..<8 { #expect(try pair.sender.trySend(UInt64(element)) == .completed) }
      base.storeBytes(of: written, toByteOffset: RingLayout.consumerPosition, as: UInt64.self)
      let outcome = try? pair.sender.trySend(8)
      let expected: Outcome<Void> = written == 0 ? .wouldBlock : .completed
      #expect((outcome.map { $0 == expected } ?? false) == honest, "\(String(describing: outcome))")
      if !honest { expectError(.corrupt) { try pair.sender.trySend(9) } }
    }
  }

  @Test("misuse across a socket: wrong element size, wrong version, no seals, a file too small")
  func misuse() throws {
    do {
      let (left, right) = try Socket.pair()
      let sender = try RingSender<UInt64>.blockingCreate(over: left, capacity: 8)
      let error = expectError(.incompatible) { _ = try RingReceiver<UInt32>.blockingAccept(over: right) }
      #expect(error?.detail.contains("element size is 8 bytes") == true)
      _ = sender
    }
    do {
      let (left, right) = try Socket.pair()
      let sender = try RingSender<UInt64>.blockingCreate(over: left, capacity: 8)
      let error = expectError(.incompatible) { _ = try RingSender<UInt64>.blockingAccept(over: right) }
      #expect(error?.detail.contains("sender too") == true)
      _ = sender
    }
    // Hand-made offers: an unsealed memfd, a sealed one that is too small, a bad version, and a
    // doorbell that is not a connected Unix stream socket.
    let good = Int(RingLayout.version)
    for (seal, size, version, badBell) in [
      (false, 8192, good, false), (true, 100, good, false), (true, 8192, 9, false), (true, 8192, good, true),
    ] {
      let (left, right) = try Socket.pair()
      let fd = try Sys.memfdCreate("hostile", allowSealing: true, hugePages: false).get()
      let file = FileDescriptor(rawValue: fd)
      defer { try? file.close() }
      try Sys.truncate(fd, size: Int64(size)).get()
      if seal { try Sys.addSeals(fd, SharedMemory.creatorSeals).get() }
      var greeting: [UInt8] = [0x48, 0x4e, 0x58, 0x52, UInt8(version), 1, 0, 0]
      let bell = try Socket.pair()
      let notABell = try EventFD()
      try left.blockingSend(greeting, descriptors: [file, badBell ? notABell.descriptor : bell.0.descriptor])
      greeting.removeAll()
      let error = expectError(.incompatible) { _ = try RingReceiver<UInt64>.blockingAccept(over: right) }
      let detail = error?.detail ?? ""
      if badBell {
        #expect(detail.contains("doorbell is anon_inode:[eventfd], not a connected Unix stream socket"))
      } else if !seal {
        #expect(detail.contains("not sealed"))
      } else if size < RingLayout.dataOffset {
        #expect(detail.contains("100 bytes"))
      } else {
        #expect(detail.contains("version 9"))
      }
    }
  }

  @Test("an offer of a huge sparse memory file, or with a descriptor too many, is refused, not mapped")
  func oversizedOrOverfullOffers() throws {
    let small = RingLayout.Header(capacity: 8, elementSize: 8, elementAlignment: 8, flags: 0)
    // A header that asks for 2^40 elements of 8 bytes: the layout "needs" the 8 TiB file.
    let huge = RingLayout.Header(capacity: 1 << 40, elementSize: 8, elementAlignment: 8, flags: 0)
    for (fileSize, extra, header) in [
      (Int64(16) << 40, false, small), (Int64(small.fileSize), true, small),
      (Int64(huge.fileSize), false, huge),
    ] {
      let (left, right) = try Socket.pair()
      let fd = try Sys.memfdCreate("hostile", allowSealing: true, hugePages: false).get()
      let file = FileDescriptor(rawValue: fd)
      defer { try? file.close() }
      // A valid header, in a file of up to 16 TiB (sparse: it costs nothing).
      try Sys.truncate(fd, size: fileSize).get()
      let bytes = UnsafeMutableRawBufferPointer.allocate(byteCount: RingLayout.dataOffset, alignment: 8)
      defer { bytes.deallocate() }
      RingLayout.initialize(bytes.baseAddress!, header)
      #expect(pwrite(fd, bytes.baseAddress, bytes.count, 0) == bytes.count)
      try Sys.addSeals(fd, SharedMemory.creatorSeals).get()
      let bell = try Socket.pair()
      let third = try EventFD()
      let greeting: [UInt8] = [0x48, 0x4e, 0x58, 0x52, UInt8(RingLayout.version), 1, 0, 0]
      try left.blockingSend(
        greeting,
        descriptors: extra ? [file, bell.0.descriptor, third.descriptor] : [file, bell.0.descriptor])
      let error = expectError(.incompatible) { _ = try RingReceiver<UInt64>.blockingAccept(over: right) }
      if extra {
        #expect(
          error?.detail.contains("3 descriptors, not the 2 a ring needs") == true,
          "\(error.map { "\($0)" } ?? "")")
      } else if header.capacity == huge.capacity {
        #expect(
          error?.detail.contains("more than the 4294967296 (4 GiB)") == true, "\(error.map { "\($0)" } ?? "")"
        )
      } else {
        #expect(
          error?.detail.contains("holds 17592186044416 bytes, more than") == true,
          "\(error.map { "\($0)" } ?? "")")
      }
    }
  }

  @Test("ring elements are types whose every bit pattern is a value: not Bool, not an enum")
  func ringElementsAreAnyBitPattern() {
    enum Kind: UInt8 { case a, b }
    // The generic parameter's constraint is what refuses them at compile time; at run time the
    // same conformance table answers for any type.
    func isElement(_ type: Any.Type) -> Bool { type is any RingElement.Type }
    #expect(!isElement(Bool.self))
    #expect(!isElement(Kind.self))
    #expect(!isElement(UnsafeRawPointer.self))
    #expect(isElement(UInt64.self))
    #expect(isElement(Float.self))
  }

  @Test("the peer policy refuses a user it does not allow, before anything is shared")
  func policy() throws {
    let (left, _) = try Socket.pair()
    let error = expectError(.permissionDenied) {
      _ = try RingSender<UInt64>.blockingCreate(over: left, capacity: 8, policy: .user(getuid() &+ 1))
    }
    #expect(error?.detail.contains("peer policy") == true)
  }
}

@Suite("Shared-memory ring across processes", .timeLimit(.minutes(2)))
struct RingProcessTests {
  @Test("64 MiB of UInt64 to a child process, checked by count and sum")
  func streamToChild() throws {
    let (child, mine) = try spawnWithSocket(["ring-sum"])
    var sum: UInt64 = 0
    let total = 8 << 20
    do {
      let sender = try RingSender<UInt64>.blockingCreate(over: mine, capacity: 1 << 16)
      sender.waitStrategy = .spinThenSleep(.microseconds(50))
      var next: UInt64 = 0
      while next < UInt64(total) {
        try sender.blockingSend(maxCount: total - Int(next)) { slots in
          for index in slots.indices {
            let value = next &* 2_654_435_761
            slots.initializeElement(at: index, to: value)
            sum &+= value
            next += 1
          }
          return slots.count
        }
      }
    }
    var reply = [UInt8](repeating: 0, count: 64)
    let count = try reply.withUnsafeMutableBytes { try mine.blockingRead(into: $0) }
    #expect(String(decoding: reply[..<count], as: UTF8.self) == "\(total) \(sum)")
    #expect(try child.blockingWait() == .exited(0))
  }

  @Test(
    "a receiver waiting on a peer killed with SIGKILL wakes with peerGone, quickly, with each wait strategy",
    arguments: [WaitStrategy.sleep, .spinThenSleep(.microseconds(100)), .busySpin])
  func peerKilled(_ strategy: WaitStrategy) throws {
    let (child, mine) = try spawnWithSocket(["ring-hold"])
    let receiver = try blockingSetup { try RingReceiver<UInt64>.blockingCreate(over: mine, capacity: 8) }
    // A busy spin never sleeps in epoll: it notices the hang-up by polling the link as it spins.
    receiver.waitStrategy = strategy
    for value in 1...3 { #expect(try receiver.blockingReceive() == UInt64(value)) }
    let killer = Thread {
      usleep(50_000)
      try child.kill(.kill)
    }
    let start = ContinuousClock.now
    let error = expectError(.peerGone) { _ = try receiver.blockingReceive() }
    let waited = ContinuousClock.now - start
    try killer.join()
    _ = try child.blockingWait()
    #expect(error?.detail.contains("exited") == true)
    // Killed after 50 ms; the wake-up itself takes one epoll hang-up, far below 100 ms.
    #expect(waited < .milliseconds(1050))
  }

  @Test(
    "an awaiting receiver whose peer is killed with SIGKILL wakes with peerGone, with each wait strategy",
    arguments: [WaitStrategy.sleep, .spinThenSleep(.microseconds(100)), .busySpin])
  func peerKilledWhileAwaiting(_ strategy: WaitStrategy) async throws {
    let (child, mine) = try spawnWithSocket(["ring-hold"])
    let receiver = try await RingReceiver<UInt64>.create(over: mine, capacity: 8)
    receiver.waitStrategy = strategy
    for value in 1...3 { #expect(try await receiver.receive() == UInt64(value)) }
    let killer = Thread {
      usleep(50_000)
      try child.kill(.kill)
    }
    let start = ContinuousClock.now
    var failure: HinixError?
    do { _ = try await receiver.receive() } catch let error as HinixError { failure = error }
    let waited = ContinuousClock.now - start
    try killer.join()
    _ = try await child.wait()
    #expect(failure?.code == .peerGone)
    #expect(waited < .milliseconds(1050))
  }

  @Test(
    "a sender blocked on a full ring whose receiver is killed with SIGKILL wakes with peerGone",
    arguments: [WaitStrategy.sleep, .spinThenSleep(.microseconds(100)), .busySpin])
  func receiverKilledWhileSenderWaits(_ strategy: WaitStrategy) throws {
    let (child, mine) = try spawnWithSocket(["ring-hold", "receiver"])
    let sender = try RingSender<UInt64>.blockingCreate(over: mine, capacity: 8)
    sender.waitStrategy = strategy
    for value in 0..<8 { try sender.blockingSend(UInt64(value)) }
    let killer = Thread {
      usleep(50_000)
      try child.kill(.kill)
    }
    let start = ContinuousClock.now
    let error = expectError(.peerGone) { try sender.blockingSend(8) }
    let waited = ContinuousClock.now - start
    try killer.join()
    _ = try child.blockingWait()
    #expect(error?.detail.contains("exited") == true)
    #expect(waited < .milliseconds(1050))
  }

  @Test("a hostile peer scribbling over the header and data causes errors, never a crash or a hang")
  func hostileScribbler() throws {
    let (child, mine) = try spawnWithSocket(["ring-scribble", "2"])
    let receiver = try RingReceiver<UInt64>.blockingCreate(over: mine, capacity: 1024)
    let end = ContinuousClock.now + .seconds(3)
    var errors = 0
    var reads = 0
    while ContinuousClock.now < end {
      do {
        _ = try receiver.tryReceive { elements in elements.count }
        reads += 1
        _ = try receiver.blockingReceive(timeout: .milliseconds(1))
      } catch let error as HinixError {
        #expect(error.code == .corrupt || error.code == .peerGone)
        errors += 1
        break
      }
    }
    _ = try child.blockingWait()
    // Random positions are far outside the capacity: the scribbling cannot go unnoticed.
    #expect(errors == 1, "\(reads) reads and no error")
  }
}

/// How a side sleeps on its doorbell.
@Suite("Ring doorbell", .timeLimit(.minutes(1)))
struct RingDoorbellTests {
  @Test(
    "a side with no deadline sleeps in recv on a blocking doorbell, and in epoll on one handed over non-blocking"
  )
  func sleepsEitherWay() throws {
    for nonBlocking in [false, true] {
      let pair = try RingSender<UInt64>.makeRing(capacity: 8)
      pair.sender.waitStrategy = .sleep
      pair.receiver.waitStrategy = .sleep
      let bell = pair.receiver.core.side.bell.fd
      let flags = fcntl(bell, F_GETFL)
      #expect(flags & O_NONBLOCK == 0)
      if nonBlocking { #expect(fcntl(bell, F_SETFL, flags | O_NONBLOCK) == 0) }
      let late = Thread {
        usleep(20_000)
        try pair.sender.blockingSend(42)
      }
      #expect(try pair.receiver.blockingReceive() == 42)
      try late.join()
      // A peer process killed while this side sleeps: peerGone, either way.
      let (child, mine) = try spawnWithSocket(["ring-hold"])
      let receiver = try blockingSetup { try RingReceiver<UInt64>.blockingCreate(over: mine, capacity: 8) }
      receiver.waitStrategy = .sleep
      if nonBlocking {
        let fd = receiver.core.side.bell.fd
        #expect(fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) == 0)
      }
      for value in 1...3 { #expect(try receiver.blockingReceive() == UInt64(value)) }
      let killer = Thread {
        usleep(20_000)
        try child.kill(.kill)
      }
      expectError(.peerGone) { _ = try receiver.blockingReceive() }
      try killer.join()
      _ = try child.blockingWait()
    }
  }
}
