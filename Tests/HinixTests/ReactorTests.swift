import Glibc
import SystemPackage
import Testing

@testable import Hinix

@Suite("Reactor", .timeLimit(.minutes(1)))
struct ReactorTests {
  @Test func readersAndWritersWaitOnOneDescriptorAtOnce() async throws {
    let pipe = try Sys.pipe(nonBlocking: true).get()
    defer {
      _ = Sys.close(pipe.read)
      _ = Sys.close(pipe.write)
    }
    let reactor = Reactor()
    defer { reactor.shutdown() }
    let event = try EventFD()
    // Two readers on the same eventfd and one on the pipe: all must be woken.
    async let first = reactor.wait(for: .readable, on: event.descriptor)
    async let second = reactor.wait(for: .readable, on: event.descriptor)
    async let piped = reactor.wait(for: .readable, on: FileDescriptor(rawValue: pipe.read))
    // An empty pipe is writable at once even while a reader waits on its other end.
    let writable = try await reactor.wait(for: .writable, on: FileDescriptor(rawValue: pipe.write))
    #expect(writable.contains(.writable))
    try await Task.sleep(for: .milliseconds(20))
    try await event.add(1)
    _ = [UInt8(1)].withUnsafeBytes { Sys.write(pipe.write, $0) }
    #expect(try await first.contains(.readable))
    #expect(try await second.contains(.readable))
    #expect(try await piped.contains(.readable))
  }

  @Test func hangUpWakesAReader() async throws {
    let pipe = try Sys.pipe(nonBlocking: true).get()
    defer { _ = Sys.close(pipe.read) }
    async let events = Reactor.shared.wait(for: .readable, on: FileDescriptor(rawValue: pipe.read))
    try await Task.sleep(for: .milliseconds(20))
    _ = Sys.close(pipe.write)
    #expect(try await events.contains(.hangUp))
  }

  @Test func cancellationUnregistersTheWait() async throws {
    let event = try EventFD()
    let waiter = Task { try await Reactor.shared.wait(for: .readable, on: event.descriptor) }
    try await Task.sleep(for: .milliseconds(20))
    waiter.cancel()
    await #expect(throws: CancellationError.self) { try await waiter.value }
    // The descriptor can be waited on again afterwards.
    try await event.add(1)
    let events = try await Reactor.shared.wait(for: .readable, on: event.descriptor)
    #expect(events.contains(.readable))
  }

  @Test func shutdownFailsPendingAndLaterWaits() async throws {
    let reactor = Reactor()
    let event = try EventFD()
    let waiter = Task { try await reactor.wait(for: .readable, on: event.descriptor) }
    try await Task.sleep(for: .milliseconds(20))
    reactor.shutdown()
    do {
      _ = try await waiter.value
      Issue.record("the wait survived shutdown")
    } catch let error as HinixError {
      #expect(error.code == .reactorShutDown)
    }
    await #expect(throws: HinixError.self) { try await reactor.wait(for: .readable, on: event.descriptor) }
  }

  @Test func aClosedDescriptorIsAClearError() async throws {
    await #expect(throws: HinixError.self) {
      try await Reactor.shared.wait(for: .readable, on: FileDescriptor(rawValue: 9999))
    }
  }

  @Test func regularFilesAreAlwaysReady() async throws {
    let file = try FileDescriptor.open("/proc/self/status", .readOnly, options: .closeOnExec)
    defer { try? file.close() }
    let events = try await Reactor.shared.wait(for: .readable, on: file)
    #expect(events.contains(.readable))
  }
}

@Suite("Reactor as a task executor", .timeLimit(.minutes(1)))
struct ReactorExecutorTests {
  @Test("a task that prefers the reactor runs its async round trips on it, with a pool task as peer")
  func roundTripsOnTheReactor() async throws {
    let (mine, theirs) = try Socket.pair()
    let rounds = 500
    let peer = Task {
      var buffer = [UInt8](repeating: 0, count: 8)
      for _ in 0..<rounds {
        let bytes = try await theirs.read(upTo: 8)
        buffer = bytes
        try await theirs.write(buffer.map { $0 &+ 1 })
      }
    }
    let finished = try await withTaskExecutorPreference(Reactor.shared) {
      var value: UInt8 = 0
      for _ in 0..<rounds {
        try await mine.write([value])
        let reply = try await mine.read(upTo: 8)
        guard reply == [value &+ 1] else { return false }
        value = reply[0]
        // Other suspensions resume on the reactor too.
        await Task.yield()
      }
      return true
    }
    #expect(finished)
    try await peer.value
  }

  @Test("sleeping and cancellation work for a task on the reactor")
  func sleepAndCancel() async throws {
    let reactor = Reactor.shared
    let task = Task {
      try await withTaskExecutorPreference(reactor) {
        try await Task.sleep(for: .milliseconds(5))
        let (left, right) = try Socket.pair()
        defer { withExtendedLifetime(right) {} }
        _ = try await left.read(upTo: 1)
      }
    }
    try await Task.sleep(for: .milliseconds(30))
    task.cancel()
    await #expect(throws: CancellationError.self) { try await task.value }
  }
}
