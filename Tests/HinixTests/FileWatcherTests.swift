import CHinixBaseline
import Glibc
import Synchronization
import SystemPackage
import Testing

@testable import Hinix

/// inotify on real files in temporary folders. Serialized: two tests change inotify limits of
/// the whole system for a moment.
@Suite("File watcher", .serialized)
struct FileWatcherTests {
  /// Reads until `done` says the events so far are enough, or 10 s pass; returns them all.
  private func collect(_ watcher: FileWatcher, until done: ([FileWatcher.Event]) -> Bool) throws
    -> [FileWatcher.Event]
  {
    var events: [FileWatcher.Event] = []
    let deadline = Deadline.Instant.after(.seconds(10))
    while !done(events), deadline.remaining > .zero {
      if case .completed(let batch) = try watcher.blockingRead(timeout: .milliseconds(100)) {
        events += batch
      }
    }
    return events
  }

  /// Reads what arrives within `quiet` of the last batch.
  private func drain(_ watcher: FileWatcher, quiet: Duration = .milliseconds(100)) throws -> [FileWatcher
    .Event]
  {
    var events: [FileWatcher.Event] = []
    while case .completed(let batch) = try watcher.blockingRead(timeout: quiet) { events += batch }
    return events
  }

  private func touch(_ path: FilePath, _ text: String = "") throws {
    let fd = try FileDescriptor.open(
      path, .writeOnly, options: [.create, .truncate, .closeOnExec], permissions: .ownerReadWrite)
    defer { try? fd.close() }
    _ = try fd.writeAll(Array(text.utf8))
  }

  @Test("every kind of event on a directory's entries, with inotifywait's names")
  func kinds() throws {
    try withTemporaryFolder { folder in
      let watcher = try FileWatcher()
      let watch = try watcher.watch(folder)
      #expect(watcher.watches == [watch])
      let file = folder.appending("f")
      try touch(file, "hello")
      #expect(chmod(file.string, 0o600) == 0)
      let reader = try FileDescriptor.open(file, .readOnly, options: .closeOnExec)
      var byte: UInt8 = 0
      _ = try withUnsafeMutableBytes(of: &byte) { try reader.read(into: $0) }
      try reader.close()
      #expect(mkdir(folder.appending("d").string, 0o755) == 0)
      #expect(rmdir(folder.appending("d").string) == 0)
      #expect(unlink(file.string) == 0)
      let events = try collect(watcher) { $0.contains { $0.kinds == [.deleted] } }
      let lines = events.map { "\($0.name?.string ?? "") \($0.kinds)" }
      for expected in [
        "f CREATE", "f OPEN", "f MODIFY", "f CLOSE_WRITE", "f ATTRIB", "f ACCESS", "f CLOSE_NOWRITE",
        "d CREATE,ISDIR",
        "d DELETE,ISDIR", "f DELETE",
      ] {
        #expect(lines.contains(expected), "\(expected) missing from \(lines)")
      }
      #expect(events.allSatisfy { $0.directory == folder && !$0.isFromScan })
      #expect(events.first { $0.kinds == .created }?.description == "\(folder.string)/f CREATE")
    }
  }

  @Test("a watched file: its move and deletion are about itself, then the watch is reported gone")
  func watchedFile() throws {
    try withTemporaryFolder { folder in
      let file = folder.appending("f")
      try touch(file)
      let watcher = try FileWatcher()
      try watcher.watch(file, for: [.movedSelf, .deletedSelf])
      #expect(rename(file.string, folder.appending("g").string) == 0)
      #expect(unlink(folder.appending("g").string) == 0)
      let events = try collect(watcher) { $0.contains { $0.kinds.contains(.ignored) } }
      #expect(events.map(\.kinds) == [.movedSelf, .deletedSelf, .ignored])
      #expect(events.allSatisfy { $0.path == file && $0.name == nil })
      #expect(watcher.watches.isEmpty)
    }
  }

  @Test("a rename inside the watched set is paired by cookie; moves out and in are marked as such")
  func renames() throws {
    try withTemporaryFolder { folder in
      let inside = folder.appending("in")
      let outside = folder.appending("out")
      #expect(mkdir(inside.string, 0o755) == 0 && mkdir(outside.string, 0o755) == 0)
      try touch(inside.appending("a"))
      try touch(outside.appending("c"))
      let watcher = try FileWatcher()
      try watcher.watch(inside, for: .moved)
      #expect(rename(inside.appending("a").string, inside.appending("b").string) == 0)
      #expect(rename(inside.appending("b").string, outside.appending("b").string) == 0)
      #expect(rename(outside.appending("c").string, inside.appending("c").string) == 0)
      let events = try collect(watcher) { $0.count >= 4 }
      #expect(events.count == 4, "\(events)")
      guard events.count == 4 else { return }
      #expect(events[0].kinds == .movedFrom && events[0].movedTo == inside.appending("b"))
      #expect(events[1].kinds == .movedTo && events[1].movedFrom == inside.appending("a"))
      #expect(events[0].cookie == events[1].cookie && events[0].cookie != 0)
      #expect(events[2].isMoveOut && events[2].path == inside.appending("b"))
      #expect(events[3].isMoveIn && events[3].path == inside.appending("c"))
    }
  }

