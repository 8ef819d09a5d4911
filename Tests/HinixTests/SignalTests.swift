import Glibc
import SystemPackage
import Testing

@testable import Hinix

/// Lines a child process writes to the pipe it got as standard output.
final class ChildLines {
  private let reader: PipeReader
  private var pending: [UInt8] = []

  init(_ reader: PipeReader) {
    self.reader = reader
  }

  /// The next line, without its newline; nil at the end of the output.
  func next() async throws -> String? {
    while true {
      if let end = pending.firstIndex(of: UInt8(ascii: "\n")) {
        defer { pending.removeSubrange(...end) }
        return String(decoding: pending[..<end], as: UTF8.self)
      }
      let chunk = try await reader.read(upTo: 256)
      if chunk.isEmpty { return nil }
      pending += chunk
    }
  }
}

/// Spawns the test peer with its standard output on a pipe this process reads by lines.
func spawnPeerWithLines(_ arguments: [String]) throws -> (ChildProcess, ChildLines) {
  let (reader, writer) = try Pipe.create()
  let child = try spawnPeer(arguments, passing: [writer.descriptor: 1])
  return (child, ChildLines(reader))
}

/// Signals watched in this multi-threaded test process, and in peers whose dispositions the
/// tests check. Serialized: the watched signals' dispositions are the whole process's.
@Suite("Signals", .serialized, .timeLimit(.minutes(1)))
struct SignalTests {
  @Test("a child's sigqueue arrives with its pid, uid, code and value")
  func sigqueueFromAChild() async throws {
    let watcher = try SignalWatcher([.user1])
    let child = try spawnPeer(["signal-queue", "\(getpid())", "USR1", "42", "1"])
    var deliveries = watcher.makeAsyncIterator()
    let delivery = try #require(await deliveries.next())
    #expect(delivery.signal == .user1)
    #expect(delivery.code == .queue)
    #expect(delivery.senderPID == child.pid)
    #expect(delivery.senderUID == getuid())
    #expect(delivery.value == 42)
    #expect(delivery.lostBefore == 0)
    #expect(delivery.description.contains("SIGUSR1 from pid \(child.pid)"))
    #expect(try await child.wait() == .exited(0))
  }

  @Test("10,000 real-time signals from another process arrive complete and in order")
  func realtimeBurst() async throws {
    let signal = try #require(Signal.realtime(1))
    let watcher = try SignalWatcher([signal])
    let child = try spawnPeer(["signal-queue", "\(getpid())", signal.name, "0", "10000"])
    var values: [Int] = []
    var lost = 0
    for await delivery in watcher {
      values.append(delivery.value)
      lost += delivery.lostBefore
      if values.count + lost == 10_000 { break }
    }
    #expect(lost == 0)
    // Compared without printing 10,000 numbers when it fails.
    let complete = values == Array(0..<10_000)
    #expect(complete, "\(values.count) values, \(lost) lost")
    #expect(try await child.wait() == .exited(0))
  }

  @Test("a burst of a standard signal coalesces in the kernel; what arrives is counted, none is invented")
  func standardBurstCoalesces() async throws {
    let sentinel = try #require(Signal.realtime(2))
    let watcher = try SignalWatcher([.user2, sentinel])
    let child = try spawnPeer(["signal-kill", "\(getpid())", "USR2", "1000"])
    #expect(try await child.wait() == .exited(0))
    // Standard signals are delivered before real-time ones: once the sentinel is here, every
    // SIGUSR2 the kernel kept has been too.
    try sentinel.send(to: getpid(), value: 1)
    var arrived = 0
    var lost = 0
    for await delivery in watcher {
      if delivery.signal == sentinel { break }
      arrived += 1
      lost += delivery.lostBefore
    }
    #expect(arrived >= 1 && arrived + lost <= 1000, "\(arrived) arrived, \(lost) reported lost")
  }

