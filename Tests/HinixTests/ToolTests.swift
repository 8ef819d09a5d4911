import Glibc
import SystemPackage
import Testing

@testable import Hinix

/// The tools as a user runs them: spawned as processes, checked by output and exit status.
@Suite("Command-line tools", .timeLimit(.minutes(1)))
struct ToolTests {
  @Test func mqsendCreatesAndMqrecvPrintsTextWithANewline() throws {
    let name = uniqueQueueName()
    defer { try? MessageQueue.unlink(name) }
    let sent = try run("mqsend", ["--create", name, "hello world"])
    #expect(sent.termination == .exited(0), "\(sent.standardError)")
    // Defaults on create: 4 messages of 512 bytes.
    #expect(try MessageQueue(opening: name).capacity == .init(maxMessages: 4, maxMessageSize: 512))
    let received = try run("mqrecv", [name])
    #expect(received.termination == .exited(0))
    #expect(received.standardOutput == "hello world\n")
  }

  @Test func aMissingLeadingSlashIsAdded() throws {
    let name = uniqueQueueName()
    defer { try? MessageQueue.unlink(name) }
    #expect(try run("mqsend", ["-c", String(name.dropFirst()), "x"]).termination == .exited(0))
    #expect(try MessageQueue(opening: name).messageCount == 1)
  }

  @Test func createOptionsSetTheCapacityAndMode() throws {
    let name = uniqueQueueName()
    defer { try? MessageQueue.unlink(name) }
    let sent = try run("mqsend", ["-c", "-n", "2", "-s", "64", "--mode", "600", name, "m"])
    #expect(sent.termination == .exited(0), "\(sent.standardError)")
    let stat = try run("hinix", ["mq", "stat", name])
    #expect(stat.termination == .exited(0))
    #expect(stat.standardOutput.contains("max messages: 2\n"))
    #expect(stat.standardOutput.contains("max message size: 64\n"))
    #expect(stat.standardOutput.contains("messages: 1\n"))
    #expect(stat.standardOutput.contains("mode: 600\n"))
  }

  @Test func standardInputIsSentByteForByte() throws {
    let name = uniqueQueueName()
    defer { try? MessageQueue.unlink(name) }
    let bytes: [UInt8] = [0, 1, 2, 255, 10, 13, 0]
    #expect(try run("mqsend", ["-c", name], input: bytes).termination == .exited(0))
    let received = try run("mqrecv", ["--raw", name])
    #expect(received.termination == .exited(0))
    #expect(received.outputBytes == bytes)
  }

  @Test func priorityCountAndShowPriority() throws {
    let name = uniqueQueueName()
    defer { try? MessageQueue.unlink(name) }
    for (priority, text) in [("1", "low"), ("9", "high"), ("5", "middle")] {
      #expect(try run("mqsend", ["-c", "-p", priority, name, text]).termination == .exited(0))
    }
    let received = try run("mqrecv", ["--count", "3", "--show-priority", name])
    #expect(received.termination == .exited(0))
    #expect(received.standardOutput == "9\thigh\n5\tmiddle\n1\tlow\n")
  }

  @Test func timeoutAndNonblockExitWithStatusThree() throws {
    let name = uniqueQueueName()
    defer { try? MessageQueue.unlink(name) }
    #expect(try run("hinix", ["mq", "create", "-n", "1", name]).termination == .exited(0))
    let empty = try run("mqrecv", ["--nonblock", name])
    #expect(empty.termination == .exited(3))
    #expect(empty.standardError.contains(name))
    #expect(try run("mqrecv", ["--timeout", "0.1", name]).termination == .exited(3))
    #expect(try run("mqsend", [name, "fills"]).termination == .exited(0))
    #expect(try run("mqsend", ["--nonblock", name, "full"]).termination == .exited(3))
    #expect(try run("mqsend", ["--timeout", "0.1", name, "full"]).termination == .exited(3))
  }

  @Test(arguments: [
    ["-p", "abc", "/q", "x"],
    ["-p", "40000", "/q", "x"],
    ["-c", "-n", "many", "/q", "x"],
    ["-c", "--mode", "999", "/q", "x"],
    ["--timeout", "-1", "/q", "x"],
    ["-n", "3", "/q", "x"],
    ["--bogus", "/q"],
    [],
  ])
  func invalidArgumentsAreUsageErrors(arguments: [String]) throws {
    let result = try run("mqsend", arguments)
    #expect(result.termination == .exited(2), "\(arguments): \(result.standardError)")
    #expect(!result.standardError.isEmpty)
  }

