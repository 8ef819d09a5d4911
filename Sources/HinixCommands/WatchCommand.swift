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
      goes to standard error once watching has begun. Exit status: 0 after --count events, \
      1 on an error, 2 on a usage error, 3 when --timeout passes without an event.
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

  @Option(name: [.short, .long], help: "Exit after this many events.")
  var count: Int?

  @Option(name: [.short, .long], help: "Exit with status 3 when no event comes for this many seconds.")
  var timeout: Double?

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
    return kinds.isEmpty ? .all : kinds
  }

  func validate() throws {
    if paths.isEmpty { throw ValidationError("name at least one file or folder to watch") }
    _ = try kinds()
    if let count, count < 1 { throw ValidationError("--count must be at least 1") }
    if let timeout, !(timeout > 0 && timeout <= 86400 * 365) {
      throw ValidationError("--timeout must be above 0 and at most a year of seconds")
    }
    if json && format != nil { throw ValidationError("--json and --format cannot be used together") }
    if !exclude.isEmpty && !recursive { throw ValidationError("--exclude needs -r") }
  }

  func run() throws {
    let kinds = try kinds()
    let watcher = try FileWatcher()
    for path in paths {
      if recursive {
        try watcher.watchRecursively(FilePath(path), for: kinds, excluding: exclude)
      } else {
        try watcher.watch(FilePath(path), for: kinds)
      }
    }
    Tool.report("Watches established.", prefix: false)
    let format = self.format.map(EventFormat.init) ?? EventFormat("%w %e %f")
    var printed = 0
    while count.map({ printed < $0 }) ?? true {
      let batch: [FileWatcher.Event]
      if let timeout {
        guard case .completed(let events) = try watcher.read(timeout: .seconds(timeout)) else {
          throw ToolError.timedOut("no event within \(timeout) s")
        }
        batch = events
      } else {
        batch = try watcher.read()
      }
      var text = ""
      for event in batch where count.map({ printed < $0 }) ?? true {
        text += json ? EventFormat.json(event) : format.render(event, timeFormat: timefmt)
        text += "\n"
        printed += 1
      }
      try writeOut(text)
    }
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
  func render(_ event: FileWatcher.Event, timeFormat: String) -> String {
    var line = ""
    for piece in pieces {
      switch piece {
      case .text(let text): line += text
      case .watched: line += EventFormat.watched(event)
      case .name: line += event.name.map { FilePath(root: nil, [$0]).printable } ?? ""
      case .events(let separator):
        line += "\(event.kinds)".split(separator: ",").joined(separator: separator)
      case .time: line += EventFormat.now(timeFormat)
      }
    }
    return line
  }

  /// `%w`: the folder the event came through with a trailing `/`, or the watched file.
  static func watched(_ event: FileWatcher.Event) -> String {
    let text = event.directory.printable
    guard event.name != nil || event.isDirectory, !text.hasSuffix("/") else { return text }
    return text + "/"
  }

  static func now(_ format: String) -> String {
    var time = Glibc.time(nil)
    var parts = tm()
    localtime_r(&time, &parts)
    var buffer = [CChar](repeating: 0, count: 256)
    let length = strftime(&buffer, buffer.count, format, &parts)
    return String(decoding: buffer[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
  }

  /// One JSON object for `event`.
  static func json(_ event: FileWatcher.Event) -> String {
    var fields = [
      "\"path\":\(quoted(event.path.printable))",
      "\"watched\":\(quoted(event.directory.printable))",
      "\"name\":\(event.name.map { quoted(FilePath(root: nil, [$0]).printable) } ?? "null")",
      "\"events\":[\("\(event.kinds)".split(separator: ",").map { quoted(String($0)) }.joined(separator: ","))]",
      "\"cookie\":\(event.cookie)",
    ]
    if let from = event.movedFrom { fields.append("\"movedFrom\":\(quoted(from.printable))") }
    if let to = event.movedTo { fields.append("\"movedTo\":\(quoted(to.printable))") }
    if event.isFromScan { fields.append("\"fromScan\":true") }
    return "{" + fields.joined(separator: ",") + "}"
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