  @Test("when the last watcher ends, the disposition before is restored exactly")
  func dispositionRestoredInThisProcess() throws {
    let old = signal(SIGUSR2, SIG_IGN)
    defer { signal(SIGUSR2, old) }
    #expect(try SignalWatcher.previousDisposition(of: .user2) == .ignored)
    let first = try SignalWatcher([.user2])
    let second = try SignalWatcher([.user2, .user1])
    var current = sigaction()
    sigaction(SIGUSR2, nil, &current)
    #expect(current.sa_flags & SA_SIGINFO != 0, "Hinix's handler is installed")
    #expect(try SignalWatcher.previousDisposition(of: .user2) == .ignored)
    first.cancel()
    sigaction(SIGUSR2, nil, &current)
    #expect(current.sa_flags & SA_SIGINFO != 0, "one watcher remains")
    second.cancel()
    sigaction(SIGUSR2, nil, &current)
    #expect(current.sa_flags & SA_SIGINFO == 0)
    // With no handler of Hinix's installed, this reads the disposition in force now.
    #expect(try SignalWatcher.previousDisposition(of: .user2) == .ignored)
    #expect(try SignalWatcher.previousDisposition(of: .user1) == .defaultAction)
  }

  @Test("after a watcher ends, a second Ctrl-C kills the process again")
  func secondInterruptKillsAfterTheWatcherEnds() async throws {
    #expect(try await interruptTwice(["INT"], between: ["restored defaultAction"]) == .signalled(SIGINT))
  }

  @Test("with escalation, a second Ctrl-C ends a stuck program")
  func escalationEndsAStuckProgram() async throws {
    #expect(try await interruptTwice(["INT", "5000"], between: []) == .signalled(SIGINT))
  }

  @Test("escalation ends a stuck program that is PID 1 of a pid namespace, where raise is ignored")
  func escalationAsPIDOne() async throws {
    // As PID 1 of a namespace (a container without an init) the peer ignores every signal left
    // at its default action that comes from inside: the escalation's raise returned, and the
    // program went on with SIGINT dropped.
    let (reader, writer) = try Pipe.create()
    guard access("/usr/bin/unshare", X_OK) == 0 else {
      print("skipped: no /usr/bin/unshare on this machine")
      return
    }
    let unshare = try ChildProcess.spawn(
      "/usr/bin/unshare",
      arguments: [
        "--user", "--pid", "--fork", "\(productsFolder)/hinix-test-peer", "signal-watch-once", "INT", "5000",
      ],
      passing: [writer.descriptor: 1])
    _ = consume writer
    let lines = ChildLines(reader)
    guard let first = try await lines.next(), first == "ready" else {
      let ended = try await unshare.wait()
      print("skipped: unshare --user --pid cannot run here (\(ended))")
      return
    }
    // The peer is unshare's one child; in this namespace it has an ordinary pid.
    let children = try readProcFile(FilePath("/proc/\(unshare.pid)/task/\(unshare.pid)/children"))
    let peer = try #require(pid_t(children.trimmingWhitespace()))
    try Signal.interrupt.send(to: peer)
    #expect(try await lines.next()?.hasPrefix("got SIGINT") == true)
    try Signal.interrupt.send(to: peer)
    let ended = try blockingSetup { try unshare.blockingWait(timeout: .seconds(20)) }
    if ended == .timedOut { try Signal.kill.send(to: peer) }
    #expect(ended == .completed(.exited(128 + SIGINT)))
  }

  @Test(
    "a fault the kernel raises ends a process that watches the signal; a sent one is delivered",
    arguments: ["trap", "SEGV"])
  func faultsAreNotWatched(fault: String) async throws {
    let (child, lines) = try spawnPeerWithLines(["trap-while-watching", fault])
    #expect(try await lines.next() == "ready")
    // A Swift trap raises SIGILL on x86_64, SIGTRAP on arm64.
    let trap: Int32
    #if arch(x86_64)
      trap = SIGILL
    #else
      trap = SIGTRAP
    #endif
    let number = try #require(Signal(rawValue: fault == "SEGV" ? SIGSEGV : trap))
    try number.send(to: child.pid)
    #expect(try await lines.next() == "got \(number) from \(getpid())")
    // Before the fix the handler returned and the faulting instruction ran again, forever.
    let ended = try blockingSetup { try child.blockingWait(timeout: .seconds(30)) }
    if ended == .timedOut { try child.kill(.kill) }
    #expect(ended == .completed(.signalled(number.rawValue)))
  }

