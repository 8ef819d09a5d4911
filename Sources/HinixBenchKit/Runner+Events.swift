import CHinixBaseline
import Glibc
import Hinix
import SystemPackage

/// The event sources: inotify decoding and latency, timer wake-ups, the poller's wait.
extension Runner {
  /// A private folder for file events, removed (it is left empty) when `body` returns.
  private func withEventFolder<T>(_ body: (FilePath) throws -> T) throws -> T {
    let folder: FilePath
    switch Sys.makeTemporaryDirectory(prefix: "/tmp/hinix-bench-") {
    case .success(let path): folder = path
    case .failure(let error): throw BenchError.failure("mkdtemp: \(error)")
    }
    defer { _ = rmdir(folder.string) }
    return try body(folder)
  }

  /// inotify decoding: a create/delete storm queues 8,000 events (under the default queue of
  /// 16,384), then the watcher reads and decodes them all; the time per event, over four storms
  /// a round (one drain lasts a few milliseconds, short enough for a stray interrupt to move
  /// it). C looks up the folder and builds each path; Hinix makes its `Event`s. With `raw`,
  /// both read the fields only: C matches each event's watch and measures its name, Hinix reads
  /// with `FileWatcher.tryReadRaw` and measures each name it is lent.
  func inotifyDecoding(raw: Bool = false) throws -> Figure {
    let files = 4_000
    let storms = plan.storms
    let nanoseconds = try withEventFolder { folder in
      /// One storm's drain: its time and how many events were read.
      func drain(_ implementation: Implementation) throws -> (Int64, Int) {
        var elapsed: Int64 = 0
        var events = 0
        switch implementation {
        case .c:
          var wd: Int32 = 0
          let fd = hinix_c_inotify_watch(folder.string, UInt32(IN_CREATE | IN_DELETE), &wd)
          try check(fd)
          defer { close(fd) }
          try check(hinix_c_file_storm(folder.string, Int32(files)))
          var count = 0
          var nameBytes = 0
          if raw {
            try check(hinix_c_inotify_drain_raw(fd, wd, &count, &nameBytes, &elapsed))
            guard nameBytes > 0 else { throw BenchError.failure("the C watcher saw no names") }
          } else {
            try check(hinix_c_inotify_drain(fd, wd, folder.string, &count, &elapsed))
          }
          events = count
        case .hinix:
          let watcher = try FileWatcher()
          try watcher.watch(folder, for: [.created, .deleted])
          try check(hinix_c_file_storm(folder.string, Int32(files)))
          let start = hinix_c_now_ns()
          if raw {
            var nameBytes = 0
            while case .completed(let count) = try watcher.tryReadRaw({ nameBytes += $0.nameBytes.count }) {
              events += count
            }
            elapsed = hinix_c_now_ns() - start
            guard nameBytes > 0 else { throw BenchError.failure("the Hinix watcher saw no names") }
          } else {
            while case .completed(let batch) = try watcher.tryRead() { events += batch.count }
            elapsed = hinix_c_now_ns() - start
          }
        }
        guard events == 2 * files else {
          throw BenchError.failure("the \(implementation) watcher decoded \(events) events, not \(2 * files)")
        }
        return (elapsed, events)
      }
      return try alternating(0.0, +) { implementation in
        var elapsed: Int64 = 0
        var events = 0
        for _ in 0..<storms {
          let (time, count) = try drain(implementation)
          elapsed += time
          events += count
        }
        return Double(elapsed) / Double(events)
      }
    }
    return Figure(
      transport: raw ? "inotify-raw" : "inotify-decode", size: 0, metric: "op_ns",
      hinix: nanoseconds[.hinix]! / Double(plan.rounds),
      baseline: nanoseconds[.c]! / Double(plan.rounds))
  }

  /// Recursive watch set-up: a tree of three levels of `plan.treeFanout` folders (33,825 folders
  /// at 32) watched whole, the time per folder from the call to its return. C opens each folder
  /// from its parent, watches it through /proc/self/fd and lists it (`hinix_c_watch_tree`);
  /// Hinix's `watchRecursively` does the same and keeps each folder's entries, to follow the
  /// tree. Each side starts from a new inotify instance; the tree is made once per run.
  func recursiveWatchSetUp() throws -> Figure {
    // Half the per-user limit of watches at most, for the user's other watchers: a machine
    // whose limit is low (8,192 before Linux 5.11) measures a smaller tree.
    let budget = Runner.inotifyWatchLimit().map { $0 / 2 } ?? 4_096
    var fanout = max(plan.treeFanout, 4)
    while fanout > 4 && 1 + fanout + fanout * fanout + fanout * fanout * fanout > budget { fanout -= 1 }
    let expected = 1 + fanout + fanout * fanout + fanout * fanout * fanout
    let mask = UInt32(IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_MODIFY)
    let perFolder = try withEventFolder { folder in
      let root = folder.appending("tree")
      // Removed whatever happens, a tree made only in part too.
      defer { _ = hinix_c_remove_tree(root.string) }
      try check(hinix_c_make_tree(root.string, Int32(fanout), 3))
      return try alternating(0.0, +) { implementation in
        var elapsed: Int64 = 0
        var folders = 0
        switch implementation {
        case .c:
          let inotify = inotify_init1(Int32(IN_CLOEXEC | IN_NONBLOCK))
          try check(inotify)
          defer { close(inotify) }
          try check(hinix_c_watch_tree(inotify, root.string, mask, &folders, &elapsed))
        case .hinix:
          let watcher = try FileWatcher()
          let start = hinix_c_now_ns()
          try watcher.watchRecursively(root, for: [.created, .deleted, .moved, .modified])
          elapsed = hinix_c_now_ns() - start
          folders = watcher.watches.count
        }
        guard folders == expected else {
          throw BenchError.failure("the \(implementation) watch reached \(folders) folders, not \(expected)")
        }
        return Double(elapsed) / Double(folders)
      }
    }
    return Figure(
      transport: "inotify-tree", size: 0, metric: "op_ns", hinix: perFolder[.hinix]! / Double(plan.rounds),
      baseline: perFolder[.c]! / Double(plan.rounds))
  }