  @Test func errorsAreOneLineWithStatusOne() throws {
    let name = uniqueQueueName()
    let missing = try run("mqrecv", [name])
    #expect(missing.termination == .exited(1))
    #expect(
      missing.standardError
        == "mqrecv: mq_open(\"\(name)\"): no such queue; nothing has created it (mqsend -c does)\n")
    let unsent = try run("mqsend", [name, "x"])
    #expect(unsent.termination == .exited(1))
    #expect(unsent.standardError == "mqsend: mq_open(\"\(name)\"): no such queue; add -c to create it\n")
    let help = try run("mqsend", ["--help"])
    #expect(help.standardOutput.contains("(default: 644)"), "\(help.standardOutput)")
    let tooBig = try run("mqsend", ["-c", "-n", "1000", name, "x"])
    #expect(tooBig.termination == .exited(1))
    #expect(tooBig.standardError.contains("/proc/sys/fs/mqueue/msg_max"))
    #expect(tooBig.standardError.split(separator: "\n").count == 1)
  }

  @Test func messageTooLargeForTheQueue() throws {
    let name = uniqueQueueName()
    defer { try? MessageQueue.unlink(name) }
    let result = try run("mqsend", ["-c", "-s", "4", name, "too long"])
    #expect(result.termination == .exited(1))
    #expect(result.standardError.contains("8 bytes, larger than the queue's message size 4 bytes"))
  }

  @Test func unlinkRemovesTheQueueAfterReceiving() throws {
    let name = uniqueQueueName()
    #expect(try run("mqsend", ["-c", name, "last"]).termination == .exited(0))
    let received = try run("mqrecv", ["--unlink", name])
    #expect(received.standardOutput == "last\n")
    #expect(throws: HinixError.self) { try MessageQueue(opening: name) }
  }

  @Test func followKeepsReceivingUntilTheTimeout() throws {
    let name = uniqueQueueName()
    defer { try? MessageQueue.unlink(name) }
    let queue = try MessageQueue(creating: name, capacity: .init(maxMessages: 8, maxMessageSize: 32))
    for index in 0..<5 { try queue.blockingSend("m\(index)") }
    let received = try run("mqrecv", ["--follow", "--timeout", "0.2", name])
    #expect(received.termination == .exited(3))
    #expect(received.standardOutput == "m0\nm1\nm2\nm3\nm4\n")
  }

  @Test func hinixMqCreateStatRemove() throws {
    let name = uniqueQueueName()
    let created = try run("hinix", ["mq", "create", "-n", "3", "-s", "100", "--exclusive", name])
    #expect(created.termination == .exited(0), "\(created.standardError)")
    #expect(created.standardOutput == "\(name): 3 messages of 100 bytes\n")
    let again = try run("hinix", ["mq", "create", "--exclusive", name])
    #expect(again.termination == .exited(1))
    #expect(again.standardError.contains("already exists"))
    #expect(try run("hinix", ["mq", "send", name, "via hinix"]).termination == .exited(0))
    #expect(try run("hinix", ["mq", "recv", name]).standardOutput == "via hinix\n")
    #expect(try run("hinix", ["mq", "rm", name]).termination == .exited(0))
    let gone = try run("hinix", ["mq", "rm", name])
    #expect(gone.termination == .exited(1))
    #expect(gone.standardError.contains("no such queue"))
  }

  @Test func hinixMqListReadsTheMountOrSaysHowToMountIt() throws {
    let name = uniqueQueueName()
    defer { try? MessageQueue.unlink(name) }
    _ = try MessageQueue(creating: name, capacity: .init(maxMessages: 2, maxMessageSize: 16))
    let listed = try run("hinix", ["mq", "ls"])
    let mounted = try readProcFile("/proc/self/mounts").contains(" mqueue ")
    if mounted {
      #expect(listed.termination == .exited(0))
      #expect(listed.standardOutput.contains("\(name)\t0/2 messages of 16 bytes\n"))
    } else {
      #expect(listed.termination == .exited(1))
      #expect(listed.standardError.contains("mount -t mqueue none /dev/mqueue"))
    }
  }

  @Test func helpIsEverywhere() throws {
    for arguments in [
      ["mqsend", "--help"], ["mqrecv", "--help"], ["hinix", "--help"], ["hinix", "mq", "--help"],
      ["hinix", "mq", "ls", "--help"], ["hinix", "bench", "--help"],
    ] {
      let result = try run(arguments[0], Array(arguments.dropFirst()))
      #expect(result.termination == .exited(0), "\(arguments)")
      #expect(result.standardOutput.contains("USAGE"), "\(arguments)")
    }
  }

  @Test("install-completions writes each tool's script where each shell looks; bash's completes")
  func installCompletions() throws {
    try withTemporaryFolder { folder in
      let result = try run("hinix", ["install-completions", "--prefix", folder.string])
      #expect(result.termination == .exited(0), "\(result.standardError)")
      let expected = ["hinix", "mqsend", "mqrecv"].flatMap { tool in
        [
          "share/bash-completion/completions/\(tool)", "share/zsh/site-functions/_\(tool)",
          "share/fish/vendor_completions.d/\(tool).fish",
        ]
      }.map { folder.appending($0).string }
      #expect(Set(result.standardOutput.split(separator: "\n").map(String.init)) == Set(expected))
      #expect(
        try readProcFile(folder.appending("share/zsh/site-functions/_mqsend")).hasPrefix("#compdef mqsend"))
      // The bash script parses, and completes a subcommand and an option.
      let bash = folder.appending("share/bash-completion/completions/hinix").string
      let completed = try run(
        "/bin/bash",
        [
          "-c",
          """
          source \(bash)
          COMP_WORDS=(hinix install-c); COMP_CWORD=1; COMP_LINE="hinix install-c"; COMP_POINT=15
          _hinix hinix install-c hinix; echo "${COMPREPLY[@]}"
          COMP_WORDS=(hinix bench --qu); COMP_CWORD=2; COMP_LINE="hinix bench --qu"; COMP_POINT=16
          COMPREPLY=(); _hinix hinix --qu bench; echo "${COMPREPLY[@]}"
          """,
        ])
      #expect(completed.standardOutput == "install-completions\n--quick\n", "\(completed.standardError)")
      // One shell only; a folder that cannot be made is named, with status 1.
      let zsh = try run("hinix", ["install-completions", "--prefix", folder.string, "--shell", "zsh"])
      #expect(zsh.standardOutput.split(separator: "\n").count == 3)
      let refused = try run("hinix", ["install-completions", "--prefix", "/proc/hinix-none"])
      #expect(refused.termination == .exited(1))
      #expect(refused.standardError.contains("mkdir /proc/hinix-none"), "\(refused.standardError)")
      #expect(try run("hinix", ["install-completions", "--shell", "tcsh"]).termination == .exited(2))
    }
  }

  @Test func benchOnlyMeasuresTheGroupsAsked() throws {
    let result = try run("hinix", ["bench", "--quick", "--json", "--only", "eventfd", "--only", "fdpass"])
    #expect(result.termination == .exited(0), "\(result.standardError)")
    let lines = result.standardOutput.split(separator: "\n").filter { $0.contains("\"metric\"") }
    #expect(lines.count == 4, "\(result.standardOutput)")
    // Standard error is not a terminal: no progress on it.
    #expect(!result.standardError.contains("round") && !result.standardError.contains("\u{1B}"))
    let unknown = try run("hinix", ["bench", "--only", "carrier-pigeon"])
    #expect(unknown.termination == .exited(2))
    #expect(unknown.standardError.contains("unknown group 'carrier-pigeon'"))
  }
}

