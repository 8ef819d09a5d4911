import Glibc
import SystemPackage
import Testing

@testable import Hinix

/// timerfd: what the kernel holds after each schedule (read back from fdinfo), counted
/// expirations, clock changes, the four read forms and the refusals.
@Suite("Timers")
struct TimerTests {
  @Test(
    "a one-shot relative timer: the kernel holds the clock, value and no interval, and one read reports 1")
  func oneShot() throws {
    let timer = try TimerFD(clock: .monotonic)
    // Far enough ahead that nothing expires while the kernel's view is checked, however slow.
    try timer.schedule(after: .seconds(30))
    let state = try timer.kernelState()
    #expect(state.clockID == CLOCK_MONOTONIC)
    #expect(state.settimeFlags == 0)
    #expect(state.value > .seconds(20) && state.value <= .seconds(30))
    #expect(state.interval == .zero)
    #expect(state.ticks == 0)
    let setting = try timer.setting()
    #expect(setting.interval == nil)
    #expect(try #require(setting.remaining) <= .seconds(30))
    #expect(try timer.tryRead() == .wouldBlock)
    try timer.schedule(after: .milliseconds(5))
    #expect(try timer.blockingRead() == .expired(1))
    #expect(try timer.tryRead() == .wouldBlock)
    // Expired and one-shot: disarmed.
    #expect(try timer.setting().remaining == nil)
  }

  @Test("a periodic timer counts the periods a late reader missed")
  func missedTicks() throws {
    let timer = try TimerFD()
    try timer.schedule(after: .milliseconds(1), repeating: .milliseconds(1))
    #expect(try timer.kernelState().interval == .milliseconds(1))
    usleep(30_000)
    // At least 30 ms passed, so the periods at 1, 2, ... 29 ms have all ended.
    guard case .expired(let count) = try timer.blockingRead() else {
      Issue.record("no expirations")
      return
    }
    #expect(count >= 29)
    // The count restarts after a read.
    guard case .expired(let next) = try timer.blockingRead() else {
      Issue.record("no expirations")
      return
    }
    #expect(next >= 1 && next < count)
  }

  @Test("an absolute realtime timer: the kernel holds TFD_TIMER_ABSTIME, and it expires at that time")
  func absolute() throws {
    let timer = try TimerFD(clock: .realtime)
    let now = try TimerFD.Clock.realtime.now()
    try timer.schedule(at: now + .milliseconds(20))
    let state = try timer.kernelState()
    #expect(state.clockID == CLOCK_REALTIME)
    #expect(state.settimeFlags == 1)
    #expect(try timer.blockingRead(timeout: .seconds(5)) == .completed(.expired(1)))
    #expect(try TimerFD.Clock.realtime.now() >= now + .milliseconds(20))
  }

  @Test("a time already past expires at once, and so does a zero delay")
  func pastAndZero() throws {
    let timer = try TimerFD(clock: .boottime)
    try timer.schedule(at: .zero)
    #expect(try timer.blockingRead(timeout: .seconds(5)) == .completed(.expired(1)))
    try timer.schedule(after: .zero)
    #expect(try timer.blockingRead(timeout: .seconds(5)) == .completed(.expired(1)))
  }

  @Test("setting the realtime clock is reported once as a clock change, a value, and the timer stays armed")
  func clockChange() throws {
    let timer = try TimerFD(clock: .realtime)
    let now = try TimerFD.Clock.realtime.now()
    try timer.schedule(at: now + .seconds(3600), cancelOnClockChange: true)
    #expect(try timer.kernelState().settimeFlags == 3)
    // Set the clock to what it reads now, corrected by the monotonic time the setting took: a
    // change of well under a microsecond for the rest of the system, but a change.
    let before = try TimerFD.Clock.monotonic.now()
    let reading = try TimerFD.Clock.realtime.now()
    let corrected = reading + (try TimerFD.Clock.monotonic.now() - before)
    switch Sys.setRealtimeClock(nanoseconds: Deadline.nanoseconds(of: corrected)) {
    case .success:
      break
    case .failure(let error):
      // Only without CAP_SYS_TIME; root here has it.
      withKnownIssue("clock_settime needs CAP_SYS_TIME: \(error)") { throw error }
      return
    }
    #expect(try timer.blockingRead(timeout: .seconds(5)) == .completed(.clockChanged))
    // Once per change; the timer stays armed.
    #expect(try timer.tryRead() == .wouldBlock)
    #expect(try #require(timer.setting().remaining) > .seconds(3500))
  }

