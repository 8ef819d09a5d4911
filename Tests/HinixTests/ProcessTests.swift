import Glibc
import SystemPackage
import Testing

@testable import Hinix

/// The signal mask and ignored set of process `pid`, from `/proc/PID/status`.
private func signalMasks(of pid: pid_t) throws -> (blocked: UInt64, ignored: UInt64) {
  let status = try readProcFile(FilePath("/proc/\(pid)/status"))
  func field(_ name: String) -> UInt64 {
    let line = status.split(separator: "\n").first { $0.hasPrefix(name + ":") } ?? ""
    return UInt64(line.dropFirst(name.count + 1).trimmingWhitespace(), radix: 16) ?? .max
  }
  return (field("SigBlk"), field("SigIgn"))
}

/// Child processes and pidfds, across real processes.
@Suite("Processes and pidfds", .timeLimit(.minutes(1)))
struct ProcessTests {
  @Test("a child starts with no signal blocked and none ignored, whatever its parent does")
  func childStartsClean() throws {
    let (child, masks) = try withProcessWideState {
      // SIGTTOU: a signal no test of this process watches, so changing it disturbs none.
      let old = signal(SIGTTOU, SIG_IGN)
      defer { signal(SIGTTOU, old) }
      var block = sigset_t()
      sigemptyset(&block)
      sigaddset(&block, SIGUSR2)
      var before = sigset_t()
      pthread_sigmask(SIG_BLOCK, &block, &before)
      defer { pthread_sigmask(SIG_SETMASK, &before, nil) }
      #expect(try signalMasks(of: getpid()).ignored & (1 << UInt64(SIGTTOU - 1)) != 0)
      let child = try spawnPeer(["sleep", "30"])
      return (child, try waitForExec(child))
    }
    #expect(masks.blocked == 0)
    // Nothing ignored: not the parent's SIGTTOU, nor the SIGPIPE Hinix ignores in this process.
    #expect(masks.ignored == 0)
    try child.kill()
    #expect(try child.blockingWait() == .signalled(SIGTERM))
  }

  /// The masks of `child` once it runs the test peer (before exec they are the parent's).
  private func waitForExec(_ child: ChildProcess) throws -> (blocked: UInt64, ignored: UInt64) {
    for _ in 0..<200 {
      let command = (try? readProcFile(FilePath("/proc/\(child.pid)/comm"))) ?? ""
      if command.hasPrefix("hinix-test-pee") { return try signalMasks(of: child.pid) }
      usleep(5_000)
    }
    throw HinixError(.timedOut, operation: "exec", subject: "pid \(child.pid)", detail: "never ran the peer")
  }

  @Test("a failed exec is an error even in a process started with its standard streams closed")
  func failedExecWithStandardStreamsClosed() throws {
    // The spawn's report pipe gets descriptors 0 and 1: before the fix the report's write end
    // was 1, replaced by the mapping, and the errno went into the program's standard output as
    // 4 bytes while the spawn returned a pid.
    let output = try run("hinix-test-peer", ["spawn-missing"])
    #expect(output.termination == .exited(0), "\(output.standardError)")
    #expect(output.standardError == "notFound 0 bytes\n")
  }

  @Test("a child of a process with standard error closed does not inherit the spawn's report pipe there")
  func standardErrorClosedInParent() throws {
    // The report pipe's write end took descriptor 2; had the child kept it, its 4 bytes on
    // standard error would have read as an errno in the parent and failed the spawn.
    let output = try run("hinix-test-peer", ["spawn-with-stderr-closed"])
    #expect(output.termination == .exited(0))
    #expect(output.standardOutput.hasPrefix("started, exit status"), "\(output.standardOutput)")
  }