/// `hinix bench --quick`: a debug build, run beside the rest of the tests on two CPUs, took
/// 36-42 s here and 64 s once in CI, so its bound is longer than the other tools' minute.
@Suite("Bench tool", .timeLimit(.minutes(3)))
struct BenchToolTests {
  @Test func benchQuickJSONHasEveryFigureBesideItsBaseline() async throws {
    let result = try await runAsync("hinix", ["bench", "--quick", "--json"])
    #expect(result.termination == .exited(0), "\(result.standardError)")
    #expect(result.standardError.contains("placement:"))
    let lines = result.standardOutput.split(separator: "\n").filter { $0.contains("\"metric\"") }
    // mq, pipe, fifo, four socket transports and the pty: 3 sizes x (median, p99, throughput);
    // eventfd, descriptor passing, the three signal figures and the exit wait: median and p99; the ring: 3
    // throughputs, 3 waits x (median, p99), the two spinning waits' means, 2 comparisons of
    // medians, the spinning 8-byte round trip (median, p99, mean) and its comparison with the
    // ping-pong, and 4 one-thread sizes; the event sources: inotify decoding (decoded and raw)
    // the recursive watch's set-up and the poller's wait (one time each), inotify latency and
    // timer lateness (median and p99).
    #expect(lines.count == 113, "\(result.standardOutput)")
    for transport in [
      "mq", "eventfd", "pipe", "fifo", "uds-stream", "uds-seqpkt", "uds-dgram", "uds-path", "fd-pass", "pty",
      "shm-ring", "ring-spin", "ring-spin200", "ring-sleep", "spin/ping-pong", "ring-1thread", "signal",
      "signal-reactor", "signal/C-loop", "pidfd-exit", "inotify-decode", "inotify-raw", "inotify-latency",
      "inotify-tree", "timer-late",
      "poller-wait",
    ] {
      #expect(lines.contains { $0.contains("\"transport\": \"\(transport)\"") }, "\(transport)")
    }
    for line in lines {
      #expect(line.contains("\"hinix\": ") && line.contains("\"baseline\": ") && line.contains("\"ratio\": "))
      #expect(!line.contains("nan") && !line.contains("inf"), "\(line)")
    }
  }
}