  @Test(
    "cancelling one task that iterates a watcher ends that iteration only; another task still gets deliveries"
  )
  func cancellingOneIteration() async throws {
    let watcher = try SignalWatcher([.user2])
    let cancelled = Task {
      var deliveries = watcher.makeAsyncIterator()
      return await deliveries.next()
    }
    while watcher.mailbox.waiting < 1 { await Task.yield() }
    cancelled.cancel()
    #expect(await cancelled.value == nil)
    try Signal.user2.send(to: getpid(), value: 5)
    var deliveries = watcher.makeAsyncIterator()
    let delivery = await deliveries.next()
    #expect(delivery?.signal == .user2, "the cancelled task's iteration used to end the watcher")
    #expect(delivery?.value == 5)
  }

  @Test("a SIGCHLD carries the child's status in its own field, no value, and a readable code")
  func childSignalStatus() throws {
    let output = try run("hinix-test-peer", ["sigchld-status"])
    #expect(output.termination == .exited(0), "\(output.standardError)")
    let lines = output.standardOutput.split(separator: "\n").map(String.init)
    // The status used to show as the sigqueue value, and the code as "code 1".
    #expect(lines.first == "status 7 value 0 code exited", "\(lines)")
    #expect(lines.dropFirst().first?.hasSuffix(", exited, exit status 7") == true, "\(lines)")
    #expect(lines.last == "exit status 7", "\(lines)")
    #expect("\(SignalInfo.Code(rawValue: 1))" == "code 1")
  }

  @Test("the broken-pipe policy and a SIGPIPE watcher's install and restore never lose the policy")
  func brokenPipePolicyRace() throws {
    // In a peer: the race changes SIGPIPE's disposition, which this process's tests rely on.
    let output = try run("hinix-test-peer", ["sigpipe-policy-race", "20000"])
    #expect(output.termination == .exited(0), "\(output.standardError)")
    #expect(output.standardOutput == "lost 0\n")
  }

