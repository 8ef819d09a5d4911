import Glibc
import Synchronization
import SystemPackage
import Testing

@testable import Hinix

/// The public epoll poller: triggers, tokens, the caller's buffer, the waker, refusals, the
/// close-while-registered case across processes, and use beside the reactor.
@Suite("Poller")
struct PollerTests {
  @Test("level-triggered: reported on every wait while ready, with its token, until drained")
  func level() throws {
    let poller = try Poller()
    let event = try EventFD()
    let registration = try poller.register(event, token: 7, events: .readable)
    let events = Poller.Events(capacity: 8)
    #expect(try poller.tryWait(into: events) == .wouldBlock)
    try event.blockingAdd(3)
    for _ in 0..<3 {
      #expect(try poller.tryWait(into: events) == .completed(1))
      #expect(events[0] == Poller.Event(token: 7, events: .readable))
    }
    #expect(try event.blockingRead() == 3)
    #expect(try poller.tryWait(into: events) == .wouldBlock)
    _ = consume registration
  }

  @Test("edge-triggered: reported once per change; one-shot: once, until modified")
  func edgeAndOneShot() throws {
    let poller = try Poller()
    let edge = try EventFD()
    let once = try EventFD()
    let edgeRegistration = try poller.register(edge, token: 1, events: .readable, trigger: .edge)
    let onceRegistration = try poller.register(once, token: 2, events: .readable, trigger: .oneShot)
    let events = Poller.Events()
    try edge.blockingAdd(1)
    try once.blockingAdd(1)
    #expect(try poller.tryWait(into: events) == .completed(2))
    #expect(Set(events.reported.map(\.token)) == [1, 2])
    // Both still readable, neither reported again.
    #expect(try poller.tryWait(into: events) == .wouldBlock)
    try edge.blockingAdd(1)
    #expect(try poller.tryWait(into: events) == .completed(1))
    #expect(events[0].token == 1)
    try onceRegistration.modify(events: .readable, trigger: .oneShot)
    #expect(try poller.tryWait(into: events) == .completed(1))
    #expect(events[0].token == 2)
    #expect(try poller.tryWait(into: events) == .wouldBlock)
    _ = consume edgeRegistration
  }

  @Test("each registration lasts while its value lives; several fill a small buffer in turns")
  func turns() throws {
    let poller = try Poller()
    let a = try EventFD(initialValue: 1)
    let b = try EventFD(initialValue: 1)
    let c = try EventFD(initialValue: 1)
    let ra = try poller.register(a, token: 10, events: .readable, trigger: .oneShot)
    let rb = try poller.register(b, token: 11, events: .readable, trigger: .oneShot)
    let rc = try poller.register(c, token: 12, events: .readable, trigger: .oneShot)
    let events = Poller.Events(capacity: 2)
    #expect(events.capacity == 2)
    var seen: Set<UInt64> = []
    #expect(try poller.tryWait(into: events) == .completed(2))
    seen.formUnion(events.reported.map(\.token))
    #expect(try poller.tryWait(into: events) == .completed(1))
    seen.formUnion(events.reported.map(\.token))
    #expect(seen == [10, 11, 12])
    _ = consume ra
    _ = consume rb
    _ = consume rc
  }

  @Test("the timed wait times out with 0; the blocking wait returns when another thread writes")
  func timedAndBlocking() throws {
    let poller = try Poller()
    let event = try EventFD()
    let registration = try poller.register(event, token: 3, events: .readable)
    let events = Poller.Events()
    let deadline = Deadline.Instant.after(.milliseconds(30))
    #expect(try poller.blockingWait(into: events, timeout: .milliseconds(30)) == .timedOut)
    #expect(deadline.remaining <= .zero)
    let writer = Thread { try event.blockingAdd(1) }
    #expect(try poller.blockingWait(into: events) == 1)
    #expect(events[0].token == 3)
    try writer.join()
    _ = consume registration
  }

  @Test("a waker wakes a blocked wait from another thread, and every wake is reported")
  func waker() throws {
    let poller = try Poller()
    let waker = try poller.makeWaker(token: 99)
    let events = Poller.Events()
    #expect(try poller.tryWait(into: events) == .wouldBlock)
    let thread = Thread { waker.wake() }
    #expect(try poller.blockingWait(into: events, timeout: .seconds(10)) == .completed(1))
    #expect(events[0].token == 99)
    try thread.join()
    #expect(try poller.tryWait(into: events) == .wouldBlock)
    waker.wake()
    #expect(try poller.tryWait(into: events) == .completed(1))
    waker.wake()
    #expect(try poller.tryWait(into: events) == .completed(1))
  }

