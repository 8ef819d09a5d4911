// The peer process Hinix's tests spawn: each command does one side of a cross-process exchange.
// Descriptors handed down by the test arrive at 3 and up. Exit status 0 means the peer's side
// succeeded; anything else is printed on standard error and exits 1.
import Dispatch
import Glibc
import Hinix
import Synchronization
import SystemPackage

func fail(_ message: String) -> Never {
  var line = "hinix-test-peer: \(message)\n"
  line.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
  exit(1)
}

func say(_ message: String) {
  var line = message + "\n"
  line.withUTF8 { _ = write(1, $0.baseAddress, $0.count) }
}

let arguments = Array(CommandLine.arguments.dropFirst())
guard let command = arguments.first else { fail("usage: hinix-test-peer COMMAND ARGS…") }
let rest = Array(arguments.dropFirst())

func argument(_ index: Int) -> String {
  guard index < rest.count else { fail("\(command): missing argument \(index + 1)") }
  return rest[index]
}

func number(_ index: Int) -> Int {
  guard let value = Int(argument(index)) else { fail("\(command): '\(argument(index))' is not a number") }
  return value
}

/// Runs the command. Synchronous on purpose: the blocking forms it uses are unavailable in
/// async code, and the one async command bridges with ``runAsync(_:)``.
func run() throws {
  switch command {
  case "mq-echo":
    // mq-echo IN OUT COUNT: returns COUNT messages from IN to OUT with their priorities.
    let input = try MessageQueue(opening: argument(0), access: .readOnly)
    let output = try MessageQueue(opening: argument(1), access: .writeOnly)
    for _ in 0..<number(2) {
      let message = try input.blockingReceive()
      try output.blockingSend(message.bytes, priority: message.priority)
    }

  case "mq-send-wake":
    // mq-send-wake QUEUE P1,P2,…: sends "message P" at each priority, then adds 1 to the eventfd at 3.
    let queue = try MessageQueue(opening: argument(0), access: .writeOnly)
    for priority in argument(1).split(separator: ",") {
      try queue.blockingSend("message \(priority)", priority: UInt32(priority)!)
    }
    try EventFD(adopting: FileDescriptor(rawValue: 3)).blockingAdd(1)

  case "mq-send-after":
    // mq-send-after QUEUE MILLISECONDS COUNT: waits, then sends COUNT messages "n".
    let queue = try MessageQueue(opening: argument(0), access: .writeOnly)
    usleep(UInt32(number(1) * 1000))
    for index in 0..<number(2) {
      try queue.blockingSend("\(index)")
    }

  case "mq-drain-after":
    // mq-drain-after QUEUE MILLISECONDS COUNT: waits, then receives COUNT messages.
    let queue = try MessageQueue(opening: argument(0), access: .readOnly)
    usleep(UInt32(number(1) * 1000))
    for _ in 0..<number(2) {
      _ = try queue.blockingReceive()
    }

  case "mq-open-as-nobody":
    // mq-open-as-nobody QUEUE: drops to uid/gid 65534, opens the queue and prints the error.
    guard setgid(65534) == 0, setuid(65534) == 0 else { fail("cannot drop privileges") }
    do {
      _ = try MessageQueue(opening: argument(0), access: .readWrite)
      say("opened")
    } catch {
      say("\(error.code) \(error)")
    }

  case "alarm-timer-as-nobody":
    // alarm-timer-as-nobody: drops to uid/gid 65534 (and so every capability), then creates a
    // timer on CLOCK_BOOTTIME_ALARM and prints the error's code and detail.
    guard setgid(65534) == 0, setuid(65534) == 0 else { fail("cannot drop privileges") }
    do {
      _ = try TimerFD(clock: .boottimeAlarm)
      say("created")
    } catch {
      say("\(error.code): \(error.detail)")
    }

  case "make-tree":
    // make-tree FOLDER CHAINS DEPTH: CHAINS times, creates a chain of DEPTH nested folders in
    // FOLDER one level after another (as mkdir -p does), then a file "f" in the deepest.
    for chain in 0..<number(1) {
      var path = "\(argument(0))/c\(chain)"
      for level in 0..<number(2) {
        if level > 0 { path += "/d\(level)" }
        guard mkdir(path, 0o755) == 0 else { fail("mkdir \(path) failed") }
      }
      let fd = open(path + "/f", O_CREAT | O_WRONLY | O_CLOEXEC, 0o644)
      guard fd >= 0 else { fail("create \(path)/f failed") }
      close(fd)
    }

  case "inotify-watches-in-namespace":
    // inotify-watches-in-namespace FOLDER COUNT LIMIT: enters a user namespace of its own whose
    // watch limit (/proc/sys/user/max_inotify_watches) is LIMIT, which changes nothing outside
    // it, watches FOLDER/0 ... FOLDER/COUNT-1 and prints the first error's code and detail, or
    // "watched".
    let uid = getuid()
    let gid = getgid()
    if case .failure(let error) = Sys.enterNewUserNamespace() { fail("unshare(CLONE_NEWUSER): \(error)") }
    func write(_ path: String, _ text: String) {
      guard let fd = try? FileDescriptor.open(FilePath(path), .writeOnly) else { fail("cannot open \(path)") }
      defer { try? fd.close() }
      guard (try? fd.writeAll(Array(text.utf8))) != nil else { fail("cannot write \(path)") }
    }
    write("/proc/self/uid_map", "0 \(uid) 1")
    write("/proc/self/setgroups", "deny")
    write("/proc/self/gid_map", "0 \(gid) 1")
    write("/proc/sys/user/max_inotify_watches", argument(2))
    do {
      let watcher = try FileWatcher()
      for index in 0..<number(1) {
        try watcher.watch(FilePath("\(argument(0))/\(index)"), for: .created)
      }
      say("watched")
    } catch {
      say("\(error.code): \(error.detail)")
    }

  case "open-file":
    // open-file PATH: opens PATH for reading and prints "opened", or the error.
    do {
      let fd = try FileDescriptor.open(FilePath(argument(0)), .readOnly, options: .closeOnExec)
      try fd.close()
      say("opened")
    } catch {
      say("refused: \(error)")
    }

  case "write-file":
    // write-file PATH TEXT: creates or truncates PATH and writes TEXT.
    let fd = try FileDescriptor.open(
      FilePath(argument(0)), .writeOnly, options: [.create, .truncate, .closeOnExec],
      permissions: .ownerReadWrite)
    _ = try fd.writeAll(Array(argument(1).utf8))
    try fd.close()

  case "fanotify-as-nobody":
    // fanotify-as-nobody FOLDER: drops to uid/gid 65534, then tries a content group, a
    // file-id notification group with an inode mark on FOLDER and a mount mark, a line each.
    guard setgid(65534) == 0, setuid(65534) == 0 else { fail("cannot drop privileges") }
    do {
      _ = try Fanotify(class: .content)
      say("content group created")
    } catch { say("\(error.code): \(error.detail)") }
    do {
      let group = try Fanotify(reportFileIDs: true)
      try group.mark(FilePath(argument(0)), for: .created, options: .eventsOnChildren)
      say("inode mark made")
      do {
        try group.mark(FilePath(argument(0)), for: .created, scope: .mount)
        say("mount mark made")
      } catch { say("\(error.code): \(error.detail)") }
    } catch { say("\(error.code): \(error.detail)") }

  case "eventfd-pong":
    // eventfd-pong COUNT: COUNT times, reads the eventfd at 3 and adds what it read to the one at 4.
    let ping = EventFD(adopting: FileDescriptor(rawValue: 3))
    let pong = EventFD(adopting: FileDescriptor(rawValue: 4))
    for _ in 0..<number(0) {
      try pong.blockingAdd(try ping.blockingRead())
    }

  case "eventfd-add-after":
    // eventfd-add-after MILLISECONDS VALUE: waits, then adds VALUE to the eventfd at 3.
    let event = EventFD(adopting: FileDescriptor(rawValue: 3))
    usleep(UInt32(number(0) * 1000))
    try event.blockingAdd(UInt64(number(1)))

  case "pipe-upper":
    // pipe-upper: reads the pipe at 3 to its end and writes it uppercased to the pipe at 4.
    let input = PipeReader(adopting: FileDescriptor(rawValue: 3))
    let output = PipeWriter(adopting: FileDescriptor(rawValue: 4))
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
      let count = try buffer.withUnsafeMutableBytes { try input.blockingRead(into: $0) }
      if count == 0 { break }
      try output.blockingWrite(buffer[..<count].map { $0 >= 97 && $0 <= 122 ? $0 - 32 : $0 })
    }

  case "pipe-write-after":
    // pipe-write-after MILLISECONDS TEXT: waits, then writes TEXT to the pipe at 3.
    let output = PipeWriter(adopting: FileDescriptor(rawValue: 3))
    usleep(UInt32(number(0) * 1000))
    try output.blockingWrite(argument(1))

  case "pipe-read-some":
    // pipe-read-some MILLISECONDS BYTES: waits, reads up to BYTES from the pipe at 3 once, and
    // exits (closing the pipe's last reading end).
    let input = PipeReader(adopting: FileDescriptor(rawValue: 3))
    usleep(UInt32(number(0) * 1000))
    var buffer = [UInt8](repeating: 0, count: number(1))
    _ = try buffer.withUnsafeMutableBytes { try input.blockingRead(into: $0) }

  case "fifo-write":
    // fifo-write PATH MILLISECONDS TEXT [go]: waits, opens the FIFO for writing (blocking),
    // with "go" waits for a byte on the pipe at 3, and writes TEXT.
    usleep(UInt32(number(1) * 1000))
    let writer = try FIFO.blockingOpenForWriting(FilePath(argument(0)))
    if rest.count > 3 {
      var go: UInt8 = 0
      _ = try withUnsafeMutableBytes(of: &go) {
        try PipeReader(adopting: FileDescriptor(rawValue: 3)).blockingRead(into: $0)
      }
    }
    try writer.blockingWrite(argument(2))

  case "shm-write":
    // shm-write NAME TEXT: opens the shared-memory object NAME and writes TEXT at its start.
    let memory = try SharedMemory(named: argument(0))
    let text = Array(argument(1).utf8)
    memory.bytes.copyBytes(from: text)

  case "signal-queue":
    // signal-queue PID SIGNAL FIRST COUNT: sends SIGNAL to PID COUNT times with sigqueue, the
    // values FIRST, FIRST + 1, …
    guard let signal = Signal(parsing: argument(1)) else { fail("no signal \(argument(1))") }
    for value in number(2)..<(number(2) + number(3)) {
      try signal.send(to: pid_t(number(0)), value: value)
    }

  case "signalfd-read":
    // signalfd-read SIGNAL COUNT: blocks SIGNAL in this (only) thread, reads COUNT deliveries
    // from a signalfd, blocking, and prints each as "got SIGNAL from PID value V".
    guard let signal = Signal(parsing: argument(0)) else { fail("no signal \(argument(0))") }
    try ThreadSignalMask.block([signal])
    let reader = try SignalFD([signal])
    say("ready")
    for _ in 0..<number(1) {
      let info = try reader.blockingRead()
      say("got \(info.signal) from \(info.senderPID) value \(info.value)")
    }

  case "signal-kill":
    // signal-kill PID SIGNAL COUNT: sends SIGNAL to PID COUNT times with kill.
    guard let signal = Signal(parsing: argument(1)) else { fail("no signal \(argument(1))") }
    for _ in 0..<number(2) { try signal.send(to: pid_t(number(0))) }

  case "signal-watch-once":
    // signal-watch-once SIGNAL [ESCALATION_MS]: watches SIGNAL, says "ready", and prints the
    // first delivery. With an escalation it then hangs (a stuck program); without, it stops
    // watching, says "restored", and waits for the next one, which the default action takes.
    guard let signal = Signal(parsing: argument(0)) else { fail("no signal \(argument(0))") }
    let escalation = rest.count > 1 ? Duration.milliseconds(number(1)) : nil
    try runAsync {
      let watcher = try SignalWatcher([signal], escalation: escalation)
      say("ready")
      for await delivery in watcher {
        say("got \(delivery.signal) from \(delivery.senderPID)")
        break
      }
      if escalation != nil {
        while true { try await Task.sleep(for: .seconds(1)) }
      }
      watcher.cancel()
      say("restored \(try SignalWatcher.previousDisposition(of: signal))")
      while true { try await Task.sleep(for: .seconds(1)) }
    }

  case "trap-while-watching":
    // trap-while-watching trap|SEGV: watches the signal of a Swift trap (SIGILL on x86_64,
    // SIGTRAP on arm64) or SIGSEGV, says "ready", prints the first delivery sent to it, then
    // faults in that way: an index out of range, or a store through a bad pointer. The fault
    // must end the process, not loop.
    guard let signal = faultSignal(argument(0)) else { fail("no fault \(argument(0))") }
    let watcher = try SignalWatcher([signal])
    let lines = Mutex(0)
    try runAsync {
      say("ready")
      for await delivery in watcher {
        say("got \(delivery.signal) from \(delivery.senderPID)")
        break
      }
    }
    lines.withLock { $0 = Int(getpid()) }
    if signal.rawValue == SIGSEGV {
      UnsafeMutablePointer<Int>(bitPattern: 8)!.pointee = lines.withLock { $0 }
    } else {
      let values = [1, 2, 3]
      say("value \(values[lines.withLock { $0 }])")
    }
    fail("the fault did not end the process")

  case "sigchld-status":
    // sigchld-status: watches SIGCHLD, starts itself as a child that exits with 7, and prints
    // the delivery's fields (in a process of its own: another child's SIGCHLD could coalesce
    // with this one in a test process that runs others).
    let watcher = try SignalWatcher([.child])
    let child = try ChildProcess.spawn(FilePath(CommandLine.arguments[0]), arguments: ["exit-with", "7"])
    try runAsync {
      for await info in watcher where info.senderPID == child.pid {
        say("status \(info.childStatus.map(String.init) ?? "nil") value \(info.value) code \(info.code)")
        say("\(info)")
        break
      }
    }
    say("\(try child.blockingWait())")

  case "sigpipe-policy-race":
    // sigpipe-policy-race ROUNDS: in each round one thread installs and restores Hinix's SIGPIPE
    // handler while another applies the broken-pipe policy (ignore SIGPIPE unless handled), both
    // released at once; every order of the two must leave SIGPIPE ignored. Prints the rounds
    // that did not.
    var lost = 0
    for _ in 0..<number(0) {
      signal(SIGPIPE, SIG_DFL)
      let start = Atomic<Int>(0)
      DispatchQueue.concurrentPerform(iterations: 2) { side in
        start.add(1, ordering: .acquiringAndReleasing)
        // Bounded: on one CPU the two may run one after the other, and neither may wait forever.
        var spins = 0
        while start.load(ordering: .acquiring) < 2 && spins < 1_000_000 { spins += 1 }
        if side == 0 {
          _ = Sys.installSignalHandler(SIGPIPE)
          _ = Sys.restoreSignalHandler(SIGPIPE)
        } else {
          _ = Sys.ignoreBrokenPipeUnlessHandled()
        }
      }
      var current = sigaction()
      sigaction(SIGPIPE, nil, &current)
      if unsafeBitCast(current.__sigaction_handler.sa_handler, to: Int.self)
        != unsafeBitCast(SIG_IGN, to: Int.self)
      {
        lost += 1
      }
    }
    say("lost \(lost)")

  case "fifo-read":
    // fifo-read PATH MILLISECONDS: waits, opens the FIFO for reading (blocking), and copies
    // what it reads to the pipe at 3 until the writer closes.
    usleep(UInt32(number(1) * 1000))
    let reader = try FIFO.blockingOpenForReading(FilePath(argument(0)))
    let output = PipeWriter(adopting: FileDescriptor(rawValue: 3))
    var buffer = [UInt8](repeating: 0, count: 256)
    while true {
      let count = try buffer.withUnsafeMutableBytes { try reader.blockingRead(into: $0) }
      if count == 0 { break }
      try output.blockingWrite(buffer[..<count])
    }

  case "socket-use-fds":
    // socket-use-fds PATH: connects to PATH, receives an eventfd, a memfd and a pipe's writing
    // end with one message, uses each, and answers "done".
    let socket = try Socket.blockingConnect(to: .path(FilePath(argument(0))))
    var buffer = [UInt8](repeating: 0, count: 64)
    let message = try buffer.withUnsafeMutableBytes {
      try socket.blockingReceive(into: $0, maxDescriptors: 3)
    }
    guard message.descriptors.count == 3, let event = message.descriptors.takeNext(),
      let memory = message.descriptors.takeNext(), let pipe = message.descriptors.takeNext()
    else { fail("expected 3 descriptors, got \(message.descriptors.count)") }
    try EventFD(adopting: event.release()).blockingAdd(7)
    let text = Array("memfd from child".utf8)
    guard pwrite(memory.descriptor.rawValue, text, text.count, 0) == text.count else { fail("pwrite failed") }
    try PipeWriter(adopting: pipe.release()).blockingWrite("pipe from child")
    try socket.blockingWrite("done")

  case "socket-credentials":
    // socket-credentials PATH DROP: drops to uid/gid 65534 if DROP is 1, connects to the
    // seqpacket listener at PATH, waits for "go", sends "hello" with its credentials, waits for "bye".
    if number(1) == 1 {
      guard setgid(65534) == 0, setuid(65534) == 0 else { fail("cannot drop privileges") }
    }
    let socket = try Socket.blockingConnect(to: .path(FilePath(argument(0))), kind: .seqpacket)
    var buffer = [UInt8](repeating: 0, count: 16)
    _ = try buffer.withUnsafeMutableBytes { try socket.blockingReceive(into: $0) }
    try socket.blockingSend("hello", credentials: .current)
    _ = try buffer.withUnsafeMutableBytes { try socket.blockingReceive(into: $0) }

  case "socket-listen":
    // socket-listen PATH: listens at PATH, prints "ready", and stays until killed.
    let listener = try SocketListener(.path(FilePath(argument(0))))
    say("ready")
    sleep(60)
    _ = listener

  case "socket-client":
    // socket-client NAME ID COUNT: connects to the local seqpacket server NAME (waiting for it),
    // sends "ID:i" for i in 0..<COUNT and checks each echo.
    let socket = try LocalSocket.blockingConnect(
      .namespaced(argument(0)), kind: .seqpacket, wait: .timeout(.seconds(20)))
    var reply: [UInt8] = []
    for index in 0..<number(2) {
      let text = "\(argument(1)):\(index)"
      try socket.blockingSend(text)
      _ = try socket.blockingReceive(into: &reply)
      guard reply == Array(text.utf8) else {
        fail("sent \(text), got back \(String(decoding: reply, as: UTF8.self))")
      }
    }

  case "socket-echo-after":
    // socket-echo-after MICROSECONDS: echoes what it reads from the socket at 3, each read
    // after waiting MICROSECONDS, until the end of the stream.
    let socket = Socket(adopting: FileDescriptor(rawValue: 3), domain: .unix, kind: .stream)
    var buffer = [UInt8](repeating: 0, count: 64)
    while true {
      let count = try buffer.withUnsafeMutableBytes { try socket.blockingRead(into: $0) }
      if count == 0 { break }
      if number(0) > 0 { usleep(UInt32(number(0))) }
      try socket.blockingWrite(buffer[..<count])
    }

  case "adaptive-round-trips":
    // adaptive-round-trips COUNT [sleep]: COUNT async round trips of 8 bytes through the socket
    // at 3 with the adaptive wait strategy (or sleep), then writes "CPU WALL MEAN" (this
    // process's CPU time, the wall time of the round trips and the socket's recent answer
    // time, in nanoseconds) on the socket: a process of its own, so that nothing else runs on
    // its CPU time.
    let socket = Socket(adopting: FileDescriptor(rawValue: 3), domain: .unix, kind: .stream)
    socket.waitStrategy = arguments.count > 2 && argument(1) == "sleep" ? .sleep : .adaptive
    let count = number(0)
    try runAsync {
      let message = UnsafeMutableRawBufferPointer.allocate(byteCount: 8, alignment: 8)
      defer { message.deallocate() }
      message.initializeMemory(as: UInt8.self, repeating: 7)
      func cpu() -> Int64 {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Int64(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * 1_000_000_000
          + Int64(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) * 1_000
      }
      let cpuBefore = cpu()
      let start = ContinuousClock.now
      for _ in 0..<count {
        try await socket.write(UnsafeRawBufferPointer(message))
        try await socket.readExactly(into: message)
      }
      func nanoseconds(_ duration: Duration) -> Int64 {
        duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000
      }
      let wall = nanoseconds(ContinuousClock.now - start)
      let mean = nanoseconds(socket.waitHistory.recentAnswerTime ?? .zero)
      try await socket.write(Array("\(cpu() - cpuBefore) \(wall) \(mean)\n".utf8))
    }

  case "ring-sum":
    // ring-sum: accepts a ring of UInt64 over the socket on descriptor 3, reads it in place to
    // the end, and writes "COUNT SUM" (wrapping sum) back on the socket.
    let socket = Socket(adopting: FileDescriptor(rawValue: 3), domain: .unix, kind: .stream)
    let receiver = try RingReceiver<UInt64>.blockingAccept(over: socket)
    receiver.waitStrategy = .spinThenSleep(.microseconds(50))
    var count: UInt64 = 0
    var sum: UInt64 = 0
    while true {
      let taken = try receiver.blockingReceive { elements in
        for element in elements { sum &+= element }
        return elements.count
      }
      if taken == 0 { break }
      count += UInt64(taken)
    }
    try socket.blockingWrite("\(count) \(sum)")

  case "ring-hold":
    // ring-hold [receiver]: accepts a ring of UInt64 as its sender over descriptor 3, sends 1,
    // 2, 3 and then sleeps until killed; with "receiver", accepts it as the receiver, reads
    // nothing and sleeps until killed.
    let socket = Socket(adopting: FileDescriptor(rawValue: 3), domain: .unix, kind: .stream)
    if !rest.isEmpty && argument(0) == "receiver" {
      let receiver = try RingReceiver<UInt64>.blockingAccept(over: socket)
      sleep(600)
      receiver.waitStrategy = .sleep
      break
    }
    let sender = try RingSender<UInt64>.blockingAccept(over: socket)
    for value in 1...3 { try sender.blockingSend(UInt64(value)) }
    sleep(600)
    // A use after the sleep keeps the sender (and the ring) open until the kill.
    sender.waitStrategy = .sleep

  case "ring-scribble":
    // ring-scribble SECONDS [messages]: accepts a ring of UInt64 (or, with "messages", a message
    // ring) as its sender over descriptor 3, sends a few honest elements or messages, then
    // writes random values over the whole shared file for SECONDS.
    let socket = Socket(adopting: FileDescriptor(rawValue: 3), domain: .unix, kind: .stream)
    let seconds = number(0)
    if rest.count > 1 && argument(1) == "messages" {
      let sender = try MessageSender.blockingAccept(over: socket)
      for value in 1...3 { try sender.blockingSend([UInt8](repeating: UInt8(value), count: value * 5)) }
      try scribble(seconds: seconds)
      // A use after the scribbling keeps the sender (and the ring) alive until then.
      sender.waitStrategy = .sleep
    } else {
      let sender = try RingSender<UInt64>.blockingAccept(over: socket)
      for value in 1...3 { try sender.blockingSend(UInt64(value)) }
      try scribble(seconds: seconds)
      sender.waitStrategy = .sleep
    }

  case "ring-wake-flood":
    // ring-wake-flood PRODUCED CONSUMED SLEEPING stay|die: accepts a message ring as its
    // receiver over descriptor 3, clears O_NONBLOCK on every descriptor it holds, and then, as a
    // hostile receiver, keeps its sleeping flag (at byte SLEEPING of the shared memory) set and
    // its position (at CONSUMED) equal to the sender's (at PRODUCED), consuming everything
    // without reading it or ever draining its doorbell, so that every send rings a doorbell
    // nobody empties. It writes "ready" on the socket first. With "stay" it goes on until killed;
    // with "die" it exits after one round.
    let socket = Socket(adopting: FileDescriptor(rawValue: 3), domain: .unix, kind: .stream)
    let receiver = try MessageReceiver.blockingAccept(over: socket)
    for fd in 0..<Int32(256) where !descriptorKind(fd).isEmpty {
      _ = fcntl(fd, F_SETFL, 0)
    }
    let memory = try ringMemory()
    func word(_ index: Int) -> UnsafeMutablePointer<UInt64> {
      (memory.baseAddress + number(index)).assumingMemoryBound(to: UInt64.self)
    }
    let (produced, consumed, sleeping) = (word(0), word(1), word(2))
    func round() {
      sleeping.pointee = 1
      consumed.pointee = produced.pointee
    }
    round()
    try socket.blockingWrite("ready")
    if argument(3) == "die" { exit(0) }
    let end = ContinuousClock.now + .seconds(60)
    while ContinuousClock.now < end {
      round()
      usleep(50)
    }
    receiver.waitStrategy = .sleep

  case "msg-forward":
    // msg-forward MODE IN OUT: opens the message ring IN (its receiver) and OUT (its sender),
    // both inherited from the test as RingInheritance arguments, and forwards every message
    // from IN to OUT until IN ends. MODE is blocking, timed (1 ms timeouts, retried) or async.
    let input = try MessageReceiver.inherited(from: argument(1))
    let output = try MessageSender.inherited(from: argument(2))
    switch argument(0) {
    case "blocking":
      while try input.blockingReceive({ message in try output.blockingSend(message) }) != nil {}
    case "timed":
      var outcome: Outcome<Void> = .timedOut
      repeat {
        outcome = try input.blockingReceive(timeout: .milliseconds(1)) { message in
          while try !output.blockingSend(message, timeout: .milliseconds(1)).isCompleted {}
        }
      } while !outcome.isEnded
    case "async":
      try runAsync { [input = consume input, output = consume output] in
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: input.maximumMessageSize, alignment: 8)
        defer { buffer.deallocate() }
        while let count = try await input.receive(into: buffer) {
          try await output.send(UnsafeRawBufferPointer(rebasing: buffer[..<count]))
        }
        // Closed here, not when the task's closure goes: that may be after this process exits.
        output.close()
      }
    default:
      fail("msg-forward: unknown mode \(argument(0))")
    }

  case "as-nobody-signal-and-borrow":
    // as-nobody-signal-and-borrow PID: drops to uid/gid 65534, then tries to signal PID and to
    // borrow its descriptor 0, and prints each error's code and detail, a line each.
    guard setgid(65534) == 0, setuid(65534) == 0 else { fail("cannot drop privileges") }
    let target = pid_t(number(0))
    do {
      try Signal.user1.send(to: target)
      say("sent")
    } catch { say("\(error.code): \(error.detail)") }
    do {
      _ = try ProcessDescriptor(opening: target).duplicateDescriptor(0)
      say("borrowed")
    } catch { say("\(error.code): \(error.detail)") }

  case "own-group-sleep":
    // own-group-sleep: leads a process group of its own, says "ready", and sleeps.
    guard setpgid(0, 0) == 0 else { fail("setpgid failed") }
    say("ready")
    sleep(30)

  case "pty-report":
    // pty-report STATUS: run in a pseudo-terminal, reports what its terminal is, then answers
    // each line read with "got:LINE" until "quit" (or the end of input), and exits STATUS.
    let input = try Terminal.standardInput()
    say("tty=\(try input.path().string)")
    say("session-leader=\(getsid(0) == getpid())")
    say("foreground=\(try input.foregroundProcessGroup() == getpgrp())")
    say("size=\(try input.windowSize())")
    let controlling = try Terminal.open("/dev/tty")
    say("controlling=\(try controlling.path().string)")
    var line: [UInt8] = []
    var byte: [UInt8] = [0]
    readLoop: while try byte.withUnsafeMutableBytes({ try input.blockingRead(into: $0) }) == 1 {
      if byte[0] != 10 {
        line.append(byte[0])
        continue
      }
      let text = String(decoding: line, as: UTF8.self)
      line.removeAll()
      if text == "quit" { break readLoop }
      say("got:\(text)")
    }
    exit(Int32(number(0)))

  case "pty-winch":
    // pty-winch COUNT: run in a pseudo-terminal, prints "ready", then each of COUNT window
    // sizes its terminal changes to, from SIGWINCH.
    let count = number(0)
    try runAsync {
      let changes = try Terminal.standardInput().sizeChanges()
      say("ready")
      var seen = 0
      for try await size in changes {
        say("size=\(size)")
        seen += 1
        if seen == count { break }
      }
    }

  case "pty-flood":
    // pty-flood BYTES STATUS: writes BYTES bytes (lines of digits) to standard output as fast
    // as it can, then exits STATUS at once.
    let total = number(0)
    var block = [UInt8](repeating: UInt8(ascii: "7"), count: 4096)
    block[4095] = 10
    let output = try Terminal.standardOutput()
    var written = 0
    while written < total {
      let count = min(block.count, total - written)
      try output.blockingWrite(block[..<count])
      written += count
    }
    exit(Int32(number(1)))

  case "pty-limit":
    // pty-limit MAX: in a devpts instance of its own allowing MAX pseudo-terminals, opens
    // MAX of them and prints the error of one more.
    if case .failure(let error) = Sys.enterPrivateDevpts(max: Int32(number(0))) {
      fail("private devpts: \(error)")
    }
    var held: [PseudoTerminal.Pair] = []
    for _ in 0..<number(0) { held.append(try PseudoTerminal.open()) }
    do {
      held.append(try PseudoTerminal.open())
      say("opened \(held.count)")
    } catch {
      say("\(error.code) \(error.description)")
    }

  case "open-terminal-as-nobody":
    // open-terminal-as-nobody PATH: as user nobody, opens the terminal at PATH and prints the
    // error's code, or "opened".
    guard setgid(65534) == 0, setuid(65534) == 0 else { fail("cannot become nobody") }
    do {
      _ = try Terminal.open(FilePath(argument(0)))
      say("opened")
    } catch {
      say("\(error.code)")
    }

  case "spawn-missing":
    // spawn-missing: closes its standard input and output, spawns a program that does not
    // exist with a pipe as its standard output, and says on standard error how the spawn ended
    // and how many bytes reached the pipe. With 0 and 1 free, the spawn's own report pipe gets
    // them, and 1 is also the target of the mapping.
    let (reader, writer) = try Pipe.create()
    close(0)
    close(1)
    let outcome: String
    do {
      let child = try ChildProcess.spawn(
        "/nonexistent/hinix-missing-program", passing: [writer.descriptor: 1])
      outcome = "started \(try child.blockingWait())"
    } catch {
      outcome = "\(error.code)"
    }
    _ = consume writer
    var buffer = [UInt8](repeating: 0, count: 64)
    let count = try buffer.withUnsafeMutableBytes { (bytes) throws(HinixError) in
      try reader.blockingRead(into: bytes)
    }
    var line = "\(outcome) \(count) bytes\n"
    line.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }

  case "spawn-with-stderr-closed":
    // spawn-with-stderr-closed: closes its standard output and error, then starts a shell that
    // writes 4 bytes to its standard error, mapping nothing there, and says (on a copy of its
    // standard output) how the spawn and the child ended. The child must not inherit the
    // spawn's report pipe as its standard error.
    // Standard output and error both closed: the report pipe gets 1 and 2, its write end 2.
    let report = dup(1)
    close(1)
    close(2)
    var line: String
    do {
      let child = try ChildProcess.spawn("/bin/sh", arguments: ["-c", "printf 'err\\n' >&2; exit 0"])
      line = "started, \(try child.blockingWait())\n"
    } catch {
      line = "failed: \(error)\n"
    }
    line.withUTF8 { _ = write(report, $0.baseAddress, $0.count) }

  case "list-descriptors":
    // list-descriptors: prints the numbers of this process's open descriptors, one a line.
    let folder = opendir("/proc/self/fd")
    guard let folder else { fail("cannot read /proc/self/fd") }
    let own = dirfd(folder)
    while let entry = readdir(folder) {
      let name = withUnsafeBytes(of: entry.pointee.d_name) {
        String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self)
      }
      if let fd = Int32(name), fd != own { say(name) }
    }
    closedir(folder)

  case "exit-with":
    // exit-with STATUS: ends at once with STATUS.
    exit(Int32(number(0)))

  case "sleep":
    // sleep SECONDS: stays alive until killed or the time runs out.
    sleep(UInt32(number(0)))

  default:
    fail("unknown command \(command)")
  }
}

