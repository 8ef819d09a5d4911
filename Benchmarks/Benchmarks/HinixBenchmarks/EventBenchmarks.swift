// Event sources with the malloc counter: the poller's wait and a timer's read allocate nothing;
// a FileWatcher event owns its name, and the counter shows what decoding one costs.
import Benchmark
import Glibc
import Hinix
import SystemPackage

/// The event sources of the benchmarks, made in setup and released in teardown.
final class EventFixture: @unchecked Sendable {
  let poller: Poller
  let ready: EventFD
  var registration: Poller.Registration?
  let events = Poller.Events(capacity: 64)
  let timer: TimerFD
  let watcher: FileWatcher
  let folder: FilePath

  init() throws {
    poller = try Poller()
    ready = try EventFD(initialValue: 1)
    registration = try poller.register(ready, token: 7, events: .readable)
    timer = try TimerFD()
    // Expired long ago and every nanosecond since: each read finds expirations.
    try timer.schedule(after: .nanoseconds(1), repeating: .nanoseconds(1))
    watcher = try FileWatcher()
    var template = Array("/tmp/hinix-benchmark-XXXXXX".utf8CString)
    guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
      throw HinixError(.system, operation: "mkdtemp", detail: "no temporary folder")
    }
    folder = FilePath(String(cString: made))
    try watcher.watch(folder, for: .created)
  }

  func end() {
    registration = nil
    _ = Glibc.rmdir(folder.string)
  }
}

nonisolated(unsafe) var eventSources: EventFixture!

func eventBenchmarks() {
  let configuration = perMessage(
    setup: { eventSources = try EventFixture() }, teardown: { eventSources.end() })

  Benchmark("poller: a wait with one ready registration", configuration: configuration) { benchmark in
    for _ in benchmark.scaledIterations {
      blackHole(try eventSources.poller.tryWait(into: eventSources.events))
    }
  }

  Benchmark("timer: a read of an expired periodic timer", configuration: configuration) { benchmark in
    for _ in benchmark.scaledIterations {
      blackHole(try eventSources.timer.tryRead())
    }
  }

  Benchmark("inotify: create a file, read and decode its event", configuration: configuration) { benchmark in
    let path = eventSources.folder.appending("f").string
    for _ in benchmark.scaledIterations {
      let fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0o644)
      close(fd)
      unlink(path)
      blackHole(try eventSources.watcher.blockingRead())
    }
  }
}
