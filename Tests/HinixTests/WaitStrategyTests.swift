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
    #expect(WaitStrategy.spinThenSleep(.microseconds(50)).spinNanoseconds == 50_000)
    #expect(WaitStrategy.busySpin.description == "busy-spin")
    #expect(WaitStrategy.sleep.description == "sleep")
  }

  @Test("a socket keeps the strategy it is given")
  func socketStrategy() throws {
    let (left, _) = try Socket.pair()
    #expect(left.waitStrategy == .sleep)
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
      try right.send([1, 2, 3] as [UInt8])
    }
    var message: [UInt8] = []
    _ = try left.receive(into: &message)
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
    #expect(try left.read(into: buffer, timeout: .milliseconds(30)) == .timedOut)
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