/// Runs `body` in a task and blocks this (main, synchronous) thread until it ends.
func runAsync(_ body: @escaping @Sendable () async throws -> Void) throws {
  let done = try EventFD()
  let failure = Mutex<(any Error)?>(nil)
  Task {
    do { try await body() } catch { failure.withLock { $0 = error } }
    _ = try? done.tryAdd(1)
  }
  _ = try done.blockingRead()
  if let error = failure.withLock({ $0 }) { throw error }
}

do {
  try run()
} catch {
  fail("\(command): \(error)")
}

/// Maps this process's ring memfd a second time, found as a hostile process would, through
/// /proc, and writes random values over it (mostly the header and positions) for `seconds`.
func scribble(seconds: Int) throws {
  let memory = try ringMemory()
  let words = memory.count / 8
  let base = memory.baseAddress.assumingMemoryBound(to: UInt64.self)
  let end = ContinuousClock.now + .seconds(seconds)
  var state = UInt64(getpid())
  while ContinuousClock.now < end {
    for _ in 0..<4096 {
      state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
      let index = Int((state >> 33) % UInt64(words))
      // Favour the header and the positions, where the damage is.
      let target = state & 1 == 0 ? index % 128 : index
      base[target] = state >> 7
    }
  }
}

/// What `/proc/self/fd` says descriptor `fd` is ("" when it is not open).
func descriptorKind(_ fd: Int32) -> String {
  (try? Sys.descriptorTarget(fd).get())?.string ?? ""
}

/// The shared memory of this process's ring, mapped again through its memfd in /proc/self/fd.
func ringMemory() throws -> SharedMemory {
  var seen: [String] = []
  for fd in 0..<Int32(256) {
    let name = descriptorKind(fd)
    guard !name.isEmpty else { continue }
    seen.append("\(fd): \(name)")
    if name.hasPrefix("/memfd:hinix-ring") {
      return try SharedMemory(
        adoptingSealed: OwnedDescriptor(adopting: FileDescriptor(rawValue: dup(fd))), minimumSize: 1)
    }
  }
  fail("no ring memfd in /proc/self/fd, only \(seen.joined(separator: ", "))")
}

/// The signal a fault of this kind raises here: `trap`, a Swift trap (SIGILL on x86_64, SIGTRAP
/// elsewhere); `SEGV`, a bad access.
func faultSignal(_ kind: String) -> Signal? {
  switch kind {
  case "SEGV": Signal(rawValue: SIGSEGV)
  case "trap":
    #if arch(x86_64)
      Signal(rawValue: SIGILL)
    #else
      Signal(rawValue: SIGTRAP)
    #endif
  default: nil
  }
}
