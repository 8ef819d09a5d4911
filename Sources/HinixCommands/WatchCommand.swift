import ArgumentParser
import Glibc
import Hinix
import SystemPackage

/// `hinix watch`: file events, one line each, as `inotifywait -m` prints them.
struct WatchCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "watch",
    abstract: "Print each change to files and folders, one line each, until interrupted.",
    discussion: """
      Behaves as inotifywait -m: the same event names (CREATE, CLOSE_WRITE, MOVED_TO, ISDIR…), \
      the same default line (%w %e %f) and the same --format directives: %w the watched folder \
      (with a trailing /) or file, %f the name inside it, %e the event names joined by commas, \
      %Xe joined by the character X, %T the time as --timefmt says (strftime), %% a percent \
      sign. So `hinix watch -r --format '%w%f %e' DIR` can stand in for \
      `inotifywait -m -r --format '%w%f %e' DIR`. With -r, folders that appear are watched \
      before they are scanned and what the scan finds is printed as CREATE, so nothing made \
      with mkdir -p is missed; a queue overflow prints Q_OVERFLOW and rescans. --exclude takes \
      glob patterns (fnmatch), not inotifywait's regular expressions. "Watches established." \
      goes to standard error once watching has begun. With --fanotify the events come from \
      fanotify instead (it needs CAP_SYS_ADMIN): access, modify, open and close, for each path \
      and the entries of each folder, or with --mount for the whole mount holding it; %p \
      prints the pid of the process that caused each. Unlike inotifywait, -c is not --csv \
      (use --format) and the exit statuses are those of the other hinix tools: 0 after --count \
      events, 1 on an error, 2 on a usage error, 3 when --timeout passes without an event \
      (inotifywait: 2).
      """)

  @Flag(name: [.short, .long], help: "Watch each folder and every folder below it.")
  var recursive = false

  @Option(
    name: [.short, .customLong("event")],
    help: """
      Print only these events (repeatable or comma-separated): access, modify, attrib, \
      close_write, close_nowrite, close, open, moved_to, moved_from, move, move_self, create, \
      delete, delete_self.
      """)
  var events: [String] = []

  @Option(name: .long, help: "Print each event with this format (see above).")
  var format: String?

  @Option(name: .long, help: "The strftime format of %T.")
  var timefmt = "%H:%M:%S"

  @Flag(name: .long, help: "Print one JSON object per event instead.")
  var json = false

  @Option(name: .long, help: "Do not watch or report paths matching this glob (repeatable; with -r).")
  var exclude: [String] = []

  @Option(name: .long, parsing: .unconditional, help: "Exit after this many events.")
  var count: Int?

  @Option(
    name: [.short, .long], parsing: .unconditional,
    help: "Exit with status 3 when no event comes for this many seconds (0: never).")
  var timeout: Double?

  @Flag(name: .long, help: "Watch with fanotify: access, modify, open and close events, with the pid.")
  var fanotify = false

  @Flag(name: .long, help: "With --fanotify, watch the whole mount holding each path.")
  var mount = false

  @Argument(help: "The files and folders to watch.")
  var paths: [String] = []

  func kinds() throws -> FileWatcher.Kinds {
    var kinds: FileWatcher.Kinds = []
    for name in events.flatMap({ $0.split(separator: ",") }) {
      guard let kind = FileWatcher.Kinds(name: name.trimmingCharacters()) else {
        throw ValidationError("unknown event \(name)")
      }
      kinds.formUnion(kind)
    }
    if events.isEmpty { return .all }
    if kinds.intersection(.all).isEmpty {
      throw ValidationError("\(kinds) cannot be asked for: name an event such as create or modify")
    }
    return kinds
  }

  /// The fanotify kinds for the asked events: those a descriptor group reports.
  func fanotifyKinds() throws -> Fanotify.Kinds {
    let asked = events.isEmpty ? [.accessed, .modified, .opened, .closed] : try kinds()
    let pairs: [(FileWatcher.Kinds, Fanotify.Kinds)] = [
      (.accessed, .accessed), (.modified, .modified), (.opened, .opened),
      (.closedAfterWriting, .closedAfterWriting), (.closedWithoutWriting, .closedWithoutWriting),
    ]
    let unsupported = asked.subtracting(pairs.reduce(into: FileWatcher.Kinds()) { $0.formUnion($1.0) })
    if !unsupported.isEmpty {
      throw ValidationError(
        "--fanotify reports access, modify, open and close events; \(unsupported) needs inotify (drop --fanotify)"
      )
    }
    return pairs.reduce(into: Fanotify.Kinds()) { if asked.contains($1.0) { $0.formUnion($1.1) } }
  }

  func validate() throws {
    if paths.isEmpty { throw ValidationError("name at least one file or folder to watch") }
    _ = try kinds()
    if let count, count < 1 { throw ValidationError("--count must be at least 1") }
    if let timeout, !(timeout >= 0 && timeout <= 86400 * 365) {
      throw ValidationError("--timeout must be 0 (never) or a number of seconds up to a year")
    }
    if json && format != nil { throw ValidationError("--json and --format cannot be used together") }
    if !exclude.isEmpty && !recursive { throw ValidationError("--exclude needs -r") }
    if fanotify {
      if recursive {
        throw ValidationError("--fanotify watches a folder's entries or a whole mount, not a tree: drop -r")
      }
      _ = try fanotifyKinds()
    } else if mount {
      throw ValidationError("--mount needs --fanotify")
    }
  }

  func run() throws {
    let read: (Duration?) throws -> [PrintedEvent]?
    if fanotify {
      let group = try Fanotify()
      for path in paths {
        if mount {
          try group.mark(Tool.path(path), for: try fanotifyKinds(), scope: .mount)
        } else {
          try group.mark(Tool.path(path), for: try fanotifyKinds(), options: .eventsOnChildren)
        }
      }
      read = { timeout in
        let events: [Fanotify.Event]
        if let timeout {
          guard case .completed(let batch) = try group.blockingRead(timeout: timeout) else { return nil }
          events = batch
        } else {
          events = try group.blockingRead()
        }
        return events.map(PrintedEvent.init)
      }
    } else {
      let kinds = try kinds()
      let watcher = try FileWatcher()
      if recursive {
        // Overlapping paths are merged as inotifywait -r merges them (a watcher has one watch
        // per folder): ancestors first, by the depth of each path's real location (links and
        // `.` and `..` resolved, so a link to a subfolder given before its ancestor's real path
        // still comes after it), and a path inside a tree given already is left to that tree.
        let folder = workingFolder()
        let located = paths.map { Tool.path($0) }.map { path in
          let real =
            (try? Sys.realPath(path).get())
            ?? (path.isRelative ? folder?.pushing(path) ?? path : path).lexicallyNormalized()
          return (path: path, real: real)
        }
        var trees: [FilePath] = []
        for (path, real) in located.sorted(by: { $0.real.components.count < $1.real.components.count }) {
          if trees.contains(where: { real.starts(with: $0) }) { continue }
          do {
            try watcher.watchRecursively(path, for: kinds, excluding: exclude)
            trees.append(real)
          } catch {
            guard error.code == .alreadyExists, error.subject == path.printable else { throw error }
          }
        }
      } else {
        for path in paths { try watcher.watch(Tool.path(path), for: kinds) }
      }
      read = { timeout in
        let events: [FileWatcher.Event]
        if let timeout {
          guard case .completed(let batch) = try watcher.blockingRead(timeout: timeout) else { return nil }
          events = batch
        } else {
          events = try watcher.blockingRead()
        }
        return events.map(PrintedEvent.init)
      }
    }
    let asked =
      fanotify
      ? Set(try fanotifyKinds().description.split(separator: ",").map(String.init))
      : Set(try kinds().description.split(separator: ",").map(String.init))
    Tool.report("Watches established.", prefix: false)
    let format = self.format.map(EventFormat.init) ?? EventFormat("%w %e %f")
    var printed = 0
    while count.map({ printed < $0 }) ?? true {
      guard let batch = try read(timeout.flatMap { $0 > 0 ? .seconds($0) : nil }) else {
        throw ToolError.timedOut("no event within \(timeout ?? 0) s")
      }
      var text = ""
      // As inotifywait: only the events asked for, and the losses no filter may hide.
      for event in batch where event.matches(asked) && count.map({ printed < $0 }) ?? true {
        text += json ? event.json : format.render(event, timeFormat: timefmt)
        text += "\n"
        printed += 1
      }
      try writeOut(text)
    }
  }
}