  @Test("recursive: thousands of nested folders made by another process as fast as it can, nothing lost")
  func nestedCreations() async throws {
    try await withTemporaryFolderAsync { folder in
      let watcher = try FileWatcher()
      try watcher.watchRecursively(folder, for: [.created])
      let chains = 100
      let depth = 20
      var paths: Set<FilePath> = []
      for chain in 0..<chains {
        var path = folder.appending("c\(chain)")
        paths.insert(path)
        for level in 1..<depth {
          path.append("d\(level)")
          paths.insert(path)
        }
        paths.insert(path.appending("f"))
      }
      let expected = paths
      let peer = try spawnPeer(["make-tree", folder.string, "\(chains)", "\(depth)"])
      let reading = Task {
        var seen: Set<FilePath> = []
        var fromScan = 0
        for try await event in watcher.events {
          seen.insert(event.path)
          if event.isFromScan { fromScan += 1 }
          if seen.isSuperset(of: expected) { break }
        }
        return (seen, fromScan)
      }
      #expect(try await peer.wait() == .exited(0))
      let timeout = Task {
        try await Task.sleep(for: .seconds(30))
        reading.cancel()
      }
      let (seen, fromScan) = try await reading.value
      timeout.cancel()
      #expect(
        expected.subtracting(seen).isEmpty,
        "lost: \(expected.subtracting(seen).sorted { $0.string < $1.string }.prefix(5))")
      // Every folder is watched.
      #expect(watcher.watches.count == 1 + chains * depth)
      // The race happened: some creations could only be found by a scan (informative).
      print("nested creations: \(seen.count) paths, \(fromScan) found by a scan")
    }
  }

  @Test("recursive: a renamed folder keeps its watches under the new path; one moved out loses them")
  func treeMoves() throws {
    try withTemporaryFolder { folder in
      let tree = folder.appending("tree")
      #expect(mkdir(tree.string, 0o755) == 0)
      #expect(mkdir(tree.appending("a").string, 0o755) == 0)
      #expect(mkdir(tree.appending("a/b").string, 0o755) == 0)
      let watcher = try FileWatcher()
      try watcher.watchRecursively(tree, for: [.created, .moved])
      #expect(watcher.watches.count == 3)
      #expect(rename(tree.appending("a").string, tree.appending("c").string) == 0)
      try touch(tree.appending("c/b/f"))
      var events = try collect(watcher) { $0.contains { $0.kinds == .created } }
      #expect(
        events.contains { $0.kinds == [.movedTo, .isDirectory] && $0.movedFrom == tree.appending("a") })
      #expect(events.contains { $0.kinds == .created && $0.path == tree.appending("c/b/f") }, "\(events)")
      #expect(Set(watcher.watches.map(\.path)) == [tree, tree.appending("c"), tree.appending("c/b")])
      // Moved out: no more events from there, and its watches are gone.
      #expect(rename(tree.appending("c").string, folder.appending("away").string) == 0)
      events = try collect(watcher) { $0.contains { $0.isMoveOut } }
      #expect(events.contains { $0.isMoveOut && $0.path == tree.appending("c") && $0.isDirectory })
      try touch(folder.appending("away/b/g"))
      #expect(try drain(watcher).isEmpty)
      #expect(watcher.watches.map(\.path) == [tree])
    }
  }

  @Test(
    "recursive: a folder made where one moved out keeps its watch; one moved in from a plain watch gets one")
  func treeMovesThatAreNotRenames() throws {
    try withTemporaryFolder { folder in
      let tree = folder.appending("tree")
      let plain = folder.appending("plain")
      for path in [tree, tree.appending("a"), plain, plain.appending("b")] {
        #expect(mkdir(path.string, 0o755) == 0)
      }
      let watcher = try FileWatcher()
      try watcher.watchRecursively(tree, for: [.created, .moved])
      try watcher.watch(plain, for: .moved)
      let again = expectError(.alreadyExists) { try watcher.watchRecursively(tree) }
      #expect(again?.detail.contains("watches the path already") == true)
      let inside = expectError(.alreadyExists) { try watcher.watch(tree.appending("a")) }
      #expect(inside?.detail.contains("part of the recursive watch of \(tree.string)") == true)
      // In one batch: the old a leaves, a new a is made, and b arrives from the plain watch.
      #expect(rename(tree.appending("a").string, folder.appending("gone").string) == 0)
      #expect(mkdir(tree.appending("a").string, 0o755) == 0)
      #expect(rename(plain.appending("b").string, tree.appending("b").string) == 0)
      var events = try collect(watcher) { $0.contains { $0.kinds.contains(.movedTo) } }
      #expect(events.contains { $0.isMoveOut && $0.path == tree.appending("a") })
      #expect(
        events.contains { $0.kinds == [.movedTo, .isDirectory] && $0.movedFrom == plain.appending("b") })
      try touch(tree.appending("a/f"))
      try touch(tree.appending("b/g"))
      try touch(folder.appending("gone/h"))
      events = try collect(watcher) { $0.filter { $0.kinds == .created }.count >= 2 }
      #expect(
        Set(events.filter { $0.kinds == .created }.map(\.path)) == [
          tree.appending("a/f"), tree.appending("b/g"),
        ],
        "\(events)")
      #expect(
        Set(watcher.watches.map(\.path)) == [tree, tree.appending("a"), tree.appending("b"), plain],
        "\(watcher.watches)")
    }
  }

  @Test("recursive: excluded names and paths are neither watched nor reported")
  func exclusions() throws {
    try withTemporaryFolder { folder in
      let watcher = try FileWatcher()
      try watcher.watchRecursively(folder, for: [.created], excluding: [".git", "*.tmp", "build/*"])
      for name in [".git", "build", "src"] { #expect(mkdir(folder.appending(name).string, 0o755) == 0) }
      try touch(folder.appending(".git/x"))
      try touch(folder.appending("y.tmp"))
      try touch(folder.appending("build/o"))
      try touch(folder.appending("src/z"))
      let events = try collect(watcher) { $0.contains { $0.path == folder.appending("src/z") } }
      let paths = Set(events.map(\.path))
      #expect(
        paths == [folder.appending("build"), folder.appending("src"), folder.appending("src/z")], "\(paths)")
      #expect(!watcher.watches.contains { $0.path == folder.appending(".git") })
    }
  }

  /// Runs `body` with `/proc/sys/fs/inotify/NAME` set to `value`, restoring it afterwards;
  /// nil when this process may not change it.
  private func withLimit<R>(_ name: String, _ value: Int, _ body: () throws -> R) throws -> R? {
    let path = "/proc/sys/fs/inotify/\(name)"
    let original = String(try readProcFile(FilePath(path)).trimmingWhitespace())
    func write(_ text: String) -> Bool {
      guard let fd = try? FileDescriptor.open(FilePath(path), .writeOnly, options: .closeOnExec) else {
        return false
      }
      defer { try? fd.close() }
      return (try? fd.writeAll(Array(text.utf8))) != nil
    }
    guard write("\(value)") else { return nil }
    defer { _ = write(original) }
    return try body()
  }

  @Test("overflow: an event no filter hides, then a rescan reports what the lost events would have")
  func overflow() throws {
    try withTemporaryFolder { folder in
      // The queue's size is fixed when an instance is created.
      let made = try withLimit("max_queued_events", 16) { try (FileWatcher(), FileWatcher()) }
      guard let (recursive, plain) = made else {
        print("skipped: this process may not write /proc/sys/fs/inotify/max_queued_events (it needs root)")
        return
      }
      try recursive.watchRecursively(folder, for: [.created, .deleted])
      try plain.watch(folder, for: [.created])
      try touch(folder.appending("old"))
      _ = try drain(recursive)
      for index in 0..<100 { try touch(folder.appending("f\(index)")) }
      #expect(unlink(folder.appending("old").string) == 0)
      let events = try drain(recursive)
      #expect(events.contains { $0.kinds == .overflow }, "\(events.prefix(20))")
      #expect(
        events.first { $0.kinds == .overflow }?.description
          == "Q_OVERFLOW: events were lost; the kernel's queue holds /proc/sys/fs/inotify/max_queued_events = 16"
      )
      let created = Set(events.filter { $0.kinds == .created }.map(\.path))
      #expect(created == Set((0..<100).map { folder.appending("f\($0)") }))
      #expect(events.contains { $0.kinds == .deleted && $0.path == folder.appending("old") && $0.isFromScan })
      // A folder replaced while events were lost: the rescan watches the new one.
      #expect(mkdir(folder.appending("d").string, 0o755) == 0)
      _ = try drain(recursive)
      #expect(rmdir(folder.appending("d").string) == 0)
      #expect(mkdir(folder.appending("d").string, 0o755) == 0)
      for index in 0..<100 { #expect(unlink(folder.appending("f\(index)").string) == 0) }
      let replaced = try drain(recursive)
      #expect(replaced.contains { $0.kinds == .overflow })
      try touch(folder.appending("d/inside"))
      let inside = try collect(recursive) { $0.contains { $0.path == folder.appending("d/inside") } }
      #expect(
        inside.contains { $0.kinds == .created && $0.path == folder.appending("d/inside") }, "\(inside)")
      let plainEvents = try drain(plain)
      #expect(plainEvents.contains { $0.kinds == .overflow })
      #expect(plainEvents.count < 100)
    }
  }

  @Test("overflow: a folder moved from one tree to another while events were lost is the new tree's")
  func overflowMoveBetweenTrees() throws {
    try withTemporaryFolder { folder in
      let made = try withLimit("max_queued_events", 16) { try FileWatcher() }
      guard let watcher = made else {
        print("skipped: this process may not write /proc/sys/fs/inotify/max_queued_events (it needs root)")
        return
      }
      // Rescanned in the order of their roots: `a` first, while `b` still has the folder.
      let (a, b) = (folder.appending("a"), folder.appending("b"))
      for path in [a, b, b.appending("x")] { #expect(mkdir(path.string, 0o755) == 0) }
      try watcher.watchRecursively(a, for: [.created, .deleted, .moved])
      try watcher.watchRecursively(b, for: [.created, .deleted, .moved])
      for index in 0..<40 { try touch(b.appending("f\(index)")) }
      #expect(rename(b.appending("x").string, a.appending("x").string) == 0)
      let events = try drain(watcher)
      #expect(events.contains { $0.kinds == .overflow }, "\(events.prefix(20))")
      #expect(!events.contains { $0.watchError != nil }, "\(events.filter { $0.watchError != nil })")
      #expect(Set(watcher.watches.map(\.path)) == [a, b, a.appending("x")])
      try touch(a.appending("x/inside"))
      let inside = try collect(watcher) { $0.contains { $0.path == a.appending("x/inside") } }
      #expect(inside.contains { $0.kinds == .created && $0.path == a.appending("x/inside") }, "\(inside)")
    }
  }

  @Test("events queued before a watch was removed keep its path; a watch made after it labels only its own")
  func removedWatchLabels() throws {
    try withTemporaryFolder { folder in
      let a = folder.appending("a")
      let b = folder.appending("b")
      #expect(mkdir(a.string, 0o755) == 0 && mkdir(b.string, 0o755) == 0)
      let watcher = try FileWatcher()
      let first = try watcher.watch(a, for: .created)
      try touch(a.appending("f"))
      try watcher.unwatch(first)
      let second = try watcher.watch(b, for: .created)
      #expect(second.descriptor != first.descriptor)
      try touch(b.appending("g"))
      let events = try collect(watcher) { $0.count >= 2 }
      #expect(events.map(\.path) == [a.appending("f"), b.appending("g")])
      let again = expectError(.notFound) { try watcher.unwatch(first) }
      #expect(again?.detail.contains("watch \(first.descriptor)") == true)
    }
  }

  @Test("unwatching a tree while a folder's creation is queued adds no watch and reports nothing after")
  func unwatchWithCreationQueued() throws {
    try withTemporaryFolder { folder in
      let watcher = try FileWatcher()
      let tree = try watcher.watchRecursively(folder, for: .created)
      let late = folder.appending("late")
      #expect(mkdir(late.string, 0o755) == 0)
      try watcher.unwatch(tree)
      // The queued creation may still be reported (events queued before an unwatch are);
      // before the fix its upkeep watched the new folder again, a watch nobody could remove.
      _ = try drain(watcher)
      #expect(watcher.watches.isEmpty, "\(watcher.watches)")
      try touch(late.appending("after"))
      let after = try drain(watcher, quiet: .milliseconds(200))
      #expect(after.isEmpty, "\(after)")
      let fdinfo = try readProcFile(FilePath("/proc/self/fdinfo/\(watcher.descriptor.rawValue)"))
      #expect(!fdinfo.contains("inotify wd:"), "\(fdinfo)")
    }
  }

  @Test("a folder swapped for a symbolic link in the middle of a recursive walk is not followed")
  func symlinkSwappedDuringWalk() throws {
    try withTemporaryFolder { folder in
      let root = folder.appending("root")
      let outside = folder.appending("outside")
      for path in [root, root.appending("a"), root.appending("a/b"), outside, outside.appending("b")] {
        #expect(mkdir(path.string, 0o755) == 0)
      }
      // When the walk is about to open root/a/b, root/a becomes a link to the outside folder,
      // as a user who can write in the tree could make it. Opening root/a/b by its path would
      // reach outside/b; the walk opens b from the descriptor of the folder it listed.
      let a = root.appending("a")
      FileWatcher.beforeOpeningFolder.withLock { hook in
        hook = { path in
          guard path == a.appending("b") else { return }
          _ = rename(a.string, root.appending("a-moved").string)
          _ = symlink(outside.string, a.string)
        }
      }
      defer { FileWatcher.beforeOpeningFolder.withLock { $0 = nil } }
      let watcher = try FileWatcher()
      try watcher.watchRecursively(root, for: .created)
      FileWatcher.beforeOpeningFolder.withLock { $0 = nil }
      _ = try drain(watcher)
      try touch(outside.appending("b/secret"))
      try touch(root.appending("a-moved/b/inside"))
      let events = try collect(watcher) { $0.contains { $0.name?.string == "inside" } }
      #expect(!events.contains { $0.name?.string == "secret" }, "an event from outside the tree: \(events)")
      #expect(events.contains { $0.name?.string == "inside" }, "\(events)")
    }
  }

  @Test("recursive set-up grows linearly with the folders: 8 times the folders, not 64 times the time")
  func recursiveSetUpIsLinear() throws {
    // The figure is hinix bench's inotify-tree; this guards the shape, as a ratio of two sizes
    // measured here and now (a slower machine slows both): the old walk visited every watch
    // for each folder, 16 times the time for 4 times the folders at these sizes.
    func setUp(_ fanout: Int) throws -> Duration {
      try withTemporaryFolder { folder in
        let root = folder.appending("tree")
        #expect(hinix_c_make_tree(root.string, Int32(fanout), 2) == 0)
        defer { _ = hinix_c_remove_tree(root.string) }
        let watcher = try FileWatcher()
        let start = ContinuousClock.now
        try watcher.watchRecursively(root, for: .created)
        let elapsed = ContinuousClock.now - start
        #expect(watcher.watches.count == 1 + fanout + fanout * fanout)
        return elapsed
      }
    }
    let limit = Int(FileWatcher.limit("max_user_watches").split(separator: " ").last ?? "") ?? 0
    guard limit >= 2 * 16_513 else {
      print("skipped: max_user_watches is \(limit), below the 33,026 this test needs with room to spare")
      return
    }
    _ = try setUp(16)
    let small = try setUp(45)  // 2,071 folders
    let large = try setUp(128)  // 16,513 folders
    // Linear is 8 times; the old walk was about 64 times. 32 leaves room for a loaded machine.
    #expect(large / small < 32, "2,071 folders took \(small), 16,513 took \(large)")
  }

  @Test(
    "decoding a tree's events costs the same whatever the number of watches, and is quick in a debug build")
  func treeDecodingCost() throws {
    // In a debug build each event used to make a path component and a path for the exclusion
    // check (even with no exclusions): 7,000 events took 4.3 s, against 0.05-0.1 s now.
    var times: [Duration] = []
    for folders in [1, 1_000] {
      try withTemporaryFolder { folder in
        for index in 0..<folders { #expect(mkdir(folder.appending("d\(index)").string, 0o755) == 0) }
        let watcher = try FileWatcher()
        try watcher.watchRecursively(folder, for: [.created])
        for index in 0..<7_000 {
          close(
            open(
              folder.appending("d\(index % folders)/f\(index)").string, O_CREAT | O_WRONLY | O_CLOEXEC, 0o644)
          )
        }
        let start = ContinuousClock.now
        var count = 0
        while case .completed(let batch) = try watcher.tryRead() { count += batch.count }
        times.append(ContinuousClock.now - start)
        #expect(count == 7_000)
      }
    }
    #expect(times.allSatisfy { $0 < .seconds(2) }, "\(times)")
  }

  @Test("one read of interleaved watches: each event keeps its own watch's path")
  func interleavedWatchesInOneRead() throws {
    try withTemporaryFolder { folder in
      let a = folder.appending("a")
      let b = folder.appending("b")
      #expect(mkdir(a.string, 0o755) == 0 && mkdir(b.string, 0o755) == 0)
      let watcher = try FileWatcher()
      try watcher.watch(a, for: .created)
      try watcher.watch(b, for: .deleted)
      // Queued before the first read, so one read decodes runs of each watch in turn.
      for index in 0..<50 {
        // Each watch gets only the kinds it asked for, so the events alternate in runs of two:
        // a's two creations, then b's two deletions. The second of each run takes the
        // decoder's short path, labelled with the watch the first looked up.
        try touch(a.appending("a\(index)"))
        try touch(a.appending("a\(index)x"))
        #expect(unlink(a.appending("a\(index)").string) == 0)
        try touch(b.appending("b\(index)"))
        try touch(b.appending("b\(index)y"))
        #expect(unlink(b.appending("b\(index)").string) == 0)
        #expect(unlink(b.appending("b\(index)y").string) == 0)
      }
      let events = try drain(watcher)
      // Per round: the kind, folder and name of each event, in the order they were queued.
      let expected = (0..<50).flatMap { index -> [(FileWatcher.Kinds, FilePath, String)] in
        [
          (.created, a, "a\(index)"), (.created, a, "a\(index)x"), (.deleted, b, "b\(index)"),
          (.deleted, b, "b\(index)y"),
        ]
      }.map { kinds, folder, name in
        FileWatcher.Event(
          kinds: kinds, directory: folder, name: FilePath.Component(name), cookie: 0, isFromScan: false)
      }
      #expect(events == expected)
    }
  }

  /// What a raw read lends, copied out of its call.
  private struct Raw: Equatable {
    var kinds: FileWatcher.Kinds
    var directory: FilePath
    var name: String
    var cookie: UInt32
  }

  private func snapshot(_ event: borrowing FileWatcher.RawEvent) -> Raw {
    Raw(
      kinds: event.kinds, directory: event.directory,
      name: String(decoding: event.nameBytes, as: UTF8.self), cookie: event.cookie)
  }

  /// Raw-reads until nothing is queued. (Written out: a `while` whose condition calls
  /// `tryReadRaw` with a closure that captures a variable crashes Swift 6.3.1's debug build.)
  private func readAllRaw(_ watcher: FileWatcher, into raws: inout [Raw]) throws {
    var read: [Raw] = []
    var outcome: Outcome<Int>
    repeat {
      outcome = try watcher.tryReadRaw { read.append(snapshot($0)) }
    } while outcome != .wouldBlock
    raws += read
  }

  @Test("raw reads lend the kernel's events one for one, in order, with their watch's path")
  func rawReads() throws {
    try withTemporaryFolder { folder in
      let sub = folder.appending("sub")
      #expect(mkdir(sub.string, 0o755) == 0)
      let watcher = try FileWatcher()
      try watcher.watch(folder, for: [.created, .deleted, .moved])
      let file = try watcher.watch(sub, for: .deleted)
      var raws: [Raw] = []
      #expect(try watcher.tryReadRaw { raws.append(snapshot($0)) } == .wouldBlock)
      // The longest name the kernel allows, then a rename (two events, one cookie).
      let long = String(repeating: "n", count: 255)
      try touch(folder.appending(long))
      #expect(rename(folder.appending(long).string, folder.appending("moved").string) == 0)
      try touch(sub.appending("inner"))
      #expect(unlink(sub.appending("inner").string) == 0)
      #expect(unlink(folder.appending("moved").string) == 0)
      let passed = try watcher.blockingReadRaw { raws.append(snapshot($0)) }
      #expect(passed >= 1 && passed == raws.count)
      try readAllRaw(watcher, into: &raws)
      let expected = [
        Raw(kinds: .created, directory: folder, name: long, cookie: 0),
        Raw(kinds: .movedFrom, directory: folder, name: long, cookie: raws.count > 1 ? raws[1].cookie : 0),
        Raw(kinds: .movedTo, directory: folder, name: "moved", cookie: raws.count > 1 ? raws[1].cookie : 0),
        Raw(kinds: .deleted, directory: sub, name: "inner", cookie: 0),
        Raw(kinds: .deleted, directory: folder, name: "moved", cookie: 0),
      ]
      #expect(raws == expected)
      #expect(raws.count > 1 && raws[1].cookie != 0)
      // Removing a watch: the kernel's IN_IGNORED comes raw too, with the watch's path.
      try watcher.unwatch(file)
      var ignored: [Raw] = []
      #expect(try watcher.blockingReadRaw { ignored.append(snapshot($0)) } == 1)
      #expect(ignored == [Raw(kinds: .ignored, directory: sub, name: "", cookie: 0)])
      // A raw event's name as a component.
      try touch(folder.appending("named"))
      var component: FilePath.Component?
      _ = try watcher.blockingReadRaw { component = $0.name }
      #expect(component == FilePath.Component("named"))
    }
  }

  @Test("raw reads: async, a closure that uses the watcher, a recursive watcher refused")
  func rawReadForms() async throws {
    try await withTemporaryFolderAsync { folder in
      let watcher = try FileWatcher()
      let watch = try watcher.watch(folder, for: .created)
      let writer = Task {
        try await Task.sleep(for: .milliseconds(50))
        let fd = open(folder.appending("late").string, O_CREAT | O_WRONLY | O_CLOEXEC, 0o644)
        close(fd)
      }
      let names = Mutex<[String]>([])
      let nested = Mutex<HinixError?>(nil)
      let passed = try await watcher.readRaw { event in
        names.withLock { $0.append(String(decoding: event.nameBytes, as: UTF8.self)) }
        // The watcher's state is not locked while the closure runs; a nested raw read is
        // refused rather than waiting for itself.
        _ = try? watcher.watch(folder, for: [.created, .deleted])
        let refusal = expectError(.invalidArgument) { try watcher.tryReadRaw { _ in } }
        nested.withLock { $0 = refusal }
      }
      try await writer.value
      #expect(passed == 1 && names.withLock { $0 } == ["late"])
      #expect(nested.withLock { $0 }?.detail.contains("inside a raw read's closure") == true)
      try watcher.unwatch(watch)
      // One reading style per watcher: a raw reader refuses decoded reads and recursive
      // watches; a decoded reader, or one with a recursive watch, refuses raw reads.
      let decoded = expectError(.invalidArgument) { try watcher.tryRead() }
      #expect(decoded?.detail.contains("raw events") == true)
      #expect(expectError(.invalidArgument) { try watcher.watchRecursively(folder) } != nil)
      let recursive = try FileWatcher()
      try recursive.watchRecursively(folder)
      let refused = expectError(.invalidArgument) { try recursive.tryReadRaw { _ in } }
      #expect(refused?.detail.contains("recursive") == true)
      #expect(refused?.operation == "read")
      let plain = try FileWatcher()
      try plain.watch(folder)
      _ = try plain.tryRead()
      #expect(expectError(.invalidArgument) { try plain.tryReadRaw { _ in } } != nil)
      // A refused recursive watch does not decide the style.
      let fresh = try FileWatcher()
      #expect(expectError(.notFound) { try fresh.watchRecursively(folder.appending("none")) } != nil)
      #expect(try fresh.tryReadRaw { _ in } == .wouldBlock)
    }
  }

  @Test("raw reads: a blocking raw read that waits does not hold up another reader's try")
  func rawReadWaitsOutsideTheLock() throws {
    try withTemporaryFolder { folder in
      let watcher = try FileWatcher()
      try watcher.watch(folder, for: .created)
      let names = Mutex<[String]>([])
      let waiting = Thread {
        _ = try watcher.blockingReadRaw { event in
          names.withLock { $0.append(String(decoding: event.nameBytes, as: UTF8.self)) }
        }
      }
      // While that thread waits in poll, a try form answers at once.
      usleep(50_000)
      #expect(try watcher.tryReadRaw { _ in } == .wouldBlock)
      #expect(!waiting.isFinished)
      try touch(folder.appending("wake"))
      try waiting.join()
      #expect(names.withLock { $0 } == ["wake"])
    }
  }

  @Test("raw reads: an overflow is an event with no watch")
  func rawOverflow() throws {
    try withTemporaryFolder { folder in
      guard let watcher = try withLimit("max_queued_events", 4, { try FileWatcher() }) else {
        print("skipped: this process may not write /proc/sys/fs/inotify/max_queued_events (it needs root)")
        return
      }
      try watcher.watch(folder, for: .created)
      for index in 0..<10 { try touch(folder.appending("f\(index)")) }
      var raws: [Raw] = []
      try readAllRaw(watcher, into: &raws)
      #expect(raws.count == 5, "\(raws)")
      #expect(raws.last == Raw(kinds: .overflow, directory: FilePath(), name: "", cookie: 0))
      #expect(raws.dropLast().allSatisfy { $0.kinds == .created && $0.directory == folder })
    }
  }

  /// The mask the kernel holds for watch `descriptor` of `watcher`, from its fdinfo line
  /// (`inotify wd:1 ino:… sdev:… mask:8 ignored_mask:0 …`, numbers in hexadecimal).
  private func kernelMask(_ watcher: FileWatcher, _ descriptor: Int32) throws -> UInt32? {
    let info = try readProcFile(FilePath("/proc/self/fdinfo/\(watcher.descriptor.rawValue)"))
    let prefix = "inotify wd:\(String(descriptor, radix: 16)) "
    guard let line = info.split(separator: "\n").first(where: { $0.hasPrefix(prefix) }),
      let field = line.split(separator: " ").first(where: { $0.hasPrefix("mask:") })
    else { return nil }
    return UInt32(field.dropFirst("mask:".count), radix: 16)
  }

  @Test("a folder has one watch per watcher: a tree refuses, and never takes over, another watch's folder")
  func overlappingWatches() throws {
    try withTemporaryFolder { folder in
      let tree = folder.appending("tree")
      let inner = tree.appending("inner")
      #expect(mkdir(tree.string, 0o755) == 0)
      #expect(mkdir(inner.string, 0o755) == 0)
      let watcher = try FileWatcher()
      let plain = try watcher.watch(inner, for: .closedAfterWriting)
      #expect(try kernelMask(watcher, plain.descriptor) == FileWatcher.Kinds.closedAfterWriting.rawValue)
      // A tree that would reach the plainly watched folder: refused, naming it; the plain
      // watch keeps the kernel's mask it had and is the only watch left.
      let refused = expectError(.alreadyExists) { try watcher.watchRecursively(tree, for: .created) }
      #expect(refused?.subject == inner.string)
      #expect(
        refused?.detail.contains("a watch of \(inner.string)") == true, "\(String(describing: refused))")
      #expect(try kernelMask(watcher, plain.descriptor) == FileWatcher.Kinds.closedAfterWriting.rawValue)
      #expect(watcher.watches.map(\.path) == [inner])
      try touch(inner.appending("f"))
      var events = try collect(watcher) { !$0.isEmpty }
      #expect(events.map(\.kinds) == [.closedAfterWriting] && events.first?.path == inner.appending("f"))
      // Unwatched by the user: its end is not reported.
      try watcher.unwatch(plain)
      #expect(try drain(watcher).isEmpty)

      // A plainly watched folder moved into a tree later stays its watch's: the tree reports
      // the move and the folder it could not take, and nothing from inside that folder.
      try watcher.watchRecursively(tree, for: [.created, .movedTo])
      let outside = folder.appending("outside")
      #expect(mkdir(outside.string, 0o755) == 0)
      let moved = try watcher.watch(outside, for: .closedAfterWriting)
      let arrived = tree.appending("moved")
      #expect(rename(outside.string, arrived.string) == 0)
      events = try collect(watcher) { $0.contains { $0.watchError != nil } }
      #expect(events.contains { $0.kinds == [.movedTo, .isDirectory] && $0.path == arrived }, "\(events)")
      let failure = events.first { $0.watchError != nil }
      #expect(failure?.path == arrived && failure?.watchError?.code == .alreadyExists, "\(events)")
      #expect(try kernelMask(watcher, moved.descriptor) == FileWatcher.Kinds.closedAfterWriting.rawValue)
      try touch(arrived.appending("g"))
      events = try collect(watcher) { !$0.isEmpty }
      // The plain watch's event, under the path it watched (inotify's plain watches do not
      // follow renames); no `created` from the tree.
      #expect(events.map(\.kinds) == [.closedAfterWriting] && events.first?.path == outside.appending("g"))
      #expect(try drain(watcher).isEmpty)
      // That plain watch unwatched, the tree takes the folder up.
      try watcher.unwatch(moved)
      #expect(try drain(watcher).isEmpty)
      try touch(arrived.appending("k"))
      events = try collect(watcher) { !$0.isEmpty }
      #expect(events.map(\.kinds) == [.created] && events.first?.path == arrived.appending("k"), "\(events)")
      // A second tree over the first: refused, and what it had watched goes again.
      let overlapping = expectError(.alreadyExists) { try watcher.watchRecursively(folder, for: .created) }
      #expect(overlapping?.detail.contains("the recursive watch of \(tree.string)") == true)
      #expect(Set(watcher.watches.map(\.path)) == [tree, inner, arrived])
      // A one-shot plain watch of a tree's folder through a link: refused, and the tree's
      // watch keeps its mask (not one-shot) and its events.
      let link = folder.appending("link")
      #expect(symlink(inner.string, link.string) == 0)
      let innerWatch = try #require(watcher.watches.first { $0.path == inner })
      let treeMask = try kernelMask(watcher, innerWatch.descriptor)
      expectError(.alreadyExists) { try watcher.watch(link, for: .closedAfterWriting, options: .oneShot) }
      #expect(try kernelMask(watcher, innerWatch.descriptor) == treeMask)
      for name in ["h", "i"] { try touch(inner.appending(name)) }
      events = try collect(watcher) { $0.filter { $0.kinds == .created }.count >= 2 }
      #expect(
        events.filter { $0.kinds == .created }.map(\.path) == [inner.appending("h"), inner.appending("i")],
        "\(events)")
    }
  }

  @Test("refusals name the path and the limit")
  func refusals() throws {
    try withTemporaryFolder { folder in
      let watcher = try FileWatcher()
      let missing = expectError(.notFound) { try watcher.watch(folder.appending("nope")) }
      #expect(missing?.subject == folder.appending("nope").string)
      expectError(.invalidArgument) { try watcher.watch(folder, for: []) }
      try touch(folder.appending("file"))
      let notFolder = expectError(.invalidArgument) { try watcher.watchRecursively(folder.appending("file")) }
      #expect(notFolder?.detail == "not a directory")
      expectError(.invalidArgument) { try watcher.watch(folder.appending("file"), options: .onlyDirectory) }
      // The watch limit, in a peer in a user namespace of its own, whose limit is its own: no
      // other process is affected.
      #expect(chmod(folder.string, 0o755) == 0)
      for index in 0..<3 { #expect(mkdir(folder.appending("\(index)").string, 0o755) == 0) }
      let output = try run("hinix-test-peer", ["inotify-watches-in-namespace", folder.string, "3", "2"])
      if output.termination != .exited(0) {
        print("skipped the watch-limit check: \(output.standardError) (user namespaces unavailable)")
        return
      }
      let limit = try readProcFile("/proc/sys/fs/inotify/max_user_watches").trimmingWhitespace()
      #expect(
        output.standardOutput
          == "limitExceeded: the per-user limit of inotify watches (/proc/sys/fs/inotify/max_user_watches = "
          + "\(limit); in this user namespace /proc/sys/user/max_inotify_watches = 2) is reached\n")
    }
  }

  @Test("unmounting a watched filesystem: UNMOUNT, then the watch is reported gone")
  func unmount() throws {
    try withTemporaryFolder { folder in
      let point = folder.appending("mnt")
      #expect(mkdir(point.string, 0o755) == 0)
      guard Glibc.mount("hinix-test", point.string, "tmpfs", 0, nil) == 0 else {
        print("skipped: mounting a tmpfs needs CAP_SYS_ADMIN, which this process lacks")
        return
      }
      let watcher = try FileWatcher()
      let watch = try watcher.watch(point, for: .created)
      #expect(umount2(point.string, 0) == 0)
      let events = try collect(watcher) { $0.contains { $0.kinds.contains(.ignored) } }
      #expect(events.map(\.kinds) == [[.unmounted, .isDirectory], .ignored])
      #expect(events.allSatisfy { $0.path == point })
      #expect(!watcher.watches.contains(watch))
    }
  }

  @Test("names short, at the inline limit, long and not UTF-8 come back byte for byte")
  func nameLengths() throws {
    try withTemporaryFolder { folder in
      let watcher = try FileWatcher()
      try watcher.watch(folder, for: .created)
      let names = [
        "a", String(repeating: "b", count: EntryName.inlineCapacity),
        String(repeating: "c", count: EntryName.inlineCapacity + 1), String(repeating: "d", count: 255),
      ].map { FilePath.Component($0)! }
      // 0xFF is no UTF-8: a String of it would be lossy, the component keeps the byte.
      let raw = FilePath.Component(platformString: [CChar(bitPattern: 0xFF), 0x65, 0])!
      for name in names + [raw] { try touch(folder.appending(name)) }
      let events = try collect(watcher) { $0.count >= names.count + 1 }
      #expect(events.map(\.name) == (names + [raw]).map { Optional($0) })
      #expect(events.map(\.path) == (names + [raw]).map { folder.appending($0) })
      // Equal events hash alike, whether the name was read or set.
      var copy = events[1]
      copy.name = names[1]
      #expect(copy == events[1] && copy.hashValue == events[1].hashValue)
      copy.name = names[0]
      #expect(copy != events[1])
    }
  }

  @Test("kind names parse as inotifywait's do")
  func names() {
    #expect(FileWatcher.Kinds(name: "create") == .created)
    #expect(FileWatcher.Kinds(name: "CLOSE") == .closed)
    #expect(FileWatcher.Kinds(name: "move") == .moved)
    #expect(FileWatcher.Kinds(name: "all_events") == .all)
    #expect(FileWatcher.Kinds(name: "bogus") == nil)
    #expect("\(FileWatcher.Kinds([.created, .isDirectory]))" == "CREATE,ISDIR")
  }
}
