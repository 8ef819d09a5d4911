// A service loop that stops cleanly on SIGINT or SIGTERM: the first signal asks it to finish
// what it is doing and exit; a second Ctrl-C within 2 seconds ends it at once, as a stuck
// program must always be stoppable (the watcher's escalation).
//
//   swift run graceful-shutdown            then Ctrl-C, or `kill -TERM PID` from another shell
//   swift run graceful-shutdown --after 3  sends itself SIGTERM after 3 ticks
//
// The work here is a 500 ms timer (timerfd); a missed tick is counted, never lost.
import Glibc
import Hinix

let after =
  CommandLine.arguments.count == 3 && CommandLine.arguments[1] == "--after"
  ? Int(CommandLine.arguments[2]) : nil
let signals = try SignalWatcher([.interrupt, .terminate], escalation: .seconds(2))
let timer = try TimerFD()
try timer.schedule(after: .milliseconds(500), repeating: .milliseconds(500))
print("pid \(getpid()): working; Ctrl-C or `kill -TERM \(getpid())` stops it")

let stop: SignalInfo? = try await withThrowingTaskGroup(of: SignalInfo?.self) { group in
  group.addTask {
    var deliveries = signals.makeAsyncIterator()
    return await deliveries.next()
  }
  group.addTask {
    var ticks = 0
    for try await tick in timer.ticks {
      guard case .expired(let count) = tick else { continue }
      ticks += Int(count)
      print("tick \(ticks)")
      if ticks == after { try Signal.terminate.send(to: getpid()) }
    }
    return nil
  }
  // The first task to end is the signal's: stop the work and wait for it.
  let first = try await group.next() ?? nil
  group.cancelAll()
  return first
}

if let stop {
  print("\(stop.signal) from pid \(stop.senderPID): finished the current tick, exiting")
}
try timer.disarm()