  /// `/proc/sys/fs/inotify/max_user_watches`, if it can be read.
  static func inotifyWatchLimit() -> Int? {
    (try? readProcFile("/proc/sys/fs/inotify/max_user_watches")).flatMap { Int($0.trimmingWhitespace()) }
  }

  /// inotify latency: from creating a file (open, close) to reading its event, blocking.
  func inotifyLatency() throws -> [Figure] {
    let count = plan.warmUp + plan.roundTrips / 2
    let samples = try withEventFolder { folder in
      try alternating([Int64](), +) { implementation in
        try timedSamples(count) { buffer in
          switch implementation {
          case .c:
            var wd: Int32 = 0
            let fd = hinix_c_inotify_watch(folder.string, UInt32(IN_CREATE), &wd)
            try check(fd)
            defer { close(fd) }
            try check(hinix_c_inotify_latency(fd, wd, folder.string, count, buffer.baseAddress))
          case .hinix:
            let watcher = try FileWatcher()
            try watcher.watch(folder, for: .created)
            for index in 0..<count {
              let file = folder.appending("latency-\(index)")
              let start = hinix_c_now_ns()
              let fd = open(file.string, O_CREAT | O_WRONLY | O_CLOEXEC, 0o644)
              guard fd >= 0 else { throw BenchError.failure("cannot create \(file)") }
              close(fd)
              let events = try watcher.blockingRead()
              buffer[index] = hinix_c_now_ns() - start
              guard events.first?.path == file else { throw BenchError.failure("unexpected \(events)") }
              unlink(file.string)
            }
          }
        }
      }
    }
    return Report.latency(transport: "inotify-latency", size: 0, samples)
  }

  /// Timer wake-ups: a periodic 1 ms CLOCK_MONOTONIC timer read blocking; each sample is how
  /// long after its expiration the read returned.
  func timerLateness() throws -> [Figure] {
    let period: Int64 = 1_000_000
    let count = plan.warmUp + plan.roundTrips / 4
    let samples = try alternating([Int64](), +) { implementation in
      try timedSamples(count) { buffer in
        switch implementation {
        case .c:
          try check(hinix_c_timer_lateness(period, count, buffer.baseAddress))
        case .hinix:
          let timer = try TimerFD(clock: .monotonic)
          let start = hinix_c_now_ns()
          try timer.schedule(at: .nanoseconds(start + period), repeating: .nanoseconds(period))
          var total: Int64 = 0
          for index in 0..<count {
            guard case .expired(let expirations) = try timer.blockingRead() else {
              throw BenchError.failure("the monotonic clock changed")
            }
            let now = hinix_c_now_ns()
            total += Int64(expirations)
            buffer[index] = now - (start + total * period)
          }
        }
      }
    }
    return Report.latency(transport: "timer-late", size: 0, samples)
  }

  /// The poller's wait with one ready registration, beside `epoll_wait` in C: the time per wait.
  func pollerWait() throws -> Figure {
    let iterations = plan.roundTrips * 50
    let nanoseconds = try alternating(0.0, +) { implementation in
      var elapsed: Int64 = 0
      switch implementation {
      case .c:
        try check(hinix_c_epoll_ready_wait(iterations, &elapsed))
      case .hinix:
        let poller = try Poller()
        let ready = try EventFD(initialValue: 1)
        let registration = try poller.register(ready, token: 7, events: .readable)
        let events = Poller.Events(capacity: 64)
        let start = hinix_c_now_ns()
        for _ in 0..<iterations {
          guard try poller.tryWait(into: events) == .completed(1), events[0].token == 7 else {
            throw BenchError.failure("the poller did not report the ready eventfd")
          }
        }
        elapsed = hinix_c_now_ns() - start
        _ = consume registration
      }
      return Double(elapsed) / Double(iterations)
    }
    return Figure(
      transport: "poller-wait", size: 0, metric: "op_ns", hinix: nanoseconds[.hinix]! / Double(plan.rounds),
      baseline: nanoseconds[.c]! / Double(plan.rounds))
  }
}