  /// Starts the watch-once peer with `arguments`, interrupts it, checks that it reports the
  /// delivery and then the lines `between`, interrupts it again, and returns how it ended.
  private func interruptTwice(_ arguments: [String], between: [String]) async throws
    -> ChildProcess.Termination
  {
    let (child, lines) = try spawnPeerWithLines(["signal-watch-once"] + arguments)
    #expect(try await lines.next() == "ready")
    try Signal.interrupt.send(to: child.pid)
    #expect(try await lines.next() == "got SIGINT from \(getpid())")
    for line in between { #expect(try await lines.next() == line) }
    try Signal.interrupt.send(to: child.pid)
    return try await child.wait()
  }

  @Test("a signalfd in a process that blocks the signal reads each delivery with its sender and value")
  func signalFDInAProcessThatBlocks() async throws {
    let (child, lines) = try spawnPeerWithLines(["signalfd-read", "USR2", "2"])
    #expect(try await lines.next() == "ready")
    try Signal.user2.send(to: child.pid, value: 7)
    #expect(try await lines.next() == "got SIGUSR2 from \(getpid()) value 7")
    try Signal.user2.send(to: child.pid, value: 8)
    #expect(try await lines.next() == "got SIGUSR2 from \(getpid()) value 8")
    #expect(try await child.wait() == .exited(0))
  }

  @Test("a signalfd in this process, whose pool threads take signals, is refused with the threads named")
  func signalFDRefusedWhereThreadsTakeTheSignal() async throws {
    let open = try SignalFD.threadsNotBlocking([.user2])
    #expect(!open.isEmpty)
    let error = expectError(.invalidArgument) { _ = try SignalFD([.user2]) }
    #expect(error?.detail.contains("do not block these signals") == true)
    #expect(error?.detail.contains("\(open[0].id)") == true)
    // Created anyway, it sees a signal pending for this thread only while blocked here. A
    // watcher catches the signal should it ever be unblocked unread, so it cannot kill the run.
    let safety = try SignalWatcher([.user2])
    defer { safety.cancel() }
    let reader = try SignalFD([.user2], requireBlocked: false)
    let before = try blockingSetup { try ThreadSignalMask.block([.user2]) }
    defer { blockingSetup { _ = try? ThreadSignalMask.set(before) } }
    #expect(try ThreadSignalMask.current.contains(.user2))
    #expect(try reader.tryRead() == .wouldBlock)
    try Signal.user2.raise()
    #expect(try ThreadSignalMask.pending.contains(.user2))
    let info = try #require(try reader.tryRead().value)
    #expect(info.signal == .user2 && info.code == .threadKill && info.senderPID == getpid())
    expectError(.invalidArgument) { _ = try SignalFD([]) }
  }

  @Test("names parse as kill -l spells them; bad ones and uncatchable signals are refused")
  func namesAndRefusals() throws {
    #expect(Signal(parsing: "INT") == .interrupt)
    #expect(Signal(parsing: "sigterm") == .terminate)
    #expect(Signal(parsing: "9") == .kill)
    #expect(Signal(parsing: "RTMIN+3") == Signal.realtime(3))
    #expect(Signal(parsing: "RTMAX") == Signal(rawValue: Sys.highestRealtimeSignal))
    #expect(Signal(parsing: "RTMAX-1")?.isRealtime == true)
    #expect(Signal(parsing: "NOPE") == nil)
    #expect(Signal(parsing: "65") == nil)
    #expect(Signal.realtime(1)?.description == "SIGRTMIN+1")
    #expect(Signal.interrupt.description == "SIGINT")
    #expect(SignalSet([.terminate, .interrupt]).description == "[SIGINT, SIGTERM]")
    // Iteration walks the set bits in ascending order, up to signal 64.
    let highest = Signal(rawValue: 64)!
    #expect(Array(SignalSet([highest, .hangUp, .terminate])) == [.hangUp, .terminate, highest])
    #expect(Array(SignalSet.all).count == 64)
    #expect(Array(SignalSet()).isEmpty)
    #expect(Signal(parsing: "RTMIN+9223372036854775807") == nil)
    #expect(Signal(parsing: "RTMAX--9223372036854775808") == nil)
    #expect(Signal.realtime(Int.max) == nil)
    #expect(Signal.realtime(-1) == nil)
    let mild = expectError(.invalidArgument) { _ = try SignalWatcher([.child], escalation: .seconds(1)) }
    #expect(mild?.detail.contains("does not end the process") == true)
    expectError(.invalidArgument) { _ = try SignalWatcher([.interrupt], escalation: .zero) }
    expectError(.invalidArgument) { _ = try SignalWatcher([]) }
    let kill = expectError(.invalidArgument) { _ = try SignalWatcher([.interrupt, .kill]) }
    #expect(kill?.detail.contains("SIGKILL cannot be caught") == true)
  }

  @Test("sending names the target and says why it failed")
  func sendingErrors() throws {
    // A pid that is very unlikely to exist: past the default pid_max.
    let missing = expectError(.notFound) { try Signal.terminate.send(to: Int32.max) }
    #expect(missing?.description == "kill(\"pid 2147483647\"): no such process for SIGTERM")
    expectError(.invalidArgument) { try Signal.terminate.send(to: 0) }
    expectError(.notFound) { try Signal.user1.send(to: Int32.max, value: 1) }
    expectError(.invalidArgument) { try Signal.terminate.send(toGroup: -3) }
  }

  /// The README's signals and processes example, compiled and run here, where no other test
  /// takes the same signals meanwhile.
  @Test func readmeExample() async throws {
    let signals = try SignalWatcher([.interrupt, .terminate], escalation: .seconds(3))
    let someProcess = getpid()
    try Signal.terminate.send(to: someProcess)
    for await delivery in signals {
      #expect(delivery.signal == .terminate && delivery.senderPID == getpid())
      break
    }
    let child = try ChildProcess.spawn("/usr/bin/sleep", arguments: ["30"])
    try child.kill(.terminate)
    let ended = try await child.wait()
    #expect(ended == .signalled(SIGTERM))
    let queued = try SignalWatcher([.user1])
    try Signal.user1.send(to: someProcess, value: 42)
    var deliveries = queued.makeAsyncIterator()
    #expect(await deliveries.next()?.value == 42)
  }
}
