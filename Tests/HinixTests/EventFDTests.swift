import Glibc
import Synchronization
import SystemPackage
import Testing

@testable import Hinix

@Suite("eventfd", .timeLimit(.minutes(1)))
struct EventFDTests {
  @Test func readReturnsAndResetsTheCounter() throws {
    let event = try EventFD(initialValue: 5)
    try event.blockingAdd(3)
    #expect(try event.counter() == 8)
    #expect(try event.blockingRead() == 8)
    #expect(try event.tryRead() == .wouldBlock)
    #expect(try event.counter() == 0)
  }

  @Test func semaphoreModeCountsDownByOne() throws {
    let event = try EventFD(initialValue: 3, semaphore: true)
    #expect(try event.blockingRead() == 1)
    #expect(try event.blockingRead() == 1)
    #expect(try event.tryRead() == .completed(1))
    #expect(try event.tryRead() == .wouldBlock)
  }

  @Test(arguments: [false, true])
  func tryAndTimedFormsNeverBlock(nonBlocking: Bool) throws {
    let event = try EventFD(nonBlocking: nonBlocking)
    #expect(try event.tryRead() == .wouldBlock)
    let start = ContinuousClock.now
    #expect(try event.blockingRead(timeout: .milliseconds(50)) == .timedOut)
    #expect(ContinuousClock.now - start >= .milliseconds(50))
    #expect(try event.tryAdd(2) == .completed)
    #expect(try event.blockingRead(timeout: .seconds(1)) == .completed(2))
  }

  @Test(arguments: [false, true])
  func overflowIsWouldBlockAndTheImpossibleValueIsAnError(nonBlocking: Bool) throws {
    let event = try EventFD(nonBlocking: nonBlocking)
    try event.blockingAdd(EventFD.maximumValue - 1)
    #expect(try event.tryAdd(1) == .completed)
    #expect(try event.counter() == EventFD.maximumValue)
    #expect(try event.tryAdd(1) == .wouldBlock)
    #expect(try event.blockingAdd(1, timeout: .milliseconds(20)) == .timedOut)
    // Adding 0 never waits, even at the maximum: the kernel takes it at once, on a blocking
    // description as on a non-blocking one (the blocking one said .wouldBlock).
    #expect(try event.tryAdd(0) == .completed)
    #expect(try event.blockingAdd(0, timeout: .zero) == .completed)
    let error = expectError(.invalidArgument) { try event.blockingAdd(UInt64.max) }
    #expect(error?.description.contains("0xfffffffffffffffe") == true)
    #expect(try event.blockingRead() == EventFD.maximumValue)
    // Room again: a large add that fits succeeds, one that does not is refused without blocking.
    #expect(try event.tryAdd(EventFD.maximumValue - 10) == .completed)
    #expect(try event.tryAdd(11) == .wouldBlock)
    #expect(try event.tryAdd(10) == .completed)
  }

  @Test func blockingAddWaitsForAReaderToMakeRoom() async throws {
    let event = try EventFD(initialValue: 0)
    try await event.add(EventFD.maximumValue)
    let adder = Thread { try event.blockingAdd(7) }
    try await Task.sleep(for: .milliseconds(50))
    #expect(!adder.isFinished)
    #expect(try event.tryRead() == .completed(EventFD.maximumValue))
    try adder.join()
    #expect(try event.tryRead() == .completed(7))
  }

  @Test func asyncReadIsWokenByAnotherProcess() async throws {
    let event = try EventFD()
    let peer = try spawnPeer(["eventfd-add-after", "100", "42"], passing: [event.descriptor: 3])
    #expect(try await event.read() == 42)
    #expect(try await peer.wait() == .exited(0))
  }

  @Test func asyncAddWaitsForRoom() async throws {
    let event = try EventFD()
    try await event.add(EventFD.maximumValue)
    async let added: Void = event.add(5)
    try await Task.sleep(for: .milliseconds(50))
    #expect(try event.tryRead() == .completed(EventFD.maximumValue))
    try await added
    #expect(try await event.read() == 5)
  }

  @Test func cancelledAsyncReadThrows() async throws {
    let event = try EventFD()
    let reader = Task { try await event.read() }
    try await Task.sleep(for: .milliseconds(30))
    reader.cancel()
    await #expect(throws: CancellationError.self) { try await reader.value }
    try await event.add(1)
    #expect(try event.tryRead() == .completed(1))
  }

  @Test func pingPongWithAChildThatInheritedBothEventFDs() throws {
    let ping = try EventFD()
    let pong = try EventFD()
    let rounds = 200
    let peer = try spawnPeer(
      ["eventfd-pong", "\(rounds)"], passing: [ping.descriptor: 3, pong.descriptor: 4])
    for round in 1...rounds {
      try ping.blockingAdd(UInt64(round))
      #expect(try pong.blockingRead() == UInt64(round))
    }
    #expect(try peer.blockingWait() == .exited(0))
    // The parent's descriptors were never made inheritable.
    #expect(try !ping.descriptor.isInheritable())
  }
}

/// A plain thread for tests that need a blocking call to run beside the test.
final class Thread: @unchecked Sendable {
  private var failure: (any Error)?
  private let done = Synchronization.Atomic<Bool>(false)
  /// Counts 1 when the body has returned.
  private let finished = try! EventFD()

  init(_ body: @escaping @Sendable () throws -> Void) {
    try! Sys.startThread { [self] in
      do { try body() } catch { failure = error }
      done.store(true, ordering: .releasing)
      try! finished.blockingAdd(1)
    }.get()
  }

  var isFinished: Bool { done.load(ordering: .acquiring) }

  func join() throws {
    _ = try finished.blockingRead()
    if let failure { throw failure }
  }
}