/// `hinix signal` and `hinix process`, run as a user runs them.
@Suite("Signal and process tools", .timeLimit(.minutes(1)))
struct SignalToolTests {
  /// Waits until process `pid` blocks `signal` (the watch tool's first step).
  private func waitUntilBlocked(_ pid: pid_t, _ signal: Signal) async throws {
    for _ in 0..<400 {
      let status = (try? readProcFile(FilePath("/proc/\(pid)/status"))) ?? ""
      let line = status.split(separator: "\n").first { $0.hasPrefix("SigBlk:") } ?? ""
      if let mask = UInt64(line.dropFirst(7).trimmingWhitespace(), radix: 16),
        mask & (1 << UInt64(signal.rawValue - 1)) != 0
      {
        return
      }
      try await Task.sleep(for: .milliseconds(5))
    }
    Issue.record("pid \(pid) never blocked \(signal)")
  }

  @Test("signal watch prints what signal send and send -q deliver, one line each")
  func watchAndSend() async throws {
    let (reader, writer) = try Pipe.create()
    let watch = try ChildProcess.spawn(
      FilePath("\(productsFolder)/hinix"), arguments: ["signal", "watch", "-c", "2", "USR1"],
      passing: [writer.descriptor: 1])
    _ = consume writer
    let lines = ChildLines(reader)
    try await waitUntilBlocked(watch.pid, .user1)
    let queued = try run("hinix", ["signal", "send", "-q", "9", "USR1", "\(watch.pid)"])
    #expect(queued.termination == .exited(0), "\(queued.standardError)")
    let first = try await lines.next() ?? ""
    #expect(first.hasPrefix("SIGUSR1 from pid ") && first.hasSuffix(", queue, value 9"), "\(first)")
    #expect(try run("hinix", ["signal", "send", "SIGUSR1", "\(watch.pid)"]).termination == .exited(0))
    let second = try await lines.next() ?? ""
    #expect(second.hasSuffix("(uid \(getuid())), user"), "\(second)")
    #expect(try await watch.wait() == .exited(0))
  }

  @Test("signal send and list: errors and usage as kill reports them")
  func sendErrorsAndList() throws {
    let missing = try run("hinix", ["signal", "send", "TERM", "2147483647"])
    #expect(missing.termination == .exited(1))
    #expect(missing.standardError.contains("no such process for SIGTERM"))
    #expect(try run("hinix", ["signal", "send", "NOPE", "1"]).termination == .exited(2))
    let queuedToGroup = try run("hinix", ["signal", "send", "-q", "1", "USR1", "-5"])
    #expect(queuedToGroup.termination == .exited(2))
    #expect(queuedToGroup.standardError.contains("-q queues to one process at a time"))
    #expect(try run("hinix", ["signal", "watch", "KILL"]).termination == .exited(2))
    let list = try run("hinix", ["signal", "list"])
    #expect(list.standardOutput.hasPrefix("1\tHUP\n2\tINT\n"))
    #expect(list.standardOutput.contains("\t\(Signal.realtime(0)!.name)\n"))
  }

