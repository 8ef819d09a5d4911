import ArgumentParser
import Glibc
import Hinix
import Synchronization
import SystemPackage

/// Exit statuses shared by `hinix`, `mqsend` and `mqrecv`.
public enum ToolStatus: Int32, Sendable {
  /// Success.
  case success = 0
  /// An error, reported in one line on standard error.
  case failure = 1
  /// A usage error: bad options or arguments.
  case usage = 2
  /// A timeout, or a queue that would have blocked with `--nonblock`.
  case wouldBlock = 3
}

/// A failure a tool reports with its own exit status.
struct ToolError: Error, CustomStringConvertible {
  var status: ToolStatus
  var description: String

  static func timedOut(_ what: String) -> ToolError { ToolError(status: .wouldBlock, description: what) }
}

/// Runs a command-line tool with Hinix's exit statuses.
public enum Tool {
  /// Parses the arguments for `command`, runs it and exits: 0 success, 1 error (one line on
  /// standard error), 2 usage error, 3 timeout or would-block. SIGPIPE is ignored, so a closed
  /// output is an error, never a death by signal.
  public static func main(_ command: any ParsableCommand.Type) -> Never {
    Sys.ignoreBrokenPipe()
    // The arguments as bytes: CommandLine.arguments has replaced what is not UTF-8.
    let raw = (1..<Int(CommandLine.argc)).map { index in
      CommandLine.unsafeArgv[index].map { Array(UnsafeRawBufferPointer(start: $0, count: strlen($0))) } ?? []
    }
    var arguments = raw.map { String(decoding: $0, as: UTF8.self) }
    rawArguments = zip(arguments, raw).map { (text: $0, bytes: $1, taken: false) }
    // `hinix pty run … COMMAND ARGS…`: the command line from the command on is taken as it is,
    // bytes and all, and not parsed: the parser's time grows much faster than the number of
    // arguments (10,000 took 40 s), and it would read the command's own options as the tool's.
    if ObjectIdentifier(command) == ObjectIdentifier(HinixCommand.self), arguments.count > 2,
      arguments[0] == "pty", arguments[1] == "run",
      let start = PtyCommand.Run.commandStart(in: arguments[2...])
    {
      PtyCommand.Run.passedThrough = Array(raw[start...])
      arguments = Array(arguments[..<start].filter { $0 != "--" }) + ["--", "command"]
    }
    do {
      var parsed = try command.parseAsRoot(arguments)
      try parsed.run()
      exit(ToolStatus.success.rawValue)
    } catch let error as ToolError {
      report(error.description)
      exit(error.status.rawValue)
    } catch let error as HinixError {
      report(error.description)
      exit(error.code == .timedOut || error.code == .wouldBlock ? ToolStatus.wouldBlock.rawValue : 1)
    } catch let error as ExitCode {
      exit(error.rawValue)
    } catch {
      let code = command.exitCode(for: error)
      var message = command.fullMessage(for: error)
      if code != .success, message.contains("OVERVIEW:") {
        // A root command's usage error comes with its whole help: one line of error, the
        // usage and where the help is, as a subcommand's is.
        message =
          "Error: \(command.message(for: error))\nUsage: \(command.usageString())\n"
          + "  See '\(Tool.name) --help' for more information."
      }
      if code == .success {
        print(message)
        exit(0)
      }
      report(message, prefix: false)
      exit(ToolStatus.usage.rawValue)
    }
  }

  /// Each argument as the parser saw it (invalid UTF-8 replaced by U+FFFD) and as it was
  /// given; a tool runs on one thread.
  nonisolated(unsafe) private static var rawArguments: [(text: String, bytes: [UInt8], taken: Bool)] = []

  /// The bytes of the argument the parser gave as `value`: two arguments that are not UTF-8 may
  /// read the same once parsed (`\xff` and `\xfe` both as U+FFFD), so each call takes the next
  /// one not taken yet, in the order of the command line, as positional arguments are parsed.
  /// A value that is no whole argument (`--name=value`) is its UTF-8.
  static func bytes(of value: String) -> [UInt8] {
    // By the bytes of the text: String's == would also match canonically equivalent text.
    guard let index = rawArguments.firstIndex(where: { !$0.taken && $0.text.utf8.elementsEqual(value.utf8) })
    else {
      return Array(value.utf8)
    }
    rawArguments[index].taken = true
    return rawArguments[index].bytes
  }

  /// The path the argument `value` names, byte for byte.
  static func path(_ value: String) -> FilePath {
    filePath(bytes(of: value))
  }

  /// The name the tool was run by (`hinix`, `mqsend`), for its messages.
  static var name: String {
    CommandLine.arguments.first.map { String($0.split(separator: "/").last ?? "") } ?? "hinix"
  }

  static func report(_ message: String, prefix: Bool = true, newline: Bool = true) {
    var line = (prefix ? "\(name): \(message)" : message) + (newline ? "\n" : "")
    line.withUTF8 { _ = Sys.write(2, UnsafeRawBufferPointer($0)) }
  }
}

/// Runs the async `body` from a command's synchronous `run()`, blocking the calling thread
/// (the main thread, not one of the cooperative pool's) until it ends.
func runBlocking<Value: Sendable>(_ body: @escaping @Sendable () async throws -> Value) throws -> Value {
  let done = try EventFD()
  let outcome = Mutex<Result<Value, any Error>?>(nil)
  Task {
    let result: Result<Value, any Error>
    do { result = .success(try await body()) } catch { result = .failure(error) }
    outcome.withLock { $0 = result }
    _ = try? done.tryAdd(1)
  }
  _ = try done.blockingRead()
  return try outcome.withLock { $0! }.get()
}