/// An event as the tool prints it, from inotify or fanotify.
struct PrintedEvent {
  /// `%w`: the folder the event came through with a trailing `/`, or the watched file.
  var watched: String
  /// `%f`: the entry's name in that folder.
  var name: String?
  /// The event names.
  var kinds: [String]
  /// `%p`: the process that caused it (fanotify only).
  var pid: pid_t?
  var path: String
  var cookie: UInt32 = 0
  var movedFrom: String?
  var movedTo: String?
  var fromScan = false
  /// Why a folder of a recursive watch could not be watched.
  var error: String?

  init(_ event: FileWatcher.Event) {
    let directory = event.directory.printable
    let slash = (event.name != nil || event.isDirectory) && !directory.hasSuffix("/")
    watched = slash ? directory + "/" : directory
    name = event.name.map { FilePath(root: nil, [$0]).printable }
    kinds = "\(event.kinds)".split(separator: ",").map(String.init)
    path = event.path.printable
    cookie = event.cookie
    movedFrom = event.movedFrom?.printable
    movedTo = event.movedTo?.printable
    fromScan = event.isFromScan
    error = event.watchError.map { "\($0)" }
  }

  init(_ event: Fanotify.Event) {
    let path = event.path ?? FilePath()
    let folder = path.removingLastComponent().printable
    watched = folder.hasSuffix("/") ? folder : folder + "/"
    name = path.lastComponent.map { FilePath(root: nil, [$0]).printable }
    kinds = "\(event.kinds)".split(separator: ",").map(String.init)
    pid = event.pid
    self.path = path.printable
  }

