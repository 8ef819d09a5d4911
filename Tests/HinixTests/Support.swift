import Glibc
import Synchronization
import SystemPackage
import Testing

@testable import Hinix

/// The folder holding the package's built executables (beside the test bundle).
let productsFolder: String = try! Sys.executablePath().get().removingLastComponent().string

/// Held by the tests that change state the whole process shares (the working folder, the
/// umask), so that two of them never run at once; no other test depends on that state.
private let processWideState = Mutex(())

/// Runs `body` while no other test changes the working folder or the umask.
func withProcessWideState<R>(_ body: () throws -> R) rethrows -> R {
  try processWideState.withLock { _ in try body() }
}

/// A unique queue name for one test, so tests running in parallel never meet.
func uniqueQueueName(_ label: String = #function) -> String {
  let cleaned = label.filter { $0.isLetter || $0.isNumber }.prefix(40)
  return "/hinix-test-\(cleaned)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
}

/// A fresh queue under a unique name; the caller unlinks it (`defer { try? queue.unlink() }`).
func makeQueue(
  capacity: MessageQueue.Capacity = .init(maxMessages: 4, maxMessageSize: 128), _ label: String = #function
) throws -> MessageQueue {
  try MessageQueue(creating: uniqueQueueName(label), capacity: capacity, exclusive: true)
}

/// What a finished child process wrote and how it ended.
struct ProcessOutput {
  var standardOutput: String
  var standardError: String
  var termination: ChildProcess.Termination
  var outputBytes: [UInt8]
}

func readAll(_ fd: Int32) -> [UInt8] {
  var result: [UInt8] = []
  var chunk = [UInt8](repeating: 0, count: 65536)
  while true {
    let count = chunk.withUnsafeMutableBytes { Sys.read(fd, $0) }
    guard case .success(let n) = count, n > 0 else { break }
    result += chunk[..<n]
  }
  return result
}

/// Starts one of the package's executables with `arguments`, feeds it `input` on standard input,
/// hands it `passing` descriptors, and collects its output once it ends.
func run(
  _ product: String, _ arguments: [String], input: [UInt8] = [],
  passing: [FileDescriptor: Int32] = [:]
) throws -> ProcessOutput {
  try run(product, argumentBytes: arguments.map { Array($0.utf8) }, input: input, passing: passing)
}

/// ``run(_:_:input:passing:)`` with arguments given as bytes, passed as they are.
func run(
  _ product: String, argumentBytes arguments: [[UInt8]], input: [UInt8] = [],
  passing: [FileDescriptor: Int32] = [:]
) throws -> ProcessOutput {
  let stdin = try Sys.pipe().get()
  let stdout = try Sys.pipe().get()
  let stderr = try Sys.pipe().get()
  var descriptors = passing
  descriptors[FileDescriptor(rawValue: stdin.read)] = 0
  descriptors[FileDescriptor(rawValue: stdout.write)] = 1
  descriptors[FileDescriptor(rawValue: stderr.write)] = 2
  let child: ChildProcess
  do {
    child = try ChildProcess.spawn(
      FilePath(product.hasPrefix("/") ? product : "\(productsFolder)/\(product)"), argumentBytes: arguments,
      passing: descriptors)
  } catch {
    for fd in [stdin.read, stdin.write, stdout.read, stdout.write, stderr.read, stderr.write] {
      _ = Sys.close(fd)
    }
    throw error
  }
  _ = Sys.close(stdin.read)
  _ = Sys.close(stdout.write)
  _ = Sys.close(stderr.write)
  _ = input.withUnsafeBytes { Sys.write(stdin.write, $0) }
  _ = Sys.close(stdin.write)
  let output = readAll(stdout.read)
  let errors = readAll(stderr.read)
  _ = Sys.close(stdout.read)
  _ = Sys.close(stderr.read)
  let termination = try child.blockingWait()
  return ProcessOutput(
    standardOutput: String(decoding: output, as: UTF8.self),
    standardError: String(decoding: errors, as: UTF8.self), termination: termination,
    outputBytes: output)
}