  @Test("refusals name the descriptor and the reason")
  func refusals() throws {
    let poller = try Poller()
    let event = try EventFD()
    let registration = try poller.register(event, token: 1, events: .readable)
    let twice = expectError(.alreadyExists) { _ = try poller.register(event, token: 2, events: .readable) }
    #expect(twice?.detail.contains("descriptor \(event.descriptor.rawValue) is registered") == true)
    let file = try AdoptedDescriptor(
      adopting: FileDescriptor.open("/proc/self/status", .readOnly, options: .closeOnExec))
    let regular = expectError(.invalidArgument) { _ = try poller.register(file, token: 3, events: .readable) }
    #expect(regular?.detail.contains("does not support epoll") == true, "\(String(describing: regular))")
    expectError(.invalidArgument) { _ = try poller.register(poller, token: 4, events: .readable) }
    let exclusiveOnce = expectError(.invalidArgument) {
      _ = try poller.register(try EventFD(), token: 5, events: .readable, trigger: .oneShot, exclusive: true)
    }
    #expect(exclusiveOnce?.detail.contains("EPOLLEXCLUSIVE") == true)
    let exclusive = try poller.register(try EventFD(), token: 6, events: .readable, exclusive: true)
    let modify = expectError(.invalidArgument) { try exclusive.modify(events: .writable) }
    #expect(modify?.detail.contains("cannot be modified") == true)
    try exclusive.deregister()
    _ = consume registration
  }

  @Test("a descriptor still open in another process is never reported once its registration ended")
  func closeWhileRegistered() throws {
    // What happens without ownership: epoll watches the open file, so a descriptor closed while
    // registered keeps being reported while another process holds a copy.
    do {
      let (reader, writer) = try Pipe.create()
      let raw = try Sys.epollCreate().get()
      defer { _ = Sys.close(raw) }
      let fd = try Sys.fcntl(reader.descriptor.rawValue, F_DUPFD_CLOEXEC, 10).get()
      try Sys.epollControl(raw, Sys.epollAdd, fd, Sys.epollIn, 42).get()
      let child = try spawnPeer(["sleep", "30"], passing: [FileDescriptor(rawValue: fd): 3])
      defer { _ = try? child.kill(.kill) }
      _ = Sys.close(fd)
      try writer.blockingWrite(Array("x".utf8))
      var data: UInt64 = 0
      var mask: UInt32 = 0
      let count = try Sys.epollWait(raw, &data, &mask, capacity: 1, timeoutMilliseconds: 0).get()
      #expect(count == 1 && data == 42, "the kernel reports the closed descriptor")
      _ = reader
    }
    // With a registration: it ends before the descriptor is closed. The registration holds
    // the only reference to the reader, so ending it closes the reader's descriptor here.
    let poller = try Poller()
    let writer: PipeWriter
    weak var released: PipeReader?
    let child: ChildProcess
    var registration: Poller.Registration?
    do {
      let (reader, end) = try Pipe.create()
      writer = end
      released = reader
      child = try spawnPeer(["sleep", "30"], passing: [reader.descriptor: 3])
      registration = try poller.register(reader, token: 42, events: .readable)
    }
    defer { _ = try? child.kill(.kill) }
    let events = Poller.Events()
    try writer.blockingWrite(Array("x".utf8))
    #expect(try poller.tryWait(into: events) == .completed(1))
    registration = nil
    _ = registration
    // The reader is gone, its descriptor closed in this process (the peer's copy keeps the
    // pipe open) ...
    #expect(released == nil)
    // ... and never reported again.
    #expect(try poller.tryWait(into: events) == .wouldBlock)
    try writer.blockingWrite(Array("y".utf8))
    #expect(try poller.tryWait(into: events) == .wouldBlock)
  }

  @Test("side by side with the reactor: an async poller wait and reactor waits in one process")
  func besideReactor() async throws {
    let poller = try Poller()
    let polled = try EventFD()
    let awaited = try EventFD()
    let registration = try poller.register(polled, token: 5, events: .readable)
    let loop = Task {
      let events = Poller.Events()
      let count = try await poller.wait(into: events)
      return events.reported.prefix(count).map(\.token)
    }
    let reactorWait = Task { try await awaited.read() }
    try await Task.sleep(for: .milliseconds(10))
    try await polled.add(1)
    try await awaited.add(2)
    #expect(try await loop.value == [5])
    #expect(try await reactorWait.value == 2)
    // The poller only reported `polled`; its count is still there for its reader.
    #expect(try polled.tryRead() == .completed(1))
    _ = consume registration
  }

  @Test("cancelling an async poller wait ends it")
  func cancelAsyncWait() async throws {
    let poller = try Poller()
    let loop = Task {
      let events = Poller.Events()
      return try await poller.wait(into: events)
    }
    try await Task.sleep(for: .milliseconds(10))
    loop.cancel()
    await #expect(throws: CancellationError.self) { try await loop.value }
  }
}