  @Test("signal send -PGID signals a whole process group")
  func sendToAGroup() async throws {
    let (child, lines) = try spawnPeerWithLines(["own-group-sleep"])
    #expect(try await lines.next() == "ready")
    let sent = try run("hinix", ["signal", "send", "TERM", "-\(child.pid)"])
    #expect(sent.termination == .exited(0), "\(sent.standardError)")
    #expect(try await child.wait() == .signalled(SIGTERM))
  }

  @Test("process wait: 3 on timeout, 0 with each pid as it ends, 1 for no such process")
  func processWait() throws {
    let quick = try spawnPeer(["sleep", "0"])
    let slow = try spawnPeer(["sleep", "30"])
    let timedOut = try run("hinix", ["process", "wait", "-t", "0.2", "\(quick.pid)", "\(slow.pid)"])
    #expect(timedOut.termination == .exited(3))
    #expect(timedOut.standardError.contains("timed out with 1 process(es) running"))
    try slow.kill()
    let waited = try run("hinix", ["process", "wait", "-v", "\(quick.pid)", "\(slow.pid)"])
    #expect(waited.termination == .exited(0), "\(waited.standardError)")
    #expect(Set(waited.standardOutput.split(separator: "\n")) == ["\(quick.pid) ended", "\(slow.pid) ended"])
    #expect(try quick.blockingWait() == .exited(0))
    #expect(try slow.blockingWait() == .signalled(SIGTERM))
    let missing = try run("hinix", ["process", "wait", "2147483647"])
    #expect(missing.termination == .exited(1))
    #expect(missing.standardError.contains("pidfd_open(\"pid 2147483647\"): no such process"))
  }
}

/// `hinix watch`, which stands in for `inotifywait -m`.
@Suite("Watch tool")
struct WatchToolTests {
  /// Starts `hinix watch ARGUMENTS` (in `folder` when given, through the shell's `cd`) and
  /// returns once it says its watches are established.
  private func startWatch(_ arguments: [String], in folder: FilePath? = nil) async throws -> (
    ChildProcess, ChildLines
  ) {
    let (output, outputEnd) = try Pipe.create()
    let (errors, errorsEnd) = try Pipe.create()
    let hinix = FilePath("\(productsFolder)/hinix")
    let watch =
      if let folder {
        try ChildProcess.spawn(
          "/bin/sh",
          arguments: ["-c", "cd \"$0\" && exec \"$@\"", folder.string, hinix.string, "watch"] + arguments,
          passing: [outputEnd.descriptor: 1, errorsEnd.descriptor: 2])
      } else {
        try ChildProcess.spawn(
          hinix, arguments: ["watch"] + arguments,
          passing: [outputEnd.descriptor: 1, errorsEnd.descriptor: 2])
      }
    _ = (consume outputEnd, consume errorsEnd)
    let status = ChildLines(errors)
    let first = try await status.next()
    #expect(first == "Watches established.")
    return (watch, ChildLines(output))
  }