/// ``run(_:_:input:passing:)`` for a long-running child, without holding a thread of the pool
/// while it runs (standard input is empty).
func runAsync(_ product: String, _ arguments: [String]) async throws -> ProcessOutput {
  let (output, errors, child) = try { () throws -> (PipeReader, PipeReader, ChildProcess) in
    let (output, outputEnd) = try Pipe.create()
    let (errors, errorsEnd) = try Pipe.create()
    let child = try ChildProcess.spawn(
      FilePath("\(productsFolder)/\(product)"), arguments: arguments,
      passing: [outputEnd.descriptor: 1, errorsEnd.descriptor: 2])
    return (output, errors, child)
  }()
  async let standardOutput = output.readBytesToEnd()
  async let standardError = errors.readBytesToEnd()
  let (outputBytes, errorBytes) = try await (standardOutput, standardError)
  return ProcessOutput(
    standardOutput: String(decoding: outputBytes, as: UTF8.self),
    standardError: String(decoding: errorBytes, as: UTF8.self), termination: try await child.wait(),
    outputBytes: outputBytes)
}

/// Starts the test peer in the background; the caller waits for it.
func spawnPeer(_ arguments: [String], passing: [FileDescriptor: Int32] = [:]) throws -> ChildProcess {
  try ChildProcess.spawn(
    FilePath("\(productsFolder)/hinix-test-peer"), arguments: arguments, passing: passing)
}

/// Spawns the test peer with one end of a socket pair as descriptor 3, and closes this
/// process's copy of that end, so the peer's death hangs up the other.
func spawnWithSocket(_ arguments: [String]) throws -> (ChildProcess, Socket) {
  let (mine, theirs) = try Socket.pair()
  return (try spawnPeer(arguments, passing: [theirs.descriptor: 3]), mine)
}

/// Expects `body` to throw a `HinixError` with `code`, and returns it for more checks.
@discardableResult
func expectError<R>(
  _ code: HinixError.Code, sourceLocation: SourceLocation = #_sourceLocation,
  _ body: () throws -> R
) -> HinixError? {
  do {
    _ = try body()
    Issue.record("expected a \(code) error, got none", sourceLocation: sourceLocation)
    return nil
  } catch let error as HinixError {
    #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
    return error
  } catch {
    Issue.record("expected a HinixError, got \(error)", sourceLocation: sourceLocation)
    return nil
  }
}

/// Runs a blocking setup call (a ring handshake whose peer answers at once) from async test
/// code: the call is `noasync`, and a synchronous closure is where it may be made on purpose.
func blockingSetup<T: ~Copyable>(_ body: () throws -> T) rethrows -> T {
  try body()
}

extension ByteReader where Self: Sendable {
  /// Reads until the end of the stream (for a pty master: until the child and its descendants
  /// closed the slave), through the reactor.
  func readBytesToEnd() async throws -> [UInt8] {
    var bytes: [UInt8] = []
    while true {
      let chunk = try await read(upTo: 65536)
      if chunk.isEmpty { return bytes }
      bytes += chunk
    }
  }

  /// ``readBytesToEnd()`` as text.
  func readToEnd() async throws -> String {
    String(decoding: try await readBytesToEnd(), as: UTF8.self)
  }

  /// Reads until `text` has appeared in `seen` and what follows it, and returns all read;
  /// the end of the stream first is `.closed`.
  func readUntil(_ text: String, after seen: String = "") async throws -> String {
    var seen = seen
    while !seen.contains(text) {
      let chunk = try await read(upTo: 4096)
      if chunk.isEmpty {
        throw HinixError(.closed, operation: "read", detail: "ended before \(text): \(seen)")
      }
      seen += String(decoding: chunk, as: UTF8.self)
    }
    return seen
  }
}