  /// Whether the event is one of the `asked` names, or one no filter may hide (an overflow, an
  /// unmount, a folder that could not be watched).
  func matches(_ asked: Set<String>) -> Bool {
    kinds.contains { asked.contains($0) || $0 == "Q_OVERFLOW" || $0 == "UNMOUNT" } || error != nil
  }

  /// One JSON object.
  var json: String {
    var fields = [
      "\"path\":\(EventFormat.quoted(path))",
      "\"watched\":\(EventFormat.quoted(watched.count > 1 && watched.hasSuffix("/") ? String(watched.dropLast()) : watched))",
      "\"name\":\(name.map(EventFormat.quoted) ?? "null")",
      "\"events\":[\(kinds.map(EventFormat.quoted).joined(separator: ","))]",
      "\"cookie\":\(cookie)",
    ]
    if let pid { fields.append("\"pid\":\(pid)") }
    if let movedFrom { fields.append("\"movedFrom\":\(EventFormat.quoted(movedFrom))") }
    if let movedTo { fields.append("\"movedTo\":\(EventFormat.quoted(movedTo))") }
    if fromScan { fields.append("\"fromScan\":true") }
    if let error { fields.append("\"error\":\(EventFormat.quoted(error))") }
    return "{" + fields.joined(separator: ",") + "}"
  }
}

/// An inotifywait `--format` string, split once into literal text and directives.
struct EventFormat {
  enum Piece {
    case text(String)
    case watched
    case name
    case events(separator: String)
    case time
    case pid
  }

  let pieces: [Piece]

  init(_ format: String) {
    var pieces: [Piece] = []
    var literal = ""
    var characters = format[...]
    while let character = characters.popFirst() {
      guard character == "%", let next = characters.first else {
        literal.append(character)
        continue
      }
      var piece: Piece?
      switch next {
      case "w": piece = .watched
      case "f": piece = .name
      case "e": piece = .events(separator: ",")
      case "T": piece = .time
      case "p": piece = .pid
      case "%": literal.append("%")
      default:
        // %Xe: the events joined by X.
        let rest = characters.dropFirst()
        if rest.first == "e" {
          piece = .events(separator: String(next))
          characters = rest
        } else {
          literal.append("%")
          continue
        }
      }
      characters = characters.dropFirst()
      if let piece {
        if !literal.isEmpty { pieces.append(.text(literal)) }
        literal = ""
        pieces.append(piece)
      }
    }
    if !literal.isEmpty { pieces.append(.text(literal)) }
    self.pieces = pieces
  }

  /// The line for `event` (without its newline).
  func render(_ event: PrintedEvent, timeFormat: String) -> String {
    var line = ""
    for piece in pieces {
      switch piece {
      case .text(let text): line += text
      case .watched: line += event.watched
      case .name: line += event.name ?? ""
      case .events(let separator): line += event.kinds.joined(separator: separator)
      case .time: line += EventFormat.now(timeFormat)
      case .pid: line += event.pid.map { "\($0)" } ?? ""
      }
    }
    return line
  }

  /// The current time in strftime's `format`, in local time or with `utc` in UTC.
  static func now(_ format: String, utc: Bool = false) -> String {
    var time = Glibc.time(nil)
    var parts = tm()
    if utc { gmtime_r(&time, &parts) } else { localtime_r(&time, &parts) }
    var buffer = [CChar](repeating: 0, count: 256)
    let length = strftime(&buffer, buffer.count, format, &parts)
    return String(decoding: buffer[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
  }

  /// A JSON string literal.
  static func quoted(_ text: String) -> String {
    var result = "\""
    for scalar in text.unicodeScalars {
      switch scalar {
      case "\"": result += "\\\""
      case "\\": result += "\\\\"
      case "\n": result += "\\n"
      case "\t": result += "\\t"
      case "\r": result += "\\r"
      default:
        if scalar.value < 0x20 {
          result +=
            "\\u" + String(repeating: "0", count: 4 - String(scalar.value, radix: 16).count)
            + String(scalar.value, radix: 16)
        } else {
          result.unicodeScalars.append(scalar)
        }
      }
    }
    return result + "\""
  }
}

extension StringProtocol {
  /// The text without leading and trailing spaces.
  func trimmingCharacters() -> String {
    String(drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
  }
}

/// The working folder, or nil if it cannot be read.
private func workingFolder() -> FilePath? {
  var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
  guard getcwd(&buffer, buffer.count) != nil else { return nil }
  return buffer.withUnsafeBufferPointer { FilePath(platformString: $0.baseAddress!) }
}