  @Test("a child inherits only the descriptors it is passed, unless asked for the unmarked ones too")
  func onlyPassedDescriptorsAreInherited() throws {
    // A descriptor without close-on-exec, as code that is not Hinix opens them.
    let unmarked = dup(1)
    #expect(unmarked > 2)
    defer { close(unmarked) }
    let (reader, writer) = try Pipe.create()
    let passedOnly = try spawnPeer(["list-descriptors"], passing: [writer.descriptor: 1])
    let inheritingAll = try ChildProcess.spawn(
      FilePath("\(productsFolder)/hinix-test-peer"), arguments: ["list-descriptors"],
      passing: [writer.descriptor: 1], inheriting: .passedAndUnmarked)
    _ = consume writer
    #expect(try passedOnly.blockingWait() == .exited(0))
    #expect(try inheritingAll.blockingWait() == .exited(0))
    var text: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
      let count = try buffer.withUnsafeMutableBytes { (bytes) throws(HinixError) in
        try reader.blockingRead(into: bytes)
      }
      if count == 0 { break }
      text += buffer[..<count]
    }
    let lines = String(decoding: text, as: UTF8.self).split(separator: "\n").map(String.init)
    // The two children's lists, in either order: one has the unmarked descriptor, one does not.
    let withUnmarked = lines.filter { $0 == "\(unmarked)" }.count
    #expect(withUnmarked == 1, "\(lines)")
    #expect(lines.filter { $0 == "1" }.count == 2, "\(lines)")
  }

  @Test("waiting: timed out while it runs, then its termination; cancelling can kill and reap it")
  func waitForms() async throws {
    let child = try spawnPeer(["sleep", "30"])
    #expect(try blockingSetup { try child.blockingWait(timeout: .milliseconds(30)) } == .timedOut)
    #expect(try child.tryWait() == .wouldBlock)
    #expect(try child.process.tryWaitForExit() == .wouldBlock)
    try child.kill()
    try await child.process.waitForExit()
    #expect(try child.tryWait() == .completed(.signalled(SIGTERM)))

    // Cancelled with .send(.kill): the child gets SIGKILL and is reaped, so its pid is gone.
    let sleeper = try spawnPeer(["sleep", "30"])
    let waiting = Task { try await sleeper.wait(onCancellation: .send(.kill)) }
    try await Task.sleep(for: .milliseconds(20))
    waiting.cancel()
    await #expect(throws: CancellationError.self) { _ = try await waiting.value }
    var reaped = false
    for _ in 0..<400 where !reaped {
      reaped = kill(sleeper.pid, 0) != 0
      if !reaped { try await Task.sleep(for: .milliseconds(5)) }
    }
    #expect(reaped, "the killed child was reaped")
  }

  @Test("a child's wait never reaps another child")
  func waitReapsOnlyItsOwnChild() async throws {
    let long = try spawnPeer(["sleep", "30"])
    let short = try spawnPeer(["sleep", "0"])
    try await short.process.waitForExit()
    // The other child has exited and is unreaped; waiting on the long one must not take it.
    #expect(try long.tryWait() == .wouldBlock)
    #expect(try short.tryWait() == .completed(.exited(0)))
    try long.kill(.kill)
    #expect(try await long.wait() == .signalled(SIGKILL))
  }

  @Test("a pidfd signals with a value, and lends a duplicate of the process's descriptor")
  func pidfdSignalsAndDuplicates() async throws {
    let (child, lines) = try spawnPeerWithLines(["signal-watch-once", "USR1"])
    #expect(try await lines.next() == "ready")
    let process = try ProcessDescriptor(opening: child.pid)
    #expect(process.pid == child.pid)
    try process.send(.user1, value: 5)
    #expect(try await lines.next() == "got SIGUSR1 from \(getpid())")
    #expect(try await lines.next() == "restored defaultAction")
    try process.send(.terminate)
    #expect(try await child.wait() == .signalled(SIGTERM))
    let gone = expectError(.notFound) { try process.send(.terminate) }
    #expect(gone?.description == "pidfd_send_signal(\"pid \(child.pid)\"): no such process for SIGTERM")

    // The child's descriptor 3 is the writing end of this pipe: a duplicate of it writes into it.
    let (reader, writer) = try Pipe.create()
    let holder = try spawnPeer(
      ["pipe-write-after", "300", "from the child"], passing: [writer.descriptor: 3])
    let borrowed = try holder.process.duplicateDescriptor(3)
    try await PipeWriter(adopting: borrowed.release()).write("borrowed ")
    let missing = expectError(.notFound) { _ = try holder.process.duplicateDescriptor(999) }
    #expect(missing?.detail == "the process has no descriptor 999")
    _ = consume writer
    #expect(try await holder.wait() == .exited(0))
    var text: [UInt8] = []
    while case let chunk = try await reader.read(upTo: 64), !chunk.isEmpty { text += chunk }
    #expect(String(decoding: text, as: UTF8.self) == "borrowed from the child")
  }

  @Test("the SIGCHLD reaper reports every one of 50 children that exit at once, though signals coalesce")
  func reaperReapsEveryChild() async throws {
    let reaper = try ChildReaper()
    var expected: [pid_t: ChildProcess.Termination] = [:]
    for index in 0..<50 {
      let child = try reaper.spawn(
        FilePath("\(productsFolder)/hinix-test-peer"), arguments: ["exit-with", "\(index % 7)"])
      expected[child.pid] = .exited(Int32(index % 7))
    }
    var ended: [pid_t: ChildProcess.Termination] = [:]
    for try await (child, termination) in reaper {
      #expect(ended[child.pid] == nil, "reported twice")
      ended[child.pid] = termination
    }
    #expect(ended == expected)
    #expect(reaper.running.isEmpty)
  }

  @Test(
    "without permission, signalling and borrowing fail with errors that name the uid and ptrace",
    .enabled(if: getuid() == 0, "the peer drops to uid 65534, which needs root"))
  func permissionErrors() async throws {
    let target = try spawnPeer(["sleep", "30"])
    let (child, lines) = try spawnPeerWithLines(["as-nobody-signal-and-borrow", "\(target.pid)"])
    #expect(
      try await lines.next()
        == "permissionDenied: uid 65534 may not send SIGUSR1 there (not its owner, no CAP_KILL)")
    let borrow = try await lines.next() ?? ""
    #expect(borrow.hasPrefix("permissionDenied: uid 65534 may not ptrace the process"), "\(borrow)")
    #expect(try await child.wait() == .exited(0))
    try target.kill()
    #expect(try await target.wait() == .signalled(SIGTERM))
  }

  @Test("opening and adopting refuse what is not a process")
  func refusals() throws {
    expectError(.notFound) { _ = try ProcessDescriptor(opening: Int32.max) }
    expectError(.invalidArgument) { _ = try ProcessDescriptor(opening: 0) }
    let (reader, _) = try Pipe.create()
    let error = expectError(.incompatible) {
      _ = try ProcessDescriptor(adopting: try reader.descriptor.duplicate())
    }
    #expect(error?.detail.contains("not a pidfd") == true)
    let own = try ProcessDescriptor(opening: getpid())
    let adopted = try ProcessDescriptor(adopting: try own.descriptor.duplicate())
    #expect(adopted.pid == getpid())
    #expect(try !adopted.hasExited)
  }
}
