import CHinixBaseline
import Glibc
import Hinix
import SystemPackage

/// The hot paths `Benchmarks/instructions.sh` counts instructions of under callgrind: each runs
/// `count` times on this thread, through Hinix or the C baseline, so that the difference between
/// two counts is the cost of the operations alone (start-up and set-up cancel out).
public enum InstructionPath: String, CaseIterable, Sendable {
  /// A 64-byte message sent to and received from one queue.
  case mq
  /// 64 bytes written to and read from one pipe.
  case pipe
  /// 64 bytes written to and read from one Unix stream socket pair.
  case socket
  /// A 64-byte slice copied into the typed ring and summed out of it.
  case ring
  /// A 64-byte message sent into a message ring and received out of it (copied).
  case messageRing = "ring-message"
  /// A real-time signal sent to this process and received by a task on the reactor's executor
  /// (C: a handler writes it into a pipe that an epoll loop on another thread reads).
  case signal
  /// A file created and removed in a watched folder, its two inotify events read and decoded
  /// into `FileWatcher.Event`s (C: the folder looked up, the path built).
  case inotify
  /// The same, the events read raw (`FileWatcher.tryReadRaw`; C: the watch matched, the
  /// name measured).
  case inotifyRaw = "inotify-raw"

  /// The C baseline's number for this path (`hinix_c_instructions`).
  var baselineNumber: Int32 {
    switch self {
    case .mq: 0
    case .pipe: 1
    case .socket: 2
    case .ring: 3
    case .signal: 4
    case .inotify: 5
    case .inotifyRaw: 6
    case .messageRing: 7
    }
  }
}

extension BenchLoops {
  /// Runs `path` `count` times through `implementation`.
  static func instructions(_ path: InstructionPath, _ implementation: Implementation, count: Int) throws {
    if implementation == .c {
      try check(hinix_c_instructions(path.baselineNumber, count))
      return
    }
    // 64-byte aligned, as the C baseline's ring source is: memcpy's path depends on it.
    let message = UnsafeMutableRawBufferPointer.allocate(byteCount: 64, alignment: 64)
    let back = UnsafeMutableRawBufferPointer.allocate(byteCount: 64, alignment: 64)
    defer {
      message.deallocate()
      back.deallocate()
    }
    message.initializeMemory(as: UInt8.self, repeating: 1)
    switch path {
    case .mq:
      let queue = try MessageQueue(
        creating: "/hinix-instructions-swift-\(Sys.processID)", access: .readWrite,
        capacity: MessageQueue.Capacity(maxMessages: 4, maxMessageSize: 64), exclusive: true)
      try queue.unlink()
      for _ in 0..<count {
        try queue.blockingSend(UnsafeRawBufferPointer(message))
        guard try queue.blockingReceive(into: back).count == 64 else {
          throw BenchError.failure("short message")
        }
      }
    case .pipe:
      let (reader, writer) = try Pipe.create()
      for _ in 0..<count {
        try writer.blockingWrite(UnsafeRawBufferPointer(message))
        guard try reader.blockingRead(into: back) == 64 else { throw BenchError.failure("short read") }
      }
    case .socket:
      let (one, other) = try Socket.pair(.stream)
      for _ in 0..<count {
        try one.blockingWrite(UnsafeRawBufferPointer(message))
        guard try other.blockingRead(into: back) == 64 else { throw BenchError.failure("short read") }
      }
    case .ring:
      try ringSlices(count: count, message: message)
    case .messageRing:
      try ringMessages(count: count, message: UnsafeRawBufferPointer(message), back: back)
    case .signal:
      try signalsToSelf(count: count)
    case .inotify:
      try inotifyStorms(count: count, raw: false)
    case .inotifyRaw:
      try inotifyStorms(count: count, raw: true)
    }
  }
}

extension BenchLoops {
  /// `count` 64-byte slices of `message` through a typed ring: the instruction-counted ring
  /// path, in a function of its own, so that what else `instructions` holds cannot change
  /// whether the slice is inlined into its loop (which moves its count by a fifth).
  @inline(never)
  static func ringSlices(count: Int, message: UnsafeMutableRawBufferPointer) throws {
    let pair = try RingSender<UInt64>.makeRing(capacity: 16)
    let source = UnsafeBufferPointer(message.bindMemory(to: UInt64.self))
    for _ in 0..<count { _ = try ringSliceThrough(pair.sender, pair.receiver, source) }
  }

  /// `count` 64-byte messages through a 4096-byte message ring, each received (copied) into
  /// `back`: the instruction-counted message-ring path, out of line as ``ringSlices``.
  @inline(never)
  static func ringMessages(
    count: Int, message: UnsafeRawBufferPointer, back: UnsafeMutableRawBufferPointer
  ) throws {
    let pair = try MessageSender.makeRing(capacity: 4096)
    for _ in 0..<count {
      try pair.sender.blockingSend(message)
      guard try pair.receiver.blockingReceive(into: back) == message.count else {
        throw BenchError.failure("short message")
      }
    }
  }

  /// Reads and decodes every queued event, the batches freed before it returns: what
  /// instructions.sh counts of the decoded inotify path (as `hinix_c_inotify_drain` of C's).
  @inline(never)
  static func inotifyDrainDecoded(_ watcher: FileWatcher) throws -> Int {
    var events = 0
    while case .completed(let batch) = try watcher.tryRead() { events += batch.count }
    return events
  }

  /// Reads every queued event raw, measuring each name: what instructions.sh counts of the raw
  /// inotify path (as `hinix_c_inotify_drain_raw` of C's).
  @inline(never)
  static func inotifyDrainRaw(_ watcher: FileWatcher) throws -> Int {
    var events = 0
    var nameBytes = 0
    while case .completed(let count) = try watcher.tryReadRaw({ nameBytes += $0.nameBytes.count }) {
      events += count
    }
    guard nameBytes > 0 else { throw BenchError.failure("no names read") }
    return events
  }

  /// `count` files created and removed in a new folder, 1,000 at a time, each batch's events
  /// read by a `FileWatcher`, decoded or with `raw` read raw: the instruction-counted inotify
  /// paths. Not inlined, so that it cannot change how the other counted paths compile.
  @inline(never)
  static func inotifyStorms(count: Int, raw: Bool) throws {
    let folder: FilePath
    switch Sys.makeTemporaryDirectory(prefix: "/tmp/hinix-instructions-") {
    case .success(let path): folder = path
    case .failure(let error): throw BenchError.failure("mkdtemp: \(error)")
    }
    defer { _ = rmdir(folder.string) }
    let watcher = try FileWatcher()
    try watcher.watch(folder, for: [.created, .deleted])
    var done = 0
    while done < count {
      let files = min(1000, count - done)
      try check(hinix_c_file_storm(folder.string, Int32(files)))
      let events = try raw ? inotifyDrainRaw(watcher) : inotifyDrainDecoded(watcher)
      guard events == 2 * files else {
        throw BenchError.failure("decoded \(events) events, not \(2 * files)")
      }
      done += files
    }
  }
}
