import Glibc
import SystemPackage
import Testing

@testable import Hinix

/// Whether this process may create a fanotify group that needs CAP_SYS_ADMIN (root here).
private let privileged: Bool = (try? Fanotify(class: .content)) != nil

/// fanotify across processes: the events another process causes, with its pid; permission
/// events answered, and the fail-safe when they are not; what an unprivileged process may do.
@Suite("fanotify", .serialized, .timeLimit(.minutes(1)))
struct FanotifyTests {
  private func collect(_ group: Fanotify, until done: ([Fanotify.Event]) -> Bool) throws -> [Fanotify.Event] {
    var events: [Fanotify.Event] = []
    let deadline = Deadline.Instant.after(.seconds(10))
    while !done(events), deadline.remaining > .zero {
      if case .completed(let batch) = try group.blockingRead(timeout: .milliseconds(100)) { events += batch }
    }
    return events
  }

  @Test(
    "another process's open and write: its pid, an open descriptor and the path read back",
    .enabled(if: privileged, "needs CAP_SYS_ADMIN, which this process lacks"))
  func descriptorEvents() throws {
    try withTemporaryFolder { folder in
      let group = try Fanotify()
      try group.mark(folder, for: [.opened, .closedAfterWriting], options: .eventsOnChildren)
      let file = folder.appending("f")
      let peer = try spawnPeer(["write-file", file.string, "hello"])
      #expect(try peer.blockingWait() == .exited(0))
      let events = try collect(group) { $0.contains { $0.kinds.contains(.closedAfterWriting) } }
      let closed = try #require(events.first { $0.kinds.contains(.closedAfterWriting) })
      #expect(closed.pid == peer.pid)
      #expect(closed.path == file)
      // The descriptor is this process's own, open on the file.
      let descriptor = try #require(closed.file?.descriptor)
      var bytes = [UInt8](repeating: 0, count: 5)
      let count = try bytes.withUnsafeMutableBytes { try descriptor.read(fromAbsoluteOffset: 0, into: $0) }
      #expect(bytes[..<count] == Array("hello".utf8)[...])
      #expect(events.contains { $0.kinds.contains(.opened) && $0.pid == peer.pid })
      // fanotify merges events on one file still queued: here the open and the close.
      #expect(["CLOSE_WRITE", "CLOSE_WRITE,OPEN"].contains("\(closed.kinds)"), "\(closed.kinds)")
    }
  }

