// Prints what changes under a folder and every folder below it, as `inotifywait -m -r` does,
// until Ctrl-C. A folder made with `mkdir -p a/b/c` is watched before it is scanned, so a
// file written into it at once is never missed; `.git` and `.build` are not watched.
//
//   swift run watch-folder [FOLDER]
import Glibc
import Hinix

/// Says what went wrong in one line on standard error and exits (2: a usage error).
func fail(_ message: String, status: Int32 = 1) -> Never {
  _ = try? FileDescriptor.standardError.writeAll("watch-folder: \(message)\n".utf8)
  exit(status)
}

let arguments = CommandLine.arguments.dropFirst()
if arguments.contains("--help") || arguments.contains("-h") {
  print("usage: watch-folder [FOLDER]: prints what changes under FOLDER (default .) until Ctrl-C")
  exit(0)
}
guard arguments.count <= 1 else { fail("usage: watch-folder [FOLDER]", status: 2) }
let folder = FilePath(arguments.first ?? ".")
let watcher: FileWatcher
let signals: SignalWatcher
do {
  watcher = try FileWatcher()
  try watcher.watchRecursively(
    folder, for: [.created, .closedAfterWriting, .moved, .deleted], excluding: [".git", ".build"])
  signals = try SignalWatcher([.interrupt, .terminate])
} catch {
  fail("\(error)")
}
print("watching \(folder); Ctrl-C stops")

do {
  try await withThrowingTaskGroup(of: Void.self) { group in
    group.addTask {
      for try await event in watcher.events {
        if event.movedTo != nil {
          continue  // the first half of a rename: its second half prints both paths
        } else if let from = event.movedFrom {
          print("\(from) -> \(event.path)")
        } else if event.kinds.contains(.overflow) || event.watchError != nil {
          print(event)  // what was lost, or a folder that could not be watched, and why
        } else {
          print("\(event.path) \(event.kinds)\(event.isFromScan ? " (found by a scan)" : "")")
        }
      }
    }
    group.addTask {
      var deliveries = signals.makeAsyncIterator()
      _ = await deliveries.next()
    }
    // Whichever ends first (a signal, or an error reading events) ends both.
    try await group.next()
    group.cancelAll()
  }
} catch {
  fail("\(error)")
}
print("stopped")