/// Writes all of `bytes` to standard output; a reader that went away ends the tool quietly.
func writeOut(_ bytes: UnsafeRawBufferPointer) throws {
  var offset = 0
  while offset < bytes.count {
    switch Sys.write(1, UnsafeRawBufferPointer(rebasing: bytes[offset...])) {
    case .success(let written): offset += written
    case .failure(.brokenPipe): exit(ToolStatus.success.rawValue)
    case .failure(let error):
      throw ToolError(status: .failure, description: "write to standard output: \(error)")
    }
  }
}

func writeOut(_ text: String) throws {
  try text.withMessageBytes { bytes in Result { try writeOut(bytes) } }.get()
}

/// Reads standard input to its end, byte for byte.
func readStandardInput() throws -> [UInt8] {
  var result: [UInt8] = []
  var chunk = [UInt8](repeating: 0, count: 65536)
  while true {
    switch chunk.withUnsafeMutableBytes({ Sys.read(0, $0) }) {
    case .success(0): return result
    case .success(let count): result += chunk[..<count]
    case .failure(let error):
      throw ToolError(status: .failure, description: "read standard input: \(error)")
    }
  }
}

/// Opens the queue `name` for `access`; a queue that does not exist is named with what to do:
/// `advice`, such as "add -c to create it".
func openQueue(_ name: MessageQueue.Name, _ access: MessageQueue.Access, advice: String) throws
  -> MessageQueue
{
  let opened = Result { () throws(HinixError) in try MessageQueue(opening: name, access: access) }
  if case .failure(let error) = opened, error.code == .notFound {
    throw ToolError(status: .failure, description: "\(error); \(advice)")
  }
  return try opened.get()
}

/// A queue name as the tools take it, byte for byte: a missing leading `/` is added.
func queueName(_ name: String) -> MessageQueue.Name {
  let bytes = Tool.bytes(of: name)
  return MessageQueue.Name(bytes: bytes.first == UInt8(ascii: "/") ? bytes : [UInt8(ascii: "/")] + bytes)
}

/// File permissions given in octal, such as `644` or `0600`; `--help` shows them so.
struct OctalMode: ExpressibleByArgument, CustomStringConvertible {
  var value: UInt16

  var description: String { String(value, radix: 8) }

  var defaultValueDescription: String { description }

  init?(argument: String) {
    guard !argument.isEmpty, argument.count <= 4, let value = UInt16(argument, radix: 8), value <= 0o7777
    else {
      return nil
    }
    self.value = value
  }

  init(_ value: UInt16) { self.value = value }
}

/// A non-negative, finite number of seconds.
struct Seconds: ExpressibleByArgument {
  var duration: Duration

  init?(argument: String) {
    guard let value = Double(argument), value.isFinite, value >= 0 else { return nil }
    // Past Int64's nanoseconds (292 years) a wait is as good as forever: clamped, not a trap.
    let nanoseconds = value * 1e9
    duration = .nanoseconds(nanoseconds >= 9.2e18 ? Int64.max : Int64(nanoseconds))
  }
}

/// Writes `text` to `path` (mode 644), making its folders first when asked; an error names the
/// path, for the tool to exit with status 1.
func writeFile(_ text: String, to path: FilePath, makingFolders: Bool = false) throws {
  if makingFolders {
    var folder = path
    folder.removeLastComponent()
    try makeFolders(folder)
  }
  let file = try OutputFile(path)
  try file.write(text)
}

/// A file a command writes at its end, opened (created if missing, left as it is) at its start,
/// so a path it cannot write fails the command before any work is done, and a command that
/// fails on the way leaves an existing file untouched.
final class OutputFile {
  let path: FilePath
  private let file: FileDescriptor

  /// Creates or empties `path` (mode 644); an error names it.
  init(_ path: FilePath) throws {
    self.path = path
    do {
      file = try FileDescriptor.open(
        path, .writeOnly, options: [.create, .closeOnExec],
        permissions: [.ownerReadWrite, .groupRead, .otherRead])
    } catch let error as Errno {
      throw ToolError(status: .failure, description: "write \(path): \(error)")
    }
  }

  deinit { try? file.close() }

  /// Replaces the file's contents with `text`.
  func write(_ text: String) throws {
    do {
      try file.resize(to: 0)
      _ = try file.writeAll(toAbsoluteOffset: 0, text.utf8)
    } catch let error as Errno {
      throw ToolError(status: .failure, description: "write \(path): \(error)")
    }
  }
}

/// Makes `folder` and the folders above it that do not exist.
func makeFolders(_ folder: FilePath) throws {
  if folder.isEmpty || folder.components.isEmpty { return }
  switch Sys.makeDirectory(folder, mode: 0o755) {
  case .success, .failure(.fileExists): return
  case .failure(.noSuchFileOrDirectory):
    var parent = folder
    parent.removeLastComponent()
    try makeFolders(parent)
    if case .failure(let error) = Sys.makeDirectory(folder, mode: 0o755), error != .fileExists {
      throw ToolError(status: .failure, description: "mkdir \(folder): \(error)")
    }
  case .failure(let error):
    throw ToolError(status: .failure, description: "mkdir \(folder): \(error)")
  }
}
