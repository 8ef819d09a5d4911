// Prints what changes under a folder and every folder below it, as `inotifywait -m -r` does,
// until Ctrl-C. A folder made with `mkdir -p a/b/c` is watched before it is scanned, so a
// file written into it at once is never missed; `.git` and `.build` are not watched.
//
//   swift run watch-folder [FOLDER]
import Hinix

let folder = FilePath(CommandLine.arguments.count > 1 ? CommandLine.arguments[1] : ".")
let watcher = try FileWatcher()
try watcher.watchRecursively(
  folder, for: [.created, .closedAfterWriting, .moved, .deleted], excluding: [".git", ".build"])
let signals = try SignalWatcher([.interrupt, .terminate])
print("watching \(folder); Ctrl-C stops")

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
print("stopped")
