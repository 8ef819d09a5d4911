// Signal delivery inside this process: a real-time signal queued to this process with a value,
// received through a SignalWatcher, and the same through the C baseline's handler and pipe.
// The malloc counter shows what one delivery allocates on Hinix's path.
import Benchmark
import CHinixBaseline
import Glibc
import Hinix

/// The watcher of the Hinix benchmark, made in setup and cancelled in teardown.
final class SignalFixture: @unchecked Sendable {
  let signal = Signal.realtime(2)!
  let watcher: SignalWatcher

  init() throws {
    watcher = try SignalWatcher([signal])
  }
}

nonisolated(unsafe) var signals: SignalFixture!

func signalBenchmarks() {
  let configuration = perMessage(
    setup: { signals = try SignalFixture() }, teardown: { signals.watcher.cancel() })

  Benchmark("signal to self, sigqueue then await: Hinix watcher", configuration: configuration) { benchmark in
    var deliveries = signals.watcher.makeAsyncIterator()
    let pid = getpid()
    for _ in benchmark.scaledIterations {
      try signals.signal.send(to: pid, value: 1)
      blackHole(await deliveries.next())
    }
  }

  Benchmark("signal to self, sigqueue then await: Hinix watcher on the reactor", configuration: configuration)
  {
    benchmark in
    try await withTaskExecutorPreference(Reactor.shared) {
      var deliveries = signals.watcher.makeAsyncIterator()
      let pid = getpid()
      for _ in benchmark.scaledIterations {
        try signals.signal.send(to: pid, value: 1)
        blackHole(await deliveries.next())
      }
    }
  }
}
