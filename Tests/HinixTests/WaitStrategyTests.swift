import Glibc
import SystemPackage
import Testing

@testable import Hinix

@Suite("Wait strategies on sockets", .timeLimit(.minutes(1)))
struct WaitStrategyTests {
  @Test("strategies are named, and a spin of zero or less is sleep")
  func naming() {
    #expect(WaitStrategy.spinThenSleep(.zero) == .sleep)
    #expect(WaitStrategy.spinThenSleep(.seconds(-1)) == .sleep)
    #expect(!WaitStrategy.sleep.spins)
    #expect(WaitStrategy.busySpin.spins)
    #expect(WaitStrategy.spinThenSleep(.microseconds(50)).spin == .microseconds(50))
    #expect(WaitStrategy.adaptive.spin == nil && WaitStrategy.sleep.spin == .zero)
    #expect(WaitStrategy.busySpin.description == "busy-spin")
    #expect(WaitStrategy.sleep.description == "sleep")
  }

  @Test("a socket starts adaptive and keeps the strategy it is given")
  func socketStrategy() throws {
    let (left, _) = try Socket.pair()
    #expect(left.waitStrategy == .adaptive)
    left.waitStrategy = .spinThenSleep(.microseconds(100))
    #expect(left.waitStrategy == .spinThenSleep(.microseconds(100)))
  }

  @Test(
    "blocking reads get data whether it comes while spinning or after the spin ran out",
    arguments: [WaitStrategy.busySpin, .spinThenSleep(.microseconds(200))])
  func blockingSpin(_ strategy: WaitStrategy) throws {
    let (left, right) = try Socket.pair(.seqpacket)
    left.waitStrategy = strategy
    let writer = Thread {
      usleep(20_000)
      try right.blockingSend([1, 2, 3] as [UInt8])
    }
    var message: [UInt8] = []
    _ = try left.blockingReceive(into: &message)
    try writer.join()
    #expect(message == [1, 2, 3])
  }

  @Test(
    "async reads get data while spinning and after the spin ran out",
    arguments: [WaitStrategy.busySpin, .spinThenSleep(.microseconds(200))])
  func asyncSpin(_ strategy: WaitStrategy) async throws {
    let (left, right) = try Socket.pair(nonBlocking: true)
    left.waitStrategy = strategy
    async let reply = left.read(upTo: 16)
    try await Task.sleep(for: .milliseconds(20))
    try await right.write([9, 8, 7])
    #expect(try await reply == [9, 8, 7])
  }

  @Test("a timed read that busy-spins still ends at its deadline")
  func timedSpinEnds() throws {
    let (left, _right) = try Socket.pair()
    _ = _right
    left.waitStrategy = .busySpin
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 8, alignment: 8)
    defer { buffer.deallocate() }
    let start = ContinuousClock.now
    #expect(try left.blockingRead(into: buffer, timeout: .milliseconds(30)) == .timedOut)
    let elapsed = ContinuousClock.now - start
    #expect(elapsed >= .milliseconds(30))
    #expect(elapsed < .seconds(5))
  }

  @Test("cancelling an async read that busy-spins ends it with CancellationError")
  func cancelBusySpin() async throws {
    let (left, _right) = try Socket.pair(nonBlocking: true)
    _ = _right
    left.waitStrategy = .busySpin
    let reader = Task { try await left.read(upTo: 8) }
    try await Task.sleep(for: .milliseconds(20))
    reader.cancel()
    await #expect(throws: CancellationError.self) { try await reader.value }
  }
}