  @Test("-r --format '%w%f %e': mkdir -p and a file inside, each line as inotifywait prints it")
  func recursiveFormat() async throws {
    try await withTemporaryFolderAsync { folder in
      let (watch, lines) = try await startWatch([
        "-r", "-e", "create", "--format", "%w%f %e", "--count", "4", folder.string,
      ])
      #expect(mkdir(folder.appending("a").string, 0o755) == 0)
      #expect(mkdir(folder.appending("a/b").string, 0o755) == 0)
      #expect(mkdir(folder.appending("a/b/c").string, 0o755) == 0)
      let fd = open(folder.appending("a/b/c/f").string, O_CREAT | O_WRONLY | O_CLOEXEC, 0o644)
      close(fd)
      var seen: [String] = []
      while let line = try await lines.next() { seen.append(line) }
      #expect(
        seen == [
          "\(folder.string)/a CREATE,ISDIR", "\(folder.string)/a/b CREATE,ISDIR",
          "\(folder.string)/a/b/c CREATE,ISDIR",
          "\(folder.string)/a/b/c/f CREATE",
        ])
      #expect(try await watch.wait() == .exited(0))
    }
  }

  @Test("-r with overlapping paths, a folder given before the tree it is in: each event once")
  func overlappingRecursivePaths() async throws {
    try await withTemporaryFolderAsync { folder in
      #expect(mkdir(folder.appending("a").string, 0o755) == 0)
      let (watch, lines) = try await startWatch([
        "-r", "-e", "create", "--format", "%w%f", "--count", "2", folder.appending("a").string, folder.string,
      ])
      for name in ["a/f", "g"] {
        close(open(folder.appending(name).string, O_CREAT | O_WRONLY | O_CLOEXEC, 0o644))
      }
      var seen: [String] = []
      while let line = try await lines.next() { seen.append(line) }
      #expect(seen == ["\(folder.string)/a/f", "\(folder.string)/g"])
      #expect(try await watch.wait() == .exited(0))
      // Relative paths, `.` among them (whose lexical form is empty), in the watched folder.
      let (relative, relativeLines) = try await startWatch(
        ["-r", "-e", "create", "--format", "%w%f", "--count", "2", "a", ".", "a/../a"], in: folder)
      for name in ["a/h", "i"] {
        close(open(folder.appending(name).string, O_CREAT | O_WRONLY | O_CLOEXEC, 0o644))
      }
      seen = []
      while let line = try await relativeLines.next() { seen.append(line) }
      #expect(seen == ["./a/h", "./i"])
      #expect(try await relative.wait() == .exited(0))
    }
  }

  @Test("-r with a link to a subfolder given before its ancestor's real path: merged, each event once")
  func recursiveLinkBeforeAncestor() async throws {
    try await withTemporaryFolderAsync { folder in
      let tree = folder.appending("deep/tree")
      for path in [folder.appending("deep"), tree, tree.appending("sub")] {
        #expect(mkdir(path.string, 0o755) == 0)
      }
      // The link is shallower than the tree, so by its own path it came first, and the tree
      // then failed on the folder the link's tree had taken (exit 1).
      #expect(symlink(tree.appending("sub").string, folder.appending("l").string) == 0)
      let (watch, lines) = try await startWatch([
        "-r", "-e", "create", "--format", "%w%f", "--count", "2", folder.appending("l").string, tree.string,
      ])
      for name in ["sub/f", "g"] {
        close(open(tree.appending(name).string, O_CREAT | O_WRONLY | O_CLOEXEC, 0o644))
      }
      var seen: [String] = []
      while let line = try await lines.next() { seen.append(line) }
      #expect(seen == ["\(tree.string)/sub/f", "\(tree.string)/g"])
      #expect(try await watch.wait() == .exited(0))
    }
  }

  @Test("the default line, %Xe and --json")
  func lineShapes() async throws {
    try await withTemporaryFolderAsync { folder in
      let (plain, plainLines) = try await startWatch(["-e", "create,delete", "--count", "2", folder.string])
      let fd = open(folder.appending("x").string, O_CREAT | O_WRONLY | O_CLOEXEC, 0o644)
      close(fd)
      #expect(unlink(folder.appending("x").string) == 0)
      #expect(try await plainLines.next() == "\(folder.string)/ CREATE x")
      #expect(try await plainLines.next() == "\(folder.string)/ DELETE x")
      #expect(try await plain.wait() == .exited(0))

      let (json, jsonLines) = try await startWatch(["--json", "-e", "create", "--count", "1", folder.string])
      #expect(mkdir(folder.appending("d").string, 0o755) == 0)
      #expect(
        try await jsonLines.next()
          == "{\"path\":\"\(folder.string)/d\",\"watched\":\"\(folder.string)\",\"name\":\"d\",\"events\":[\"CREATE\",\"ISDIR\"],\"cookie\":0}"
      )
      #expect(try await json.wait() == .exited(0))

      let (separated, separatedLines) = try await startWatch([
        "--format", "%f:%|e", "-e", "delete", "--count", "1", folder.string,
      ])
      #expect(rmdir(folder.appending("d").string) == 0)
      #expect(try await separatedLines.next() == "d:DELETE|ISDIR")
      #expect(try await separated.wait() == .exited(0))
    }
  }

  @Test(
    "--fanotify: another process's write, with its pid",
    .enabled(
      if: (try? Fanotify(class: .content)) != nil, "fanotify needs CAP_SYS_ADMIN, which this process lacks"))
  func fanotifyLines() async throws {
    try await withTemporaryFolderAsync { folder in
      let (watch, lines) = try await startWatch([
        "--fanotify", "-e", "close_write", "--format", "%w%f %e %p", "--count", "1", folder.string,
      ])
      let peer = try spawnPeer(["write-file", folder.appending("f").string, "x"])
      #expect(try await peer.wait() == .exited(0))
      #expect(try await lines.next() == "\(folder.string)/f CLOSE_WRITE \(peer.pid)")
      #expect(try await watch.wait() == .exited(0))
      let unsupported = try run("hinix", ["watch", "--fanotify", "-e", "create", folder.string])
      #expect(unsupported.termination == .exited(2))
      #expect(unsupported.standardError.contains("CREATE needs inotify"), "\(unsupported.standardError)")
      #expect(try run("hinix", ["watch", "--mount", folder.string]).termination == .exited(2))
    }
  }

  @Test("exit statuses: 3 on --timeout, 2 on usage, 1 with the path named on an error")
  func statuses() throws {
    try withTemporaryFolder { folder in
      let quiet = try run("hinix", ["watch", "-t", "0.1", folder.string])
      #expect(quiet.termination == .exited(3))
      #expect(quiet.standardError.contains("no event within 0.1 s"))
      #expect(try run("hinix", ["watch", "-e", "bogus", folder.string]).termination == .exited(2))
      #expect(try run("hinix", ["watch"]).termination == .exited(2))
      #expect(try run("hinix", ["watch", "-e", "unmount", folder.string]).termination == .exited(2))
      #expect(try run("hinix", ["watch", "-t", "-1", folder.string]).termination == .exited(2))
      #expect(try run("hinix", ["watch", "--exclude", "*.o", folder.string]).termination == .exited(2))
      let missing = try run("hinix", ["watch", folder.appending("nope").string])
      #expect(missing.termination == .exited(1))
      #expect(missing.standardError.contains("\(folder.string)/nope"), "\(missing.standardError)")
    }
  }
}