  @Test(
    "file ids: a creation in a marked folder carries the folder's id and the name, and no descriptor",
    .enabled(if: privileged, "needs CAP_SYS_ADMIN, which this process lacks"))
  func fileIDEvents() throws {
    try withTemporaryFolder { folder in
      let group = try Fanotify(reportFileIDs: true)
      try group.mark(folder, for: [.created, .deleted], options: [.eventsOnChildren, .onDirectories])
      let peer = try spawnPeer(["write-file", folder.appending("new").string, "x"])
      #expect(try peer.blockingWait() == .exited(0))
      #expect(mkdir(folder.appending("sub").string, 0o755) == 0)
      let events = try collect(group) { $0.count >= 2 }
      #expect(events.count == 2, "\(events.map(\.kinds))")
      guard events.count == 2 else { return }
      #expect(events[0].kinds == .created && events[0].name == "new" && events[0].pid == peer.pid)
      #expect(events[0].file == nil && events[0].directoryID != nil)
      #expect(
        events[1].kinds == [.created, .isDirectory] && events[1].name == "sub" && events[1].pid == getpid())
      #expect(events[0].directoryID == events[1].directoryID)
    }
  }

  @Test(
    "permission events: a denied open fails in the other process, an allowed one succeeds",
    .enabled(if: privileged, "needs CAP_SYS_ADMIN, which this process lacks"))
  func permissions() async throws {
    try await withTemporaryFolderAsync { folder in
      let file = folder.appending("guarded")
      close(open(file.string, O_CREAT | O_WRONLY | O_CLOEXEC, 0o644))
      let group = try Fanotify(class: .content)
      try group.mark(file, for: .openPermission)
      for answer in [Fanotify.Answer.deny, .allow] {
        let (peer, lines) = try spawnPeerWithLines(["open-file", file.string])
        var events = group.events.makeAsyncIterator()
        let event = try #require(try await events.next())
        #expect(event.kinds == .openPermission && event.pid == peer.pid && event.path == file)
        let request = try #require(event.permission)
        try request.respond(answer)
        #expect(request.isAnswered)
        let again = expectError(.invalidArgument) { try request.respond(.allow) }
        #expect(again?.detail == "this permission request was answered already")
        let line = try await lines.next() ?? ""
        #expect(answer == .deny ? line.hasPrefix("refused: ") : line == "opened", "\(line)")
        #expect(try await peer.wait() == .exited(0))
      }
    }
  }

  @Test(
    "the fail-safe: an unanswered request gets the default answer when released or when its time runs out",
    .enabled(if: privileged, "needs CAP_SYS_ADMIN, which this process lacks"))
  func failSafe() async throws {
    try await withTemporaryFolderAsync { folder in
      let file = folder.appending("guarded")
      close(open(file.string, O_CREAT | O_WRONLY | O_CLOEXEC, 0o644))
      // Released unanswered: the default (deny) goes at once.
      do {
        let group = try Fanotify(class: .content, defaultAnswer: .deny, permissionTimeout: .seconds(30))
        try group.mark(file, for: .openPermission)
        let (peer, lines) = try spawnPeerWithLines(["open-file", file.string])
        // Well before the 30 s timeout.
        let limit = Deadline.Instant.after(.seconds(10))
        do {
          var events = group.events.makeAsyncIterator()
          let event = try #require(try await events.next())
          #expect(event.permission?.isAnswered == false)
        }
        let line = try await lines.next() ?? ""
        #expect(line.hasPrefix("refused: "), "\(line)")
        #expect(limit.remaining > .zero)
        #expect(try await peer.wait() == .exited(0))
      }
      // Held but never answered: the default (allow) goes after the timeout.
      let group = try Fanotify(class: .content, defaultAnswer: .allow, permissionTimeout: .milliseconds(200))
      try group.mark(file, for: .openPermission)
      let (peer, lines) = try spawnPeerWithLines(["open-file", file.string])
      var events = group.events.makeAsyncIterator()
      let held = try #require(try await events.next())
      let request = try #require(held.permission)
      #expect(try await lines.next() == "opened")
      #expect(request.isAnswered)
      #expect(try await peer.wait() == .exited(0))
    }
  }

  @Test(
    "mount and filesystem marks report a file anywhere on them",
    .enabled(if: privileged, "needs CAP_SYS_ADMIN, which this process lacks"))
  func wideMarks() throws {
    try withTemporaryFolder { folder in
      for scope in [Fanotify.Scope.mount, .filesystem] {
        let group = try Fanotify()
        try group.mark(folder, for: .closedAfterWriting, scope: scope)
        let file = folder.appending("wide-\(scope)")
        let peer = try spawnPeer(["write-file", file.string, "x"])
        #expect(try peer.blockingWait() == .exited(0))
        let events = try collect(group) { $0.contains { $0.path == file } }
        #expect(events.contains { $0.path == file && $0.pid == peer.pid }, "\(scope)")
        try group.unmark(folder, for: .closedAfterWriting, scope: scope)
      }
    }
  }

  @Test("refusals: each error names what is missing")
  func refusals() throws {
    expectError(.invalidArgument) { _ = try Fanotify(permissionTimeout: .zero) }
    guard privileged else {
      print("skipped: the privileged refusals need CAP_SYS_ADMIN")
      return
    }
    try withTemporaryFolder { folder in
      let group = try Fanotify()
      let permission = expectError(.invalidArgument) { try group.mark(folder, for: .openPermission) }
      #expect(permission?.detail.contains("permission kinds need a .content group") == true)
      let entries = expectError(.invalidArgument) { try group.mark(folder, for: .created) }
      #expect(entries?.detail.contains("need reportFileIDs") == true)
      let missing = expectError(.notFound) { try group.mark(folder.appending("nope"), for: .opened) }
      #expect(missing?.subject == folder.appending("nope").string)
      expectError(.invalidArgument) { try group.mark(folder, for: []) }
      // What a process without CAP_SYS_ADMIN may do, and what it is told.
      #expect(chmod(folder.string, 0o755) == 0)
      let output = try run("hinix-test-peer", ["fanotify-as-nobody", folder.string])
      #expect(output.termination == .exited(0), "\(output.standardError)")
      let lines = output.standardOutput.split(separator: "\n").map(String.init)
      #expect(lines.count == 3, "\(lines)")
      guard lines.count == 3 else { return }
      #expect(lines[0].hasPrefix("permissionDenied: fanotify needs CAP_SYS_ADMIN"))
      #expect(lines[0].contains("only a .notification group with reportFileIDs and .inode marks"))
      #expect(lines[1] == "inode mark made")
      #expect(lines[2].hasPrefix("permissionDenied: a mount mark needs CAP_SYS_ADMIN"), "\(lines[2])")
    }
  }
}
