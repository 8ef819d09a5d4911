import Synchronization
import Testing

@testable import Hinix

/// The mailbox that hands signal deliveries to watchers: order, its bound, finishing and
/// cancellation of a waiting task.
@Suite("Mailbox")
struct MailboxTests {
  @Test("values come out in the order posted, across the buffer's growth and wrap-around")
  func order() async {
    let mailbox = Mailbox<Int>(limit: 1000)
    // Wrap the ring before it grows: post 10, take 5, post 40 (growth from 16 slots).
    for value in 0..<10 { #expect(mailbox.post(value) == .accepted) }
    for value in 0..<5 { #expect(await mailbox.next {} == value) }
    for value in 10..<50 { #expect(mailbox.post(value) == .accepted) }
    for value in 5..<50 { #expect(await mailbox.next {} == value) }
  }

  @Test("beyond its limit a value is dropped, and what was buffered is kept")
  func limit() async {
    let mailbox = Mailbox<Int>(limit: 3)
    for value in 0..<3 { #expect(mailbox.post(value) == .accepted) }
    #expect(mailbox.post(3) == .dropped)
    for value in 0..<3 { #expect(await mailbox.next {} == value) }
    #expect(mailbox.post(4) == .accepted)
    #expect(await mailbox.next {} == 4)
  }

  @Test("finishing delivers what is buffered, then nil, and refuses later values")
  func finishing() async {
    let mailbox = Mailbox<Int>(limit: 8)
    _ = mailbox.post(1)
    mailbox.finish()
    #expect(mailbox.post(2) == .finished)
    #expect(await mailbox.next {} == 1)
    #expect(await mailbox.next {} == nil)
  }

  @Test("a waiting task gets the value posted later; waiting tasks are served in order")
  func waiters() async throws {
    let mailbox = Mailbox<Int>(limit: 8)
    let first = Task { await mailbox.next {} }
    try await waitUntil { mailbox.waiting == 1 }
    let second = Task { await mailbox.next {} }
    try await waitUntil { mailbox.waiting == 2 }
    #expect(mailbox.post(7) == .accepted)
    #expect(mailbox.post(8) == .accepted)
    #expect(await first.value == 7)
    #expect(await second.value == 8)
    #expect(mailbox.waiting == 0)
  }

  @Test("cancelling a waiting task runs its cancellation action and ends its wait with nil")
  func cancellation() async throws {
    let mailbox = Mailbox<Int>(limit: 8)
    let cancelled = Atomic(0)
    let waiter = Task {
      await mailbox.next { cancelled.add(1, ordering: .relaxed) }
    }
    try await waitUntil { mailbox.waiting == 1 }
    waiter.cancel()
    #expect(await waiter.value == nil)
    #expect(cancelled.load(ordering: .relaxed) == 1)
    #expect(mailbox.waiting == 0)
    // The mailbox itself goes on: the action chose not to finish it.
    #expect(mailbox.post(3) == .accepted)
    #expect(await mailbox.next {} == 3)
  }

  @Test("a task cancelled before it waits gets nil at once")
  func cancelledBefore() async {
    let mailbox = Mailbox<Int>(limit: 8)
    let waiter = Task {
      withUnsafeCurrentTask { $0?.cancel() }
      return await mailbox.next {}
    }
    #expect(await waiter.value == nil)
  }

  /// Polls `condition` every millisecond for up to 10 s.
  private func waitUntil(_ condition: () -> Bool) async throws {
    for _ in 0..<10_000 where !condition() {
      try await Task.sleep(for: .milliseconds(1))
    }
    #expect(condition())
  }
}