/// What an outside reading of the tools found: traps, bytes lost to U+FFFD, usage slips.
@Suite("Tool edge cases", .timeLimit(.minutes(1)))
struct ToolEdgeCaseTests {
  @Test("huge timeouts and the lowest pid are refused or clamped, never a trap")
  func noTraps() throws {
    let huge = try run("hinix", ["mq", "recv", "--timeout", "1e12", "/hinix-no-such-queue-\(getpid())"])
    #expect(huge.termination == .exited(1), "\(huge.standardError)")
    #expect(huge.standardError.contains("no such queue"))
    let lowest = try run("hinix", ["signal", "send", "USR1", "-2147483648"])
    #expect(lowest.termination == .exited(2), "\(lowest.standardError)")
    #expect(lowest.standardError.contains("'-2147483648' is not a PID"))
  }

  @Test("arguments that are not UTF-8 reach the kernel as the bytes they are")
  func bytesPassThrough() throws {
    let name = Array("/hinix-bytes-\(getpid())-".utf8) + [0xFF]
    let other = Array("/hinix-bytes-\(getpid())-".utf8) + [0xFE]
    defer {
      try? MessageQueue.unlink(.init(bytes: name))
      try? MessageQueue.unlink(.init(bytes: other))
    }
    // Two names that read the same as Strings (U+FFFD) are two queues.
    #expect(
      try run("hinix", argumentBytes: [Array("mq".utf8), Array("create".utf8), name]).termination
        == .exited(0))
    #expect(
      try run("hinix", argumentBytes: [Array("mq".utf8), Array("create".utf8), other]).termination
        == .exited(0))
    _ = try MessageQueue(opening: .init(bytes: name))
    _ = try MessageQueue(opening: .init(bytes: other))
    // The message's bytes, not the 6 bytes of two U+FFFD.
    #expect(try run("mqsend", argumentBytes: [name, [0xFF, 0xFE]]).termination == .exited(0))
    let received = try run("mqrecv", argumentBytes: [Array("--raw".utf8), name])
    #expect(received.outputBytes == [0xFF, 0xFE])
    // A file called \xff is watched by its name.
    try withTemporaryFolder { folder in
      let file = folder.string.utf8 + [UInt8(ascii: "/"), 0xFF]
      let fd = Array(file + [0]).withUnsafeBufferPointer {
        $0.withMemoryRebound(to: CChar.self) { open($0.baseAddress!, O_CREAT | O_WRONLY | O_CLOEXEC, 0o644) }
      }
      #expect(fd >= 0)
      close(fd)
      let watched = try run(
        "hinix", argumentBytes: [Array("watch".utf8), Array("-t".utf8), Array("0.1".utf8), Array(file)])
      #expect(watched.termination == .exited(3), "\(watched.standardError)")
    }
  }

  @Test("usage: --help, -- and negative values as the Unix tools take them")
  func usage() throws {
    let help = try run("hinix", ["pty", "run", "--help"])
    #expect(help.termination == .exited(0))
    #expect(help.standardOutput.contains("OVERVIEW:"), "\(help.standardError)")
    let dashes = try run("hinix", ["signal", "send", "CONT", "--", "\(getpid())"])
    #expect(dashes.termination == .exited(0), "\(dashes.standardError)")
    let negative = try run("hinix", ["mq", "recv", "-n", "-3", "/q"])
    #expect(negative.termination == .exited(2))
    #expect(
      negative.standardError.contains("--count must be at least 1, not -3"), "\(negative.standardError)")
    let timeout = try run("hinix", ["mq", "recv", "--timeout", "-1", "/q"])
    #expect(timeout.standardError.contains("'-1' is invalid"), "\(timeout.standardError)")
    #expect(try run("hinix", ["process", "wait", "--", "-5"]).termination == .exited(2))
    let missing = try run("mqsend", [])
    #expect(missing.termination == .exited(2))
    #expect(!missing.standardError.contains("OVERVIEW"), "\(missing.standardError)")
    #expect(missing.standardError.contains("Missing expected argument"))
    #expect(try run("hinix", ["install-completions", "--prefix", ""]).termination == .exited(2))
  }

  @Test("pty run takes a command line of 50,000 arguments at once, not by parsing them")
  func longCommandLine() throws {
    let output = try run("hinix", ["pty", "run", "/bin/sh", "-c", "echo $#"] + (1...50_000).map { "a\($0)" })
    #expect(output.termination == .exited(0), "\(output.standardError)")
    #expect(output.standardOutput.hasPrefix("49999"), "\(output.standardOutput.prefix(100))")
  }

  @Test("mqrecv --unlink removes the queue only after receiving")
  func unlinkOnlyAfterReceiving() throws {
    let queue = try makeQueue()
    let name = queue.name!.string!
    defer { try? MessageQueue.unlink(name) }
    let empty = try run("mqrecv", ["--unlink", "--nonblock", name])
    #expect(empty.termination == .exited(3))
    _ = try MessageQueue(opening: name)
    try queue.blockingSend("x")
    #expect(try run("mqrecv", ["--unlink", name]).termination == .exited(0))
    expectError(.notFound) { _ = try MessageQueue(opening: name) }
  }

  @Test("signal watch says it is ready on standard error before it reads", .timeLimit(.minutes(1)))
  func signalWatchIsReady() async throws {
    let (output, outputEnd) = try Pipe.create()
    let (errors, errorsEnd) = try Pipe.create()
    let watch = try ChildProcess.spawn(
      FilePath("\(productsFolder)/hinix"), arguments: ["signal", "watch", "-c", "1", "USR2"],
      passing: [outputEnd.descriptor: 1, errorsEnd.descriptor: 2])
    _ = consume outputEnd
    _ = consume errorsEnd
    #expect(try await ChildLines(errors).next() == "Watching SIGUSR2.")
    try Signal.user2.send(to: watch.pid)
    #expect(try await ChildLines(output).next()?.hasPrefix("SIGUSR2 from pid") == true)
    #expect(try await watch.wait() == .exited(0))
  }

  @Test(
    "the examples take --help and report bad input in one line",
    arguments: [
      ("watch-folder", ["/nonexistent/hinix"], Int32(1)), ("serial-terminal", ["/dev/null"], 1),
      ("queue-workers", ["abc", "xyz"], 2), ("graceful-shutdown", ["--after", "x"], 2),
      ("ring-example", ["x"], 2),
    ])
  func examples(name: String, bad: [String], status: Int32) throws {
    let help = try run(name, ["--help"])
    #expect(help.termination == .exited(0))
    #expect(help.standardOutput.hasPrefix("usage: \(name)"), "\(help.standardOutput)")
    let failed = try run(name, bad)
    #expect(failed.termination == .exited(status), "\(failed.standardError)")
    #expect(failed.standardError.split(separator: "\n").count <= 1, "\(failed.standardError)")
    #expect(!failed.standardError.contains("Fatal error"))
  }
}