/// The adaptive strategy: its history, and what it costs against real peer processes.
/// Serialized: several tests block their thread for a while, which with others beside them
/// would starve the cooperative pool of a small machine.
@Suite("Adaptive wait strategy", .serialized, .timeLimit(.minutes(1)))
struct AdaptiveWaitTests {
  @Test(
    "the history: answers caught spinning set the spin, missed spins and idling make it sleep but for probes")
  func learner() {
    let learner = WaitLearner()
    // A new history spins, so a fast peer is found without a probe.
    #expect(learner.spinBudget() == WaitLearner.spinLimit)
    for _ in 0..<20 { learner.record(20_000, budget: 30_000, caught: true) }
    #expect(learner.spinBudget() >= 39_000 && learner.spinBudget() <= 41_000, "\(learner.meanNanoseconds)")
    for _ in 0..<20 { learner.record(1_000, budget: 40_000, caught: true) }
    #expect(learner.spinBudget() == WaitLearner.shortestSpin)
    // Waits that did not spin say nothing of what a spin would catch.
    let mean = learner.meanNanoseconds
    learner.record(5_000_000, budget: 0, caught: false)
    #expect(learner.meanNanoseconds == mean)
    // Missed spins (a slow peer, an idle hour: however long the sleep after them) make it sleep,
    // but for one probe with the longest spin in 32 waits.
    for _ in 0..<3 { learner.record(3_600_000_000_000, budget: 10_000, caught: false) }
    #expect(
      learner.meanNanoseconds >= WaitLearner.spinLimit && learner.meanNanoseconds <= WaitLearner.missedSpin)
    let budgets = (0..<64).map { _ in learner.spinBudget() }
    #expect(budgets.filter { $0 == 0 }.count == 62)
    #expect(budgets.filter { $0 == WaitLearner.longestSpin }.count == 2)
    // Probes that catch fast answers bring the spin back.
    for _ in 0..<8 { learner.record(3_000, budget: WaitLearner.longestSpin, caught: true) }
    #expect(learner.spinBudget() > 0)
    #expect(WaitStrategy.adaptive.description == "adaptive")
    #expect(WaitStrategy.adaptive == .adaptive && WaitStrategy.adaptive != .sleep)
    #expect(WaitStrategy.adaptive.spins)
  }

  /// A reader and writer of yours that keeps no history.
  private struct PlainEnd: ByteReader, ByteWriter {
    let descriptor: FileDescriptor
    let waitStrategy: WaitStrategy
  }

  @Test(
    "every descriptor and ring end keeps a history of its own; a reader of yours has none unless it keeps one"
  )
  func histories() throws {
    let (left, right) = try Socket.pair()
    let pipe = try Pipe.create()
    let queueName = "/hinix-history-\(getpid())"
    let queue = try MessageQueue(creating: queueName, capacity: .init(maxMessages: 1, maxMessageSize: 8))
    defer { try? MessageQueue.unlink(queueName) }
    let event = try EventFD()
    let ring = try RingSender<UInt64>.makeRing(capacity: 8)
    let learners = [
      left.waitHistory, right.waitHistory, pipe.reader.waitHistory, pipe.writer.waitHistory,
      queue.waitHistory,
      event.waitHistory, ring.sender.waitHistory, ring.receiver.waitHistory,
    ].map(\.learner)
    let objects = learners.compactMap { $0.map(ObjectIdentifier.init) }
    #expect(objects.count == learners.count && Set(objects).count == objects.count)
    let plain = PlainEnd(descriptor: left.descriptor, waitStrategy: .adaptive)
    #expect(
      plain.waitHistory.learner == nil && WaitHistory.none.learner == nil && WaitHistory().learner != nil)
    #expect(WaitHistory.none.recentAnswerTime == nil)
    #expect(WaitHistory().recentAnswerTime == .nanoseconds(WaitLearner.spinLimit / 2))
    // An owned descriptor keeps none (none is made for every descriptor a process receives).
    let owned = OwnedDescriptor(adopting: FileDescriptor(rawValue: dup(left.descriptor.rawValue)))
    #expect(owned.waitHistory.learner == nil)
  }

  /// CPU time of this thread, in nanoseconds.
  private func cpuTime() -> Int64 {
    var usage = rusage()
    // This thread's only: the blocking read below runs on it, and other tests on others.
    getrusage(1, &usage)  // RUSAGE_THREAD (1 on Linux; Glibc hides its name without _GNU_SOURCE)
    func nanoseconds(_ time: timeval) -> Int64 {
      Int64(time.tv_sec) * 1_000_000_000 + Int64(time.tv_usec) * 1_000
    }
    return nanoseconds(usage.ru_utime) + nanoseconds(usage.ru_stime)
  }

  /// `count` async round trips of 8 bytes through `socket`; the wall time they took.
  private func roundTrips(_ socket: Socket, _ count: Int) async throws -> Int64 {
    let message = UnsafeMutableRawBufferPointer.allocate(byteCount: 8, alignment: 8)
    defer { message.deallocate() }
    message.initializeMemory(as: UInt8.self, repeating: 7)
    let start = Deadline.Instant.now.nanoseconds
    for _ in 0..<count {
      try await socket.write(UnsafeRawBufferPointer(message))
      try await socket.readExactly(into: message)
    }
    return Deadline.Instant.now.nanoseconds - start
  }

  @Test(
    "async waits of a sleeping history probe one time in 32, and answers a probe catches bring the spin back")
  func probes() async throws {
    // Always readable, so a wait that suspends is woken at once; the operation is done at its
    // second attempt, the first retry of a spin or the look after a wake-up.
    let ready = try EventFD(initialValue: 1)
    let history = WaitHistory()
    let learner = try #require(history.learner)
    // As after an idle spell: missed spins, so the history says sleep.
    for _ in 0..<4 { learner.record(0, budget: WaitLearner.longestSpin, caught: false) }
    let idle = learner.meanNanoseconds
    #expect(learner.spinBudget() == 0)
    var means: [Int64] = []
    for _ in 0..<64 {
      var attempts = 0
      let done = try await Reactor.shared.perform(
        .readable, on: ready.descriptor, strategy: .adaptive, history: history
      ) {
        () throws(HinixError) -> Bool? in
        attempts += 1
        return attempts >= 2 ? true : nil
      }
      #expect(done)
      means.append(learner.meanNanoseconds)
    }
    // Two probes caught their answers within microseconds; the sleeping waits taught nothing.
    #expect(Set(means).count == 3, "\(Set(means))")
    #expect(learner.meanNanoseconds < idle * 3 / 4, "mean \(learner.meanNanoseconds) ns, \(idle) ns before")
  }

  @Test("a peer process that answers 20 ms late: the spins miss and the history says sleep")
  func latePeer() async throws {
    let (child, socket) = try spawnWithSocket(["socket-echo-after", "20000"])
    let learner = try #require(socket.waitHistory.learner)
    #expect(learner.spinBudget() > 0)
    _ = try await roundTrips(socket, 3)
    #expect(learner.meanNanoseconds >= WaitLearner.spinLimit, "mean \(learner.meanNanoseconds) ns")
    try socket.shutdown(.write)
    #expect(try await child.wait() == .exited(0))
  }

  @Test("a ring side's waits teach its own history: messages 20 ms late make it sleep")
  func ringHistory() throws {
    let ring = try RingSender<UInt64>.makeRing(capacity: 8)
    let receiver = try #require(ring.receiver.waitHistory.learner)
    let sender = try #require(ring.sender.waitHistory.learner)
    let before = sender.meanNanoseconds
    // A timed wait whose deadline cuts its spin short is no missed spin.
    #expect(try ring.receiver.blockingReceive(timeout: .microseconds(5)) == .timedOut)
    #expect(receiver.meanNanoseconds == WaitLearner.spinLimit / 2)
    let late = Thread {
      for value: UInt64 in 1...3 {
        usleep(20_000)
        try ring.sender.blockingSend(value)
      }
    }
    var values: [UInt64?] = []
    for _ in 1...3 { values.append(try ring.receiver.blockingReceive()) }
    try late.join()
    #expect(values == [1, 2, 3])
    #expect(receiver.meanNanoseconds >= WaitLearner.spinLimit, "mean \(receiver.meanNanoseconds) ns")
    #expect(sender.meanNanoseconds == before)
  }

  /// Runs the peer's `adaptive-round-trips` with `strategy` against answers `delay` late;
  /// its report: CPU time, wall time and the socket's recent answer time, in nanoseconds.
  private func lateAnswers(_ strategy: String, count: Int, delay: UInt32) throws -> (
    cpu: Int64, wall: Int64, answer: Int64
  ) {
    let (child, socket) = try spawnWithSocket(["adaptive-round-trips", "\(count)", strategy])
    var message: UInt64 = 0
    for _ in 0..<count {
      try withUnsafeMutableBytes(of: &message) { try socket.blockingReadExactly(into: $0) }
      usleep(delay)
      try withUnsafeBytes(of: &message) { try socket.blockingWrite($0) }
    }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 256)
    while case let count = try chunk.withUnsafeMutableBytes({ try socket.blockingRead(into: $0) }), count > 0
    {
      bytes += chunk[..<count]
    }
    #expect(try child.blockingWait() == .exited(0))
    let figures = String(decoding: bytes, as: UTF8.self).split(whereSeparator: \.isWhitespace).compactMap {
      Int64($0)
    }
    try #require(figures.count == 3, "\(bytes)")
    return (figures[0], figures[1], figures[2])
  }

  @Test(
    "a peer process whose waits are answered every 2 ms: its history says sleep, and it costs no spinning core"
  )
  func slowAnswers() throws {
    // The peer makes the round trips; this side answers late.
    let adaptive = try lateAnswers("adaptive", count: 100, delay: 2_000)
    let sleeping = try lateAnswers("sleep", count: 100, delay: 2_000)
    // Every spin missed, so the peer's waits sleep but for a probe in 32.
    #expect(adaptive.answer >= WaitLearner.spinLimit, "recent answer time \(adaptive.answer) ns")
    // Spinning through the waits would take about all of the 200 ms; sleeping takes a few ms.
    #expect(adaptive.cpu * 10 < adaptive.wall, "\(adaptive.cpu) ns of CPU in \(adaptive.wall) ns")
    // The first wait and the probes spin 30-50 µs each: about 0.2 ms more than sleeping,
    // within what CPU times of a few ms vary by from run to run.
    #expect(
      adaptive.cpu <= 2 * sleeping.cpu + 2_000_000, "adaptive \(adaptive.cpu) ns, sleep \(sleeping.cpu) ns")
  }

  @Test("an idle async connection with the adaptive strategy costs under 1% of a core")
  func idleAsync() throws {
    // The peer's two waits idle half a second each, in a process of its own.
    let idle = try lateAnswers("adaptive", count: 2, delay: 500_000)
    #expect(idle.answer >= WaitLearner.spinLimit, "recent answer time \(idle.answer) ns")
    #expect(idle.wall >= 1_000_000_000)
    #expect(idle.cpu * 100 < idle.wall, "\(idle.cpu) ns of CPU in \(idle.wall) ns")
  }

  @Test("an idle blocking read with the adaptive strategy costs no CPU while it waits")
  func idleRead() throws {
    // Blocking forms of kernel descriptors never spin with it: not one attempt before they park.
    var attempts = 0
    let spun = try WaitStrategy.adaptive.spinFirst(.forever) { () throws(HinixError) -> Int? in
      attempts += 1
      return nil
    }
    #expect(spun == nil && attempts == 0)
    let (child, socket) = try spawnWithSocket(["socket-echo-after", "300000"])
    socket.waitStrategy = .adaptive
    var message: UInt64 = 1
    try withUnsafeBytes(of: &message) { try socket.blockingWrite($0) }
    let cpuBefore = cpuTime()
    let start = Deadline.Instant.now.nanoseconds
    try withUnsafeMutableBytes(of: &message) { try socket.blockingReadExactly(into: $0) }
    let wall = Deadline.Instant.now.nanoseconds - start
    let cpu = cpuTime() - cpuBefore
    #expect(wall >= 250_000_000)
    #expect(cpu * 20 < wall, "\(cpu) ns of CPU in \(wall) ns")
    try socket.shutdown(.write)
    #expect(try child.blockingWait() == .exited(0))
  }
}
