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

/// Says what went wrong in one line on standard error and exits (2: a usage error).
func fail(_ message: String, status: Int32 = 1) -> Never {
  _ = try? FileDescriptor.standardError.writeAll("graceful-shutdown: \(message)\n".utf8)
  exit(status)
}

let usage = "usage: graceful-shutdown [--after TICKS]"
let arguments = Array(CommandLine.arguments.dropFirst())
if arguments.contains("--help") || arguments.contains("-h") {
  print(usage + ": works until SIGINT or SIGTERM (or its own SIGTERM after TICKS ticks)")
  exit(0)
}
let after: Int?
switch arguments.count {
case 0: after = nil
case 2 where arguments[0] == "--after":
  guard let ticks = Int(arguments[1]), ticks > 0 else {
    fail("'\(arguments[1])' is not a number of ticks", status: 2)
  }
  after = ticks
default: fail(usage, status: 2)
}
let signals: SignalWatcher
let timer: TimerFD
do {
  signals = try SignalWatcher([.interrupt, .terminate], escalation: .seconds(2))
  timer = try TimerFD()
  try timer.schedule(after: .milliseconds(500), repeating: .milliseconds(500))
} catch {
  fail("\(error)")
}
print("pid \(getpid()): working; Ctrl-C or `kill -TERM \(getpid())` stops it")

let stop: SignalInfo?
do {
  stop = try await withThrowingTaskGroup(of: SignalInfo?.self) { group in
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
} catch {
  fail("\(error)")
}

if let stop {
  print("\(stop.signal) from pid \(stop.senderPID): finished the current tick, exiting")
}
try? timer.disarm()