  @Test("disarming drops the pending expirations; the timed read then times out")
  func disarm() throws {
    let timer = try TimerFD()
    try timer.schedule(after: .nanoseconds(1))
    usleep(2_000)
    try timer.disarm()
    #expect(try timer.setting() == TimerFD.Setting(remaining: nil, interval: nil))
    #expect(try timer.kernelState().value == .zero)
    #expect(try timer.blockingRead(timeout: .milliseconds(20)) == .timedOut)
  }

  @Test("async: a read suspends until the timer expires, and the ticks sequence counts every period")
  func asyncTicks() async throws {
    let timer = try TimerFD()
    try timer.schedule(after: .milliseconds(5))
    #expect(try await timer.read() == .expired(1))
    try timer.schedule(after: .milliseconds(2), repeating: .milliseconds(2))
    var total: UInt64 = 0
    var reads = 0
    for try await tick in timer.ticks {
      guard case .expired(let count) = tick else { break }
      total += count
      reads += 1
      if reads == 3 { break }
    }
    #expect(total >= 3)
  }

  @Test("cancelling a task waiting on a timer ends its wait")
  func cancelWait() async throws {
    let timer = try TimerFD()
    try timer.schedule(after: .seconds(3600))
    let waiter = Task { try await timer.read() }
    try await Task.sleep(for: .milliseconds(20))
    waiter.cancel()
    await #expect(throws: CancellationError.self) { try await waiter.value }
  }

  @Test("durations are checked before the kernel sees them")
  func refusals() throws {
    let timer = try TimerFD()
    let zero = expectError(.invalidArgument) { try timer.schedule(after: .seconds(1), repeating: .zero) }
    #expect(zero?.detail.contains("the interval 0.0 seconds is zero") == true, "\(String(describing: zero))")
    #expect(zero?.subject?.contains("CLOCK_MONOTONIC") == true)
    expectError(.invalidArgument) { try timer.schedule(after: .seconds(1), repeating: .seconds(-1)) }
    let cancel = expectError(.invalidArgument) {
      try timer.schedule(at: .seconds(1), cancelOnClockChange: true)
    }
    #expect(cancel?.detail.contains("CLOCK_REALTIME") == true)
    // Nothing was armed by the refused calls.
    #expect(try timer.setting().remaining == nil)
    // A delay or a time already past expires at once, as a negative timeout is a wait that
    // timed out at once (a queue's receive(timeout:)), not an error.
    try timer.schedule(after: .milliseconds(-1))
    #expect(try timer.blockingRead(timeout: .seconds(5)) == .completed(.expired(1)))
    try timer.schedule(at: .seconds(-5))
    #expect(try timer.blockingRead(timeout: .seconds(5)) == .completed(.expired(1)))
    // A fraction of a nanosecond is not the zero that disarms.
    try timer.schedule(after: .nanoseconds(1) / 4)
    #expect(try timer.blockingRead(timeout: .seconds(5)) == .completed(.expired(1)))
  }

  @Test("the alarm clocks: created with CAP_WAKE_ALARM; without it, an error that names it")
  func alarmClocks() throws {
    for clock in [TimerFD.Clock.realtimeAlarm, .boottimeAlarm] {
      do {
        let timer = try TimerFD(clock: clock)
        try timer.schedule(after: .milliseconds(1))
        #expect(try timer.blockingRead(timeout: .seconds(5)) == .completed(.expired(1)))
      } catch {
        // Only a process without the capability gets here; its message must say why.
        #expect(error.code == .permissionDenied && error.detail.contains("CAP_WAKE_ALARM"), "\(error)")
      }
    }
    guard getuid() == 0 else { return }
    let output = try run("hinix-test-peer", ["alarm-timer-as-nobody"])
    #expect(output.termination == .exited(0), "\(output.standardError)")
    #expect(
      output.standardOutput
        == "permissionDenied: CLOCK_BOOTTIME_ALARM needs CAP_WAKE_ALARM, which this process does not have\n")
  }

  @Test("a timer registered with the reactor next to other waits wakes only its own task")
  func beside() async throws {
    let slow = try TimerFD()
    let fast = try TimerFD()
    try slow.schedule(after: .seconds(3600))
    try fast.schedule(after: .milliseconds(5))
    let waiting = Task { try await slow.read() }
    #expect(try await fast.read() == .expired(1))
    waiting.cancel()
    await #expect(throws: CancellationError.self) { try await waiting.value }
  }
}
