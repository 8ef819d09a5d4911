import Glibc
import Synchronization
import SystemPackage

/// File and directory changes through inotify, decoded into events that name the file, with
/// renames paired and recursive watching that loses nothing.
///
/// ```swift
/// let watcher = try FileWatcher()
/// try watcher.watchRecursively("/srv/data", for: [.created, .closedAfterWriting, .moved, .deleted])
/// for try await event in watcher.events {
///   print(event.path, event.kinds)          // /srv/data/a/b/f CREATE
/// }
/// ```
///
/// **Renames.** The kernel reports a rename inside the watched set as two events with one
/// cookie. A watcher pairs them within the read that brought them (when a read ends between
/// the two, it takes what is already queued, without waiting): the `MOVED_FROM` event carries
/// ``Event/movedTo`` and the `MOVED_TO` event ``Event/movedFrom``. A move out of the watched
/// set has no partner: ``Event/isMoveOut``; a move in: ``Event/isMoveIn``.
///
/// **Recursive watching** (``watchRecursively(_:for:excluding:)``) watches every directory
/// of a tree. A directory that appears is watched *before* it is scanned, and what the scan
/// finds is reported as created (``Event/isFromScan``), so `mkdir -p a/b/c && touch a/b/c/f`
/// never loses `f`; an entry the scan reported is not reported again by the kernel's own
/// event. What happened to a file before its folder was watched is not known: a file already
/// written and closed there is reported as created only. Directories deleted or moved out
/// drop their watches; renamed ones keep them under their new path. A recursive watch does not
/// report folders being opened, read or closed (`OPEN`, `ACCESS`, `CLOSE_NOWRITE` with
/// `ISDIR`): its own scans do that; files' are reported.
///
/// The kernel keys watches by inode, so a folder has one watch per watcher: a tree never takes
/// over a folder that another watch of the same watcher has (a plain watch, or another tree's),
/// which keeps its own kinds. ``watchRecursively(_:for:excluding:)`` refuses such a tree, and
/// a folder moved into a tree later is reported with ``Event/watchError`` (`.alreadyExists`)
/// and left to its watch; when that plain watch is unwatched, the tree takes the folder up.
/// Use a second watcher for overlapping watches.
///
/// **Overflow.** When the kernel's queue (`/proc/sys/fs/inotify/max_queued_events`) fills,
/// events are lost and the kernel says so: the watcher reports an event with
/// ``Kinds/overflow`` that no filter hides, and for recursive watches rescans the trees and
/// reports what changed (created and deleted entries) as ordinary events.
///
/// **Raw reads.** ``tryReadRaw(_:)``, ``blockingReadRaw(_:)`` and ``readRaw(reactor:_:)`` lend each
/// kernel event to a closure as it lies in the read buffer (``RawEvent``): no `Event` is made,
/// nothing is allocated per event, and nothing is paired or filtered, for a program that reads
/// storms of events and looks at a few fields. They add about 30 instructions per event to
/// what C's own loop over `struct inotify_event` executes (decoding adds about 200), next to
/// the kernel's work for each event (`Benchmarks/instructions.sh`). A watcher reads either raw
/// or decoded events, as its first read decides; one with a recursive watch reads decoded
/// events.
///
/// **Watch descriptors.** The kernel reuses watch descriptors. Events queued for a watch that
/// was removed keep the path that watch had, until the kernel confirms the removal
/// (`IN_IGNORED`); they are never labelled with another watch's path.
public final class FileWatcher: Sendable {
  /// Kinds of change (inotify's event mask).
  public struct Kinds: OptionSet, Sendable, Hashable, CustomStringConvertible {
    /// The inotify mask.
    public let rawValue: UInt32

    /// Creates a set from an inotify mask.
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// A file was read (`IN_ACCESS`).
    public static let accessed = Kinds(rawValue: Sys.inAccess)
    /// A file was written (`IN_MODIFY`).
    public static let modified = Kinds(rawValue: Sys.inModify)
    /// Permissions, owner, timestamps or links changed (`IN_ATTRIB`).
    public static let attributesChanged = Kinds(rawValue: Sys.inAttrib)
    /// A file opened for writing was closed (`IN_CLOSE_WRITE`).
    public static let closedAfterWriting = Kinds(rawValue: Sys.inCloseWrite)
    /// A file not opened for writing was closed (`IN_CLOSE_NOWRITE`).
    public static let closedWithoutWriting = Kinds(rawValue: Sys.inCloseNoWrite)
    /// A file or directory was opened (`IN_OPEN`).
    public static let opened = Kinds(rawValue: Sys.inOpen)
    /// An entry was renamed away from the watched directory (`IN_MOVED_FROM`).
    public static let movedFrom = Kinds(rawValue: Sys.inMovedFrom)
    /// An entry was renamed into the watched directory (`IN_MOVED_TO`).
    public static let movedTo = Kinds(rawValue: Sys.inMovedTo)
    /// An entry was created in the watched directory (`IN_CREATE`).
    public static let created = Kinds(rawValue: Sys.inCreate)
    /// An entry was deleted from the watched directory (`IN_DELETE`).
    public static let deleted = Kinds(rawValue: Sys.inDelete)
    /// The watched file or directory itself was deleted (`IN_DELETE_SELF`).
    public static let deletedSelf = Kinds(rawValue: Sys.inDeleteSelf)
    /// The watched file or directory itself was moved (`IN_MOVE_SELF`).
    public static let movedSelf = Kinds(rawValue: Sys.inMoveSelf)
    /// The filesystem holding the watched object was unmounted (`IN_UNMOUNT`; always reported).
    public static let unmounted = Kinds(rawValue: Sys.inUnmount)
    /// The kernel's queue overflowed and events were lost (`IN_Q_OVERFLOW`; always reported).
    public static let overflow = Kinds(rawValue: Sys.inOverflow)
    /// The watch was removed, explicitly or because its object is gone (`IN_IGNORED`).
    public static let ignored = Kinds(rawValue: Sys.inIgnored)
    /// The subject of the event is a directory (`IN_ISDIR`).
    public static let isDirectory = Kinds(rawValue: Sys.inIsDirectory)

    /// Both kinds of close.
    public static let closed: Kinds = [.closedAfterWriting, .closedWithoutWriting]
    /// Both halves of a rename.
    public static let moved: Kinds = [.movedFrom, .movedTo]
    /// Every kind of change a watch can ask for.
    public static let all: Kinds = [
      .accessed, .modified, .attributesChanged, .closed, .opened, .moved, .created, .deleted, .deletedSelf,
      .movedSelf,
    ]

    /// The names inotifywait uses, in its order.
    static let names: [(Kinds, String)] = [
      (.accessed, "ACCESS"), (.modified, "MODIFY"), (.attributesChanged, "ATTRIB"),
      (.closedAfterWriting, "CLOSE_WRITE"), (.closedWithoutWriting, "CLOSE_NOWRITE"), (.opened, "OPEN"),
      (.movedFrom, "MOVED_FROM"), (.movedTo, "MOVED_TO"), (.created, "CREATE"), (.deleted, "DELETE"),
      (.deletedSelf, "DELETE_SELF"), (.movedSelf, "MOVE_SELF"), (.unmounted, "UNMOUNT"),
      (.overflow, "Q_OVERFLOW"), (.ignored, "IGNORED"), (.isDirectory, "ISDIR"),
    ]

    /// The inotifywait names of the kinds in the set, comma-joined: `CREATE,ISDIR`.
    public var description: String {
      Kinds.names.filter { contains($0.0) }.map(\.1).joined(separator: ",")
    }

    /// The set an inotifywait event name (`CREATE`, `close_write`, `move`, `close`, `all_events`)
    /// stands for; nil for an unknown name.
    public init?(name: some StringProtocol) {
      let upper = name.uppercased()
      switch upper {
      case "CLOSE": self = .closed
      case "MOVE": self = .moved
      case "ALL_EVENTS", "ALL": self = .all
      case "MOVE_SELF", "MOVED_SELF": self = .movedSelf
      default:
        guard let match = Kinds.names.first(where: { $0.1 == upper }) else { return nil }
        self = match.0
      }
    }
  }

  /// How a watch treats its path.
  public struct Options: OptionSet, Sendable, Hashable {
    /// The option bits (inotify's).
    public let rawValue: UInt32

    /// Creates a set from inotify's option bits.
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// Fail unless the path is a directory (`IN_ONLYDIR`).
    public static let onlyDirectory = Options(rawValue: Sys.inOnlyDirectory)
    /// Watch a symbolic link itself, not its target (`IN_DONT_FOLLOW`).
    public static let doNotFollowLinks = Options(rawValue: Sys.inDontFollow)
    /// No events for entries unlinked from the directory while still open (`IN_EXCL_UNLINK`).
    public static let excludeUnlinked = Options(rawValue: Sys.inExcludeUnlinked)
    /// Report one event, then remove the watch (`IN_ONESHOT`).
    public static let oneShot = Options(rawValue: Sys.inOneShot)
  }

  /// One change.
  public struct Event: Sendable, Hashable, CustomStringConvertible {
    /// What happened; includes ``Kinds/isDirectory`` when the subject is a directory.
    public var kinds: Kinds
    /// The watched path the event came through (inotifywait's `%w`, without its trailing `/`).
    public var directory: FilePath
    /// The entry's name inside ``directory``; nil when the event is about the watched object
    /// itself (inotifywait's `%f`).
    public var name: FilePath.Component? {
      get { storedName.isEmpty ? nil : storedName.asComponent }
      set { storedName = newValue.map(EntryName.init) ?? EntryName() }
    }
    /// The kernel's cookie: the same for the two halves of one rename; 0 otherwise.
    public var cookie: UInt32
    /// Whether a recursive watcher's scan found this entry (a creation the kernel could not
    /// report, because the directory was not watched yet, or a change found after an overflow).
    public var isFromScan: Bool
    /// The name as read, without an allocation when it is short; empty for none (not an
    /// optional: an optional's copies went through the runtime's generic enum witnesses).
    var storedName: EntryName
    /// What few events carry (a rename's other half, an overflow's limit, a watch's error),
    /// boxed: a smaller event is cheaper to decode, copy and free.
    private var extras: Extras?

    /// For an overflow: the queue's limit when the watcher was made, for the description.
    var queueLimit: String? {
      get { extras?.values.queueLimit }
      set { update { $0.queueLimit = newValue } }
    }

    /// For a folder of a recursive tree that could not be watched (``Kinds/ignored`` with
    /// ``Kinds/isDirectory``): why, such as the watch limit. Nothing below it is reported.
    public var watchError: HinixError? {
      get { extras?.values.watchError }
      set { update { $0.watchError = newValue } }
    }

    init(kinds: Kinds, directory: FilePath, name: FilePath.Component?, cookie: UInt32, isFromScan: Bool) {
      self.init(
        kinds: kinds, directory: directory, storedName: name.map(EntryName.init) ?? EntryName(),
        cookie: cookie)
      self.isFromScan = isFromScan
    }

    init(kinds: Kinds, directory: FilePath, storedName: EntryName, cookie: UInt32, isFromScan: Bool = false) {
      self.kinds = kinds
      self.directory = directory
      self.storedName = storedName
      self.cookie = cookie
      self.isFromScan = isFromScan
    }

    /// Whether two events report the same change.
    public static func == (left: Event, right: Event) -> Bool {
      left.kinds == right.kinds && left.directory == right.directory && left.storedName == right.storedName
        && left.cookie == right.cookie && left.isFromScan == right.isFromScan
        && left.movedFrom == right.movedFrom && left.movedTo == right.movedTo
        && left.watchError == right.watchError
    }

    /// Hashes what identifies the change.
    public func hash(into hasher: inout Hasher) {
      hasher.combine(kinds)
      hasher.combine(directory)
      hasher.combine(storedName)
      hasher.combine(cookie)
      hasher.combine(movedFrom)
      hasher.combine(movedTo)
    }

    /// For a `MOVED_TO` paired with its `MOVED_FROM`: where the entry was.
    public var movedFrom: FilePath? {
      get { extras?.values.movedFrom }
      set { update { $0.movedFrom = newValue } }
    }

    /// For a `MOVED_FROM` paired with its `MOVED_TO`: where the entry went.
    public var movedTo: FilePath? {
      get { extras?.values.movedTo }
      set { update { $0.movedTo = newValue } }
    }

    /// Changes a copy of the extras (they are shared between copies of the event).
    private mutating func update(_ change: (inout Extras.Values) -> Void) {
      var values = extras?.values ?? Extras.Values()
      change(&values)
      extras = Extras(values)
    }

    private final class Extras: Sendable {
      struct Values {
        var movedFrom: FilePath?
        var movedTo: FilePath?
        var queueLimit: String?
        var watchError: HinixError?
      }

      let values: Values

      init(_ values: Values) {
        self.values = values
      }
    }

    /// The path of the entry: ``directory`` and ``name``.
    public var path: FilePath {
      guard let name else { return directory }
      return directory.appending(name)
    }

    /// Whether the subject is a directory.
    public var isDirectory: Bool { kinds.contains(.isDirectory) }

    /// A rename out of the watched set: a `MOVED_FROM` without its `MOVED_TO`.
    public var isMoveOut: Bool { kinds.contains(.movedFrom) && movedTo == nil }

    /// A rename into the watched set: a `MOVED_TO` without its `MOVED_FROM`.
    public var isMoveIn: Bool { kinds.contains(.movedTo) && movedFrom == nil }

    /// `PATH KINDS`, as `inotifywait --format '%w%f %e'` prints it; for an overflow, what was
    /// lost and the limit that was reached.
    public var description: String {
      if kinds.contains(.overflow) {
        return "Q_OVERFLOW: events were lost; the kernel's queue holds \(queueLimit ?? "?")"
      }
      return "\(path.printable) \(kinds)"
    }
  }

  /// A watch, as ``watch(_:for:options:)`` made it.
  public struct Watch: Sendable, Hashable {
    /// The kernel's watch descriptor.
    public let descriptor: Int32
    /// The path watched.
    public let path: FilePath
  }

  /// Reading a folder: not reported by recursive watches, which read folders themselves.
  private static let folderReads: Kinds = [.opened, .accessed, .closedWithoutWriting]

  /// What one directory of a recursive tree knows. A class, shared by the tree's entries: an
  /// event takes one reference to it, not one to each of its fields.
  fileprivate final class Tree: Sendable {
    let root: FilePath
    let kinds: Kinds
    let excluded: [String]

    init(root: FilePath, kinds: Kinds, excluded: [String]) {
      self.root = root
      self.kinds = kinds
      self.excluded = excluded
    }
  }

  /// One watch. A class: events look it up and change it in place, without copying its table
  /// of children.
  fileprivate final class Entry {
    var path: FilePath
    /// Set for the directories of a recursive watch.
    let tree: Tree?
    /// Kinds to report (a recursive watch asks the kernel for more than it reports).
    let kinds: Kinds
    /// The entries of a recursive tree's directory, as the watcher last knew them.
    var children: [EntryName: Child] = [:]
    /// Removed by Hinix; events still queued for it keep its path until `IN_IGNORED`.
    var removed = false
    /// Whether the user asked for this watch (its `IN_IGNORED` is reported).
    var explicit: Bool
    /// The mask this watch asks the kernel for, put back when another watch's
    /// `inotify_add_watch` reached the same inode.
    let mask: UInt32

    init(path: FilePath, tree: Tree?, kinds: Kinds, mask: UInt32, explicit: Bool) {
      self.path = path
      self.tree = tree
      self.kinds = kinds
      self.mask = mask
      self.explicit = explicit
    }
  }

  /// One entry of a tree's directory: whether it is a directory, and its inode (0 when only
  /// an event told of it).
  fileprivate struct Child: Equatable {
    var isDirectory: Bool
    var inode: UInt64

    /// Whether `other` is plausibly the same entry (inodes compared only when both are known).
    func matches(_ other: Child) -> Bool {
      isDirectory == other.isDirectory && (inode == 0 || other.inode == 0 || inode == other.inode)
    }
  }

  /// The watches by descriptor, and an index of them by path, so that a recursive walk finds
  /// a folder's earlier watch without visiting every watch (32k folders took 18 s that way).
  fileprivate struct Entries {
    private(set) var all: [Int32: Entry] = [:]
    /// Usually one watch a path; a second while a replaced folder's watch is being removed.
    private var byPath: [FilePath: Slot] = [:]

    private enum Slot {
      case one(Int32)
      case many([Int32])

      var descriptors: [Int32] {
        switch self {
        case .one(let descriptor): [descriptor]
        case .many(let descriptors): descriptors
        }
      }
    }

    subscript(descriptor: Int32) -> Entry? {
      get { all[descriptor] }
      set {
        if let old = all[descriptor] { unindex(descriptor, at: old.path) }
        all[descriptor] = newValue
        if let newValue { index(descriptor, at: newValue.path) }
      }
    }

    /// The descriptors of the watches at `path` (removed ones too, until the kernel confirms).
    func at(_ path: FilePath) -> [Int32] { byPath[path]?.descriptors ?? [] }

    private mutating func index(_ descriptor: Int32, at path: FilePath) {
      if let slot = byPath[path] {
        byPath[path] = .many(slot.descriptors + [descriptor])
      } else {
        byPath[path] = .one(descriptor)
      }
    }

    /// The watches at `path` that are not removed.
    func live(at path: FilePath) -> [Entry] {
      at(path).compactMap { all[$0] }.filter { !$0.removed }
    }

    /// Gives the watch `descriptor` a new path.
    mutating func setPath(_ path: FilePath, of descriptor: Int32) {
      guard let entry = all[descriptor], entry.path != path else { return }
      unindex(descriptor, at: entry.path)
      entry.path = path
      index(descriptor, at: path)
    }

    private mutating func unindex(_ descriptor: Int32, at path: FilePath) {
      guard let slot = byPath[path] else { return }
      let rest = slot.descriptors.filter { $0 != descriptor }
      byPath[path] = rest.isEmpty ? nil : rest.count == 1 ? .one(rest[0]) : .many(rest)
    }
  }

  private struct State {
    var entries = Entries()
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: FileWatcher.readCapacity, alignment: 8)
    /// How this watcher reads, fixed by its first read or its first recursive watch: decoded
    /// and raw reads do not mix (a raw read skips the upkeep that decoding and trees need).
    var style: ReadStyle = .undecided
    /// Folders a tree left to a plain watch that had them (by that watch's descriptor): the
    /// tree takes each up, under the path it knows, when that watch ends.
    var lentFolders: [Int32: (path: FilePath, tree: Tree)] = [:]
    /// The device and inode each plain watch reached, by its descriptor, so that a tree finds a
    /// folder a plain watch has before its `inotify_add_watch` touches that watch's mask.
    var plainObjects: [Int32: FileObject] = [:]
    /// The same, by device and inode.
    var plainOwners: [FileObject: Int32] = [:]

    /// Records (or, with nil, forgets) the object the plain watch `descriptor` reached.
    mutating func setPlainObject(_ object: FileObject?, of descriptor: Int32) {
      if let old = plainObjects.removeValue(forKey: descriptor), plainOwners[old] == descriptor {
        plainOwners[old] = nil
      }
      guard let object else { return }
      plainObjects[descriptor] = object
      plainOwners[object] = descriptor
    }
  }

  /// A file's device and inode: what the kernel keys a watch by.
  struct FileObject: Hashable {
    let device: UInt64
    let inode: UInt64
  }

  /// How a watcher reads its events.
  enum ReadStyle {
    case undecided
    case decoded
    case raw
  }

  /// Raw reads, one at a time, and their read buffer's address (made at the first, 0 until
  /// then; an address, as a pointer is not `Sendable`): held across one
  /// `read` and the calls of the closure for what it read (not while a blocking form waits),
  /// so two raw readers never split the order of one read between them.
  private let rawReader = Mutex<UInt>(0)
  /// The thread holding ``rawReader`` (0 for none), so that a raw read from inside a raw read's
  /// closure is refused instead of waiting for itself.
  private let rawReaderThread = Atomic<UInt>(0)

  private let handle: OwnedDescriptor
  private let state: Mutex<State>
  /// `/proc/sys/fs/inotify/max_queued_events = N` when the instance was made (its queue's size).
  private let queueLimit = FileWatcher.limit("max_queued_events")

  /// The inotify descriptor, still owned by this watcher.
  public var descriptor: FileDescriptor { handle.descriptor }

  /// Creates an inotify instance (close-on-exec, non-blocking) with no watches.
  ///
  /// - Throws: `.limitExceeded` at the per-user limit of instances
  ///   (`/proc/sys/fs/inotify/max_user_instances`, its value in the message).
  /// The corresponding C function is `inotify_init1`.
  public init() throws(HinixError) {
    switch Sys.inotify() {
    case .success(let fd):
      handle = OwnedDescriptor(adopting: FileDescriptor(rawValue: fd))
      state = Mutex(State())
    case .failure(let error):
      throw HinixError.system(error, "inotify_init1", subject: nil) { error in
        switch error {
        case .tooManyOpenFiles:
          (
            .limitExceeded,
            "the per-user limit of inotify instances (\(FileWatcher.limit("max_user_instances"))) or of "
              + "open descriptors is reached"
          )
        default: nil
        }
      }
    }
  }

  deinit {
    state.withLock { $0.buffer.deallocate() }
    rawReader.withLock { UnsafeMutableRawPointer(bitPattern: $0)?.deallocate() }
  }

  /// `/proc/sys/fs/inotify/NAME = VALUE`, for messages; for the per-user limits, also this
  /// user namespace's own (`/proc/sys/user/max_inotify_*`) when it differs.
  static func limit(_ name: String) -> String {
    let path = "/proc/sys/fs/inotify/\(name)"
    let value = procValue(path)
    let perNamespace =
      switch name {
      case "max_user_watches": "/proc/sys/user/max_inotify_watches"
      case "max_user_instances": "/proc/sys/user/max_inotify_instances"
      default: ""
      }
    if !perNamespace.isEmpty {
      let own = procValue(perNamespace)
      if own != value && own != "?" {
        return "\(path) = \(value); in this user namespace \(perNamespace) = \(own)"
      }
    }
    return "\(path) = \(value)"
  }

  // MARK: Watching

  /// Watches `path` (a file, or a directory and its entries) for `kinds`.
  ///
  /// Watching a path already watched by a plain watch replaces its kinds and returns the same
  /// watch (the kernel keys watches by inode); a folder of a recursive watch is refused.
  /// - Throws: `.notFound` for a missing path, `.permissionDenied` without read permission,
  ///   `.invalidArgument` for an empty set of kinds or (with `.onlyDirectory`) a path that
  ///   is not a directory, `.limitExceeded` at the per-user limit of watches
  ///   (`/proc/sys/fs/inotify/max_user_watches`, its value in the message).
  /// The corresponding C function is `inotify_add_watch`.
  @discardableResult
  public func watch(_ path: FilePath, for kinds: Kinds = .all, options: Options = []) throws(HinixError)
    -> Watch
  {
    let wanted = kinds.intersection(.all)
    if wanted.isEmpty {
      throw HinixError(
        .invalidArgument, operation: "inotify_add_watch", subject: path.printable,
        detail: "the set of kinds to watch is empty")
    }
    return try state.withLock { (state) throws(HinixError) -> Watch in
      // A folder of a recursive tree: a plain watch would replace the mask the tree needs.
      if let tree = state.entries.live(at: path).first?.tree {
        throw HinixError(
          .alreadyExists, operation: "inotify_add_watch", subject: path.printable,
          detail: "the path is watched already, as part of the recursive watch of \(tree.root.printable)")
      }
      let mask = wanted.rawValue | options.rawValue
      // Added to the mask first (and not one-shot), so that a tree's folder reached under
      // another path (a link) keeps what the tree needs while this finds out.
      let descriptor = try addWatch(path, mask: mask & ~Sys.inOneShot | Sys.inMaskAdd)
      if let known = state.entries[descriptor], known.tree != nil, !known.removed {
        restoreMask(known.mask, of: descriptor, at: path, in: state)
        throw HinixError(
          .alreadyExists, operation: "inotify_add_watch", subject: path.printable,
          detail: "the folder is watched already, as part of a recursive watch")
      }
      if state.entries[descriptor] != nil || mask & Sys.inOneShot != 0 {
        // Watched already by a plain watch, whose kinds this one replaces; or one-shot.
        restoreMask(mask, of: descriptor, at: path, in: state)
      }
      state.entries[descriptor] = Entry(path: path, tree: nil, kinds: wanted, mask: mask, explicit: true)
      state.setPlainObject(
        FileWatcher.object(at: path, followingLinks: !options.contains(.doNotFollowLinks)), of: descriptor)
      return Watch(descriptor: descriptor, path: path)
    }
  }

  /// Watches the directory `root` and every directory below it for `kinds`, following new
  /// directories as they appear (see "Recursive watching").
  ///
  /// `root` may be a symbolic link to a folder, which is followed; no link below it is. Each
  /// folder is opened from its parent's descriptor without following links, so a user who can
  /// write in the tree cannot make the watch report folders outside it.
  ///
  /// - Parameters:
  ///   - root: the directory at the top of the tree to watch.
  ///   - kinds: the kinds of event to report, for every directory of the tree; not empty.
  ///   - excluding: glob patterns (`fnmatch`) of paths not to watch or report: a
  ///     pattern with a `/` is matched against the path relative to `root` (`build/*`), one
  ///     without against each name (`.git`, `*.tmp`).
  /// - Throws: as ``watch(_:for:options:)``; `.invalidArgument` when `root` is not a
  ///   directory; `.alreadyExists` when a folder of the tree is watched already by another
  ///   watch of this watcher (a plain watch, or another recursive one), named in the message.
  @discardableResult
  public func watchRecursively(_ root: FilePath, for kinds: Kinds = .all, excluding: [String] = [])
    throws(HinixError) -> Watch
  {
    let wanted = kinds.intersection(.all)
    if wanted.isEmpty {
      throw HinixError(
        .invalidArgument, operation: "inotify_add_watch", subject: root.printable,
        detail: "the set of kinds to watch is empty")
    }
    let tree = Tree(root: root, kinds: wanted, excluded: excluding)
    return try state.withLock { (state) throws(HinixError) -> Watch in
      if state.style == .raw {
        throw HinixError(
          .invalidArgument, operation: "inotify_add_watch", subject: root.printable,
          detail: "this watcher reads raw events, which keep no tree up to date; use another watcher")
      }
      if !state.entries.live(at: root).isEmpty {
        throw HinixError(
          .alreadyExists, operation: "inotify_add_watch", subject: root.printable,
          detail: "this watcher watches the path already; unwatch it first")
      }
      var ignored: [Event] = []
      var failures: [(FilePath, HinixError)] = []
      let made = add(
        root, tree: tree, synthesize: false, explicit: true, in: &state, reporting: &ignored,
        failures: &failures)
      if let (path, error) = failures.first {
        // All or nothing: the watches this call made go again.
        drop(made, in: &state)
        for descriptor in made { state.entries[descriptor] = nil }
        var failure = error
        if path != root { failure.detail += " (\(path.printable), below \(root.printable))" }
        throw failure
      }
      guard let descriptor = state.entries.at(root).first(where: { state.entries[$0]?.tree?.root == root })
      else {
        throw HinixError(
          .notFound, operation: "inotify_add_watch", subject: root.printable, detail: "the directory vanished"
        )
      }
      state.style = .decoded
      return Watch(descriptor: descriptor, path: root)
    }
  }

  /// Stops watching; events already queued for the watch still arrive, with its path.
  ///
  /// The corresponding C function is `inotify_rm_watch`.
  public func unwatch(_ watch: Watch) throws(HinixError) {
    // Listed, marked removed and removed under one lock: a read in another task must not
    // decode, in between, a folder's creation in a part of the tree not marked yet (its upkeep
    // would watch the new folder, a watch that outlives the tree), nor a tree being added take a
    // descriptor about to go.
    try state.withLock { (state) throws(HinixError) in
      guard let entry = state.entries[watch.descriptor] else {
        throw HinixError(
          .notFound, operation: "inotify_rm_watch", subject: watch.path.printable,
          detail: "watch \(watch.descriptor) is not a watch of this watcher")
      }
      let descriptors: [Int32]
      if let tree = entry.tree, entry.path == tree.root {
        // A recursive root: the whole tree.
        descriptors = state.entries.all.filter { $0.value.tree?.root == tree.root }.map(\.key)
      } else {
        descriptors = [watch.descriptor]
      }
      for descriptor in descriptors { state.entries[descriptor]?.removed = true }
      var failure: HinixError?
      for descriptor in descriptors {
        switch Sys.removeWatch(self.descriptor.rawValue, descriptor) {
        case .success, .failure(.invalidArgument):
          break  // EINVAL: the kernel removed it already (its object is gone)
        case .failure(let error):
          failure = failure ?? HinixError.system(error, "inotify_rm_watch", subject: watch.path.printable)
        }
      }
      // A plain watch of a folder that a tree had to leave to it: the tree takes the folder up.
      takeUp(watch.descriptor, in: &state)
      if let failure { throw failure }
    }
  }

  /// Watches, for the tree that left it, a folder whose plain watch `descriptor` ended.
  private func takeUp(_ descriptor: Int32, in state: inout State) {
    guard let lent = state.lentFolders.removeValue(forKey: descriptor),
      state.entries.all.values.contains(where: { $0.tree === lent.tree && !$0.removed })
    else { return }
    var found: [Event] = []
    var failures: [(FilePath, HinixError)] = []
    add(
      lent.path, tree: lent.tree, synthesize: false, explicit: false, in: &state, reporting: &found,
      failures: &failures)
  }

  /// The watches in force, by the path each watches.
  public var watches: [Watch] {
    state.withLock { state in
      state.entries.all.filter { !$0.value.removed }.map { Watch(descriptor: $0.key, path: $0.value.path) }
        .sorted { $0.descriptor < $1.descriptor }
    }
  }

  /// Watches the open folder `folder`, found at `path`: through `/proc/self/fd`, which reaches
  /// exactly the folder opened (not following the magic link would watch the link), or, where
  /// `/proc` is not mounted, by its path without following a link.
  private func addWatch(_ folder: OpenFolder, _ path: FilePath, mask: UInt32) throws(HinixError) -> Int32 {
    switch Sys.addWatch(descriptor.rawValue, open: folder.descriptor, mask: mask & ~Sys.inDontFollow) {
    case .success(let watch): return watch
    case .failure(.noSuchFileOrDirectory) where (try? Sys.status(folder.descriptor).get()) != nil:
      return try addWatch(path, mask: mask)
    case .failure(let error): throw FileWatcher.watchFailure(error, path)
    }
  }

  private func addWatch(_ path: FilePath, mask: UInt32) throws(HinixError) -> Int32 {
    switch Sys.addWatch(descriptor.rawValue, path, mask: mask) {
    case .success(let descriptor): return descriptor
    case .failure(let error): throw FileWatcher.watchFailure(error, path)
    }
  }

  /// The error of `inotify_add_watch` for `path`.
  private static func watchFailure(_ error: Errno, _ path: FilePath) -> HinixError {
    HinixError.system(error, "inotify_add_watch", subject: path.printable) { error in
      switch error {
      case .noSpace:
        (
          .limitExceeded,
          "the per-user limit of inotify watches (\(FileWatcher.limit("max_user_watches"))) is reached"
        )
      case .notDirectory:
        (.invalidArgument, "not a directory")
      case .noSuchFileOrDirectory:
        (.notFound, "no such file or directory")
      default: nil
      }
    }
  }

  /// The device and inode at `path`, or nil if it cannot be read.
  private static func object(at path: FilePath, followingLinks: Bool) -> FileObject? {
    guard case .success(let status) = Sys.status(path, followingLinks: followingLinks) else { return nil }
    return FileObject(device: status.device, inode: status.inode)
  }

  /// The live plain watch that has the open folder `folder`, if any, found by its inode without
  /// a call to `inotify_add_watch`.
  private func plainOwner(of folder: OpenFolder, in state: borrowing State) -> Int32? {
    guard !state.plainOwners.isEmpty, case .success(let status) = Sys.status(folder.descriptor),
      let owner = state.plainOwners[FileObject(device: status.device, inode: status.inode)],
      state.entries[owner]?.removed == false
    else { return nil }
    return owner
  }

  /// Puts `mask` back as the mask of watch `descriptor`, which `path` reached. Should `path`
  /// name another inode by now (renamed meanwhile), the watch that call made there goes again,
  /// or, if it is one of this watcher's, gets its own mask back.
  private func restoreMask(_ mask: UInt32, of descriptor: Int32, at path: FilePath, in state: borrowing State)
  {
    // How `path` is looked up is settled: it reached this inode, through a link or not.
    let lookup = Sys.inOnlyDirectory | Sys.inDontFollow
    guard case .success(let reached) = Sys.addWatch(self.descriptor.rawValue, path, mask: mask & ~lookup),
      reached != descriptor
    else { return }
    if let other = state.entries[reached] {
      _ = Sys.addWatch(self.descriptor.rawValue, path, mask: other.mask & ~lookup)
    } else {
      _ = Sys.removeWatch(self.descriptor.rawValue, reached)
    }
  }

  /// The mask a recursive tree asks the kernel for: what the caller wants and what following
  /// the tree needs.
  private static func treeMask(_ kinds: Kinds) -> UInt32 {
    kinds.rawValue | Sys.inCreate | Sys.inMovedFrom | Sys.inMovedTo | Sys.inDelete | Sys.inDeleteSelf
      | Sys.inMoveSelf | Sys.inOnlyDirectory | Sys.inDontFollow
  }

  /// Watches `directory` and what is below it, each directory before its scan. With
  /// `synthesize`, reports each entry the scans find that the watcher did not know as created,
  /// and each it knew that is gone (or was replaced) as deleted. A directory that vanished
  /// before it could be watched is skipped; one that could not be watched for another reason
  /// (permission, the watch limit) is recorded in `failures` and skipped, its siblings still
  /// watched. Returns the watches this call made that did not exist before.
  @discardableResult
  private func add(
    _ directory: FilePath, tree: Tree, synthesize: Bool, explicit: Bool, in state: inout State,
    reporting events: inout [Event], failures: inout [(FilePath, HinixError)]
  ) -> [Int32] {
    var made: [Int32] = []
    // Each folder is opened from its parent's descriptor without following a link, so that a
    // folder swapped for a symbolic link while the walk runs (by a user who can write in the
    // tree) is never followed out of the tree; the first folder is reached from the root one
    // component at a time, the same way. The watch is added through the open descriptor.
    // Each folder below the first comes with its parent and its name (taking a path's last
    // component apart costs more than the rest of a folder's upkeep in a debug build).
    // A folder deeper than `heldLevels` below `directory` is opened from the root again (one
    // component at a time, never through a link) instead of from its parent, whose descriptor
    // is not kept: the walk holds at most that many descriptors, however deep a tree someone
    // made (a chain of thousands of nested folders would otherwise exhaust RLIMIT_NOFILE).
    let heldLevels = 32
    var pending: [(path: FilePath, parent: OpenFolder?, name: EntryName, depth: Int)] = [
      (directory, nil, EntryName(), 0)
    ]
    let mask = FileWatcher.treeMask(tree.kinds)
    while let (path, parent, name, depth) = pending.popLast() {
      #if DEBUG
        FileWatcher.beforeOpeningFolder.withLock { $0 }?(path)
      #endif
      let opened =
        if let parent, !name.isEmpty { parent.open(name) } else { OpenFolder.open(path, below: tree.root) }
      let folder: OpenFolder
      switch opened {
      case .success(let value): folder = value
      case .failure(let error):
        // Vanished, or replaced by a link or a file since it was seen: nothing to watch.
        let gone =
          error == .noSuchFileOrDirectory || error == .notDirectory || error == .tooManySymbolicLinkLevels
        if !gone || path == directory && explicit {
          failures.append((path, FileWatcher.openFailure(error, path)))
        }
        continue
      }
      if let owner = plainOwner(of: folder, in: state), let known = state.entries[owner] {
        // A plain watch has this folder: left to it, its mask untouched.
        state.lentFolders[owner] = (path, tree)
        failures.append((path, FileWatcher.watchedAlready(path, by: known)))
        continue
      }
      let descriptor: Int32
      do {
        // Added to the mask, not replacing it: a folder another watch of this watcher has
        // keeps that watch's kinds while this finds out (below).
        descriptor = try addWatch(folder, path, mask: mask | Sys.inMaskAdd)
      } catch {
        if error.code != .notFound && error.code != .invalidArgument || path == directory && explicit {
          failures.append((path, error))
        }
        continue
      }
      // A folder replaced under the same path: the old watch's events are over.
      let replaced = state.entries.at(path).filter { old in
        old != descriptor && state.entries[old]?.tree?.root == tree.root
      }
      if !replaced.isEmpty { drop(replaced, in: &state) }
      let entry: Entry
      if let known = state.entries[descriptor], known.tree?.root == tree.root {
        entry = known
        state.entries.setPath(path, of: descriptor)
      } else if let known = state.entries[descriptor], !known.removed {
        // The same inode as another watch of this watcher (a plain watch, or another tree's):
        // one watch per inode, so it stays that watch's, with its own mask, outside this tree.
        restoreMask(known.mask, of: descriptor, at: path, in: state)
        if known.tree == nil { state.lentFolders[descriptor] = (path, tree) }
        failures.append((path, FileWatcher.watchedAlready(path, by: known)))
        continue
      } else {
        entry = Entry(path: path, tree: tree, kinds: tree.kinds, mask: mask, explicit: false)
        state.entries[descriptor] = entry
        made.append(descriptor)
      }
      entry.removed = false
      if path == directory && explicit { entry.explicit = true }
      var now: [EntryName: Child] = [:]
      var subfolders: [EntryName] = []
      let listed = Sys.forEachEntry(of: folder.descriptor) { bytes, inode, type in
        // The name stays bytes; a component is made only for an exclusion to match or a type
        // to ask for.
        let name = EntryName(raw: bytes)
        if !tree.excluded.isEmpty, let component = name.asComponent,
          isExcluded(path.appending(component), in: tree)
        {
          return
        }
        var isDirectory = type == 0 ? nil : type == 4
        if isDirectory == nil, let component = name.asComponent,
          case .success(let status) = Sys.status(of: component, in: folder.descriptor)
        {
          isDirectory = status.isDirectory
        }
        now[name] = Child(isDirectory: isDirectory ?? false, inode: inode)
        if isDirectory == true { subfolders.append(name) }
      }
      guard case .success = listed else { continue }
      if synthesize {
        for (name, before) in entry.children where !(now[name].map(before.matches) ?? false) {
          let kinds: Kinds = before.isDirectory ? [.deleted, .isDirectory] : .deleted
          events.append(Event(kinds: kinds, directory: path, storedName: name, cookie: 0, isFromScan: true))
          if before.isDirectory, let component = name.asComponent {
            drop(watches(under: path.appending(component), in: tree, state), in: &state)
          }
        }
        for (name, child) in now where !(entry.children[name].map(child.matches) ?? false) {
          let kinds: Kinds = child.isDirectory ? [.created, .isDirectory] : .created
          events.append(Event(kinds: kinds, directory: path, storedName: name, cookie: 0, isFromScan: true))
        }
      }
      entry.children = now
      for name in subfolders {
        pending.append((name.appended(to: path), depth < heldLevels ? folder : nil, name, depth + 1))
      }
    }
    return made
  }

  #if DEBUG
    /// Called with each folder's path before a recursive walk opens it: a test's hook to change
    /// the tree in the middle of a walk (debug builds only).
    static let beforeOpeningFolder = Mutex<(@Sendable (FilePath) -> Void)?>(nil)
  #endif

  /// A folder a recursive walk opened (read-only, close-on-exec, not through a link), closed
  /// when the last folder below it that still waits to be opened is.
  private final class OpenFolder {
    let descriptor: Int32

    private init(_ descriptor: Int32) {
      self.descriptor = descriptor
    }

    deinit { _ = Sys.close(descriptor) }

    private static let flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW

    /// Opens `path`, a folder at or below `root`: the root by its path (a link given as the
    /// root is followed, as `find -H` and `inotifywait -r` follow their arguments), then each
    /// component below it from its parent, none through a link.
    static func open(_ path: FilePath, below root: FilePath) -> Result<OpenFolder, Errno> {
      var relative = path
      guard relative.removePrefix(root) else { return Sys.open(path, flags).map(OpenFolder.init) }
      var folder: OpenFolder
      switch Sys.open(root, O_RDONLY | O_DIRECTORY) {
      case .success(let fd): folder = OpenFolder(fd)
      case .failure(let error): return .failure(error)
      }
      for name in relative.components {
        switch folder.open(name) {
        case .success(let next): folder = next
        case .failure(let error): return .failure(error)
        }
      }
      return .success(folder)
    }

    /// Opens the folder `name` in this one.
    func open(_ name: FilePath.Component) -> Result<OpenFolder, Errno> {
      Sys.open(name, in: descriptor, OpenFolder.flags).map(OpenFolder.init)
    }

    /// Opens the folder `name` in this one.
    func open(_ name: EntryName) -> Result<OpenFolder, Errno> {
      name.withCString { Sys.open($0, in: descriptor, OpenFolder.flags) }.map(OpenFolder.init)
    }
  }

  /// The error of opening a tree's folder at `path`.
  private static func openFailure(_ error: Errno, _ path: FilePath) -> HinixError {
    HinixError.system(error, "open", subject: path.printable) { error in
      switch error {
      case .noSuchFileOrDirectory: (.notFound, "no such file or directory")
      case .notDirectory: (.invalidArgument, "not a directory")
      case .tooManySymbolicLinkLevels:
        (.invalidArgument, "a symbolic link, which a recursive watch does not follow")
      case .tooManyOpenFiles, .tooManyOpenFilesInSystem:
        (.limitExceeded, "no descriptor left to open the folder")
      default: nil
      }
    }
  }

  /// Why a tree leaves the folder at `path` to the watch `owner`.
  private static func watchedAlready(_ path: FilePath, by owner: Entry) -> HinixError {
    let name =
      owner.tree.map { "the recursive watch of \($0.root.printable)" } ?? "a watch of \(owner.path.printable)"
    return HinixError(
      .alreadyExists, operation: "inotify_add_watch", subject: path.printable,
      detail: "the folder is watched already by \(name); a folder has one watch per watcher")
  }

  /// The watches of a tree at `path` and below it, found through the folders' children (not
  /// by visiting every watch of the watcher).
  private func watches(under path: FilePath, in tree: Tree, _ state: borrowing State) -> [Int32] {
    var found: [Int32] = []
    var seen = Set<Int32>()
    var pending = [path]
    while let folder = pending.popLast() {
      for descriptor in state.entries.at(folder) where !seen.contains(descriptor) {
        guard let entry = state.entries[descriptor], entry.tree?.root == tree.root else { continue }
        found.append(descriptor)
        seen.insert(descriptor)
        for (name, child) in entry.children where child.isDirectory {
          if let component = name.asComponent { pending.append(folder.appending(component)) }
        }
      }
    }
    return found
  }

  /// Removes watches; events still queued for them keep their paths until the kernel confirms
  /// (`IN_IGNORED`), unless the kernel had removed them already.
  private func drop(_ descriptors: [Int32], in state: inout State) {
    for descriptor in descriptors {
      state.entries[descriptor]?.removed = true
      if case .failure(.invalidArgument) = Sys.removeWatch(self.descriptor.rawValue, descriptor) {
        state.entries[descriptor] = nil
      }
    }
  }

  /// The events for folders of a tree that could not be watched.
  private static func failed(_ failures: [(FilePath, HinixError)]) -> [Event] {
    failures.map { path, error in
      var event = Event(
        kinds: [.ignored, .isDirectory], directory: path.removingLastComponent(), name: path.lastComponent,
        cookie: 0,
        isFromScan: true)
      event.watchError = error
      return event
    }
  }

  private func isExcluded(_ path: FilePath, in tree: Tree) -> Bool {
    guard !tree.excluded.isEmpty, let name = path.lastComponent?.string else { return false }
    var relative = path
    _ = relative.removePrefix(tree.root)
    let relativeText = relative.string
    for pattern in tree.excluded {
      let subject = pattern.contains("/") ? relativeText : name
      if fnmatch(pattern, subject, 0) == 0 { return true }
    }
    return false
  }

  // MARK: Reading

  /// Reads the events queued, blocking the thread until there is at least one.
  ///
  /// The corresponding C function is `read`.
  @available(*, noasync, message: "blocks its thread; use `await read()` in async code")
  public func blockingRead() throws(HinixError) -> [Event] {
    try read(waiting: .forever)!
  }

  /// Reads the events queued: ``Outcome/wouldBlock`` when there are none.
  public func tryRead() throws(HinixError) -> Outcome<[Event]> {
    Waiting.never.outcome(try read(waiting: .never))
  }

  /// Reads the events queued, blocking the thread at most `timeout`: ``Outcome/timedOut``
  /// when none came.
  @available(*, noasync, message: "blocks its thread; use `await read()` in async code")
  public func blockingRead(timeout: Duration) throws(HinixError) -> Outcome<[Event]> {
    try Waiting.timed(timeout) { (waiting) throws(HinixError) in try read(waiting: waiting) }
  }

  /// Reads the events queued, suspending the task (not its thread) until there is one.
  public func read(reactor: Reactor = .shared) async throws -> [Event] {
    try await reactor.perform(.readable, on: descriptor, strategy: .sleep, history: .none) {
      () throws(HinixError) in
      try read(waiting: .never)
    }
  }

  /// Every event, one at a time, as an async sequence through the shared reactor; it keeps the
  /// watcher alive.
  public var events: EventSequence { BatchSequence { [self] in try await read() } }

  /// The events, one at a time (see ``events``).
  public typealias EventSequence = BatchSequence<Event>

  /// One read (and its decoding), waiting as `waiting` says; nil when the form gave up. An
  /// empty batch is possible when every event was filtered out: the blocking forms then wait
  /// again.
  private func read(waiting: Waiting) throws(HinixError) -> [Event]? {
    while true {
      let batch = try state.withLock { (state) throws(HinixError) -> [Event]? in
        if state.style == .raw {
          throw HinixError(
            .invalidArgument, operation: "read", subject: "inotify \(descriptor.rawValue)",
            detail: "this watcher reads raw events (readRaw); decoded and raw reads do not mix")
        }
        state.style = .decoded
        var batch = Batch()
        guard try readOnce(into: &batch, state: &state) else { return nil }
        // A rename split across reads: take its second half if it is queued already.
        while batch.endsWithMoveOut, try readOnce(into: &batch, state: &state) {}
        return finish(batch, in: &state)
      }
      if let batch, !batch.isEmpty { return batch }
      if batch != nil { continue }  // all filtered out: read again
      let subject = "inotify \(descriptor.rawValue)"
      guard try waiting.poll(descriptor.rawValue, for: Int16(POLLIN), operation: "read", subject: subject)
      else {
        return nil
      }
    }
  }

  /// The kinds whose events need more than a label: a rename's halves (paired), a watch's end,
  /// an overflow, an unmount (always reported). An overflow's descriptor is -1, which is also
  /// `Batch.lastDescriptor` with no watch kept: only this mask keeps it off the short path.
  private static let upkeepMask =
    Sys.inMovedFrom | Sys.inMovedTo | Sys.inIgnored | Sys.inOverflow | Sys.inUnmount

  /// The events of one read (or of two, when a rename's halves were split between them).
  private struct Batch {
    var events: [Event] = []
    /// MOVED_FROM events not paired yet, by cookie.
    var moves: [UInt32: Move] = [:]
    var overflowed = false
    /// Whether the last raw event was a MOVED_FROM, whose partner may be in the next read.
    var endsWithMoveOut = false
    /// The last plain watch looked up: a storm in one folder looks its watch up once. Only
    /// plain watches are kept, and only until an event about a tree or a removed watch, the
    /// only ones that change the table while a batch is decoded.
    var lastDescriptor: Int32 = -1
    var lastEntry: Entry?
    /// That watch's path and kinds, for the common case to read without retaining the entry.
    var lastPath = FilePath()
    var lastKinds: UInt32 = 0
  }

  /// The first half of a rename, waiting for its second.
  private struct Move {
    /// Where the entry was.
    var path: FilePath
    var isDirectory: Bool
    /// The event's index in the batch, if it is reported.
    var index: Int?
    /// The tree it left (for a folder of a recursive tree) and the watches of that folder and
    /// below, taken when the first half came: a folder made at the old path later in the same
    /// batch must keep its own.
    var tree: Tree?
    var watches: [Int32]
  }

  /// Reads once without waiting and decodes what it read into `batch`; false when nothing
  /// was queued.
  private func readOnce(into batch: inout Batch, state: inout State) throws(HinixError) -> Bool {
    let buffer = state.buffer
    let count: Int
    switch Sys.read(descriptor.rawValue, buffer) {
    case .success(let value): count = value
    case .failure(.resourceTemporarilyUnavailable): return false
    case .failure(let error):
      throw HinixError.system(error, "read", subject: "inotify \(descriptor.rawValue)")
    }
    // struct inotify_event: wd (4), mask (4), cookie (4), len (4), name (len bytes, NUL-padded).
    batch.events.reserveCapacity(batch.events.count + count / 32)
    var offset = 0
    while offset + 16 <= count {
      let length = Int(buffer.loadUnaligned(fromByteOffset: offset + 12, as: UInt32.self))
      // A record the kernel could not have written ends the batch.
      guard offset + 16 + length <= count else { break }
      // The name is NUL-padded to its record's length, and holds no NUL itself: its end is
      // the last byte that is not NUL, found a word at a time (on a little-endian machine, a
      // word's trailing bytes are its most significant).
      let start = offset + 16
      var end = start + length
      while end - start >= 8 {
        let word = buffer.loadUnaligned(fromByteOffset: end - 8, as: UInt64.self).littleEndian
        end -= word == 0 ? 8 : word.leadingZeroBitCount / 8
        if word != 0 { break }
      }
      if end - start < 8 {
        while end > start && buffer[end - 1] == 0 { end -= 1 }
      }
      let name = EntryName(raw: UnsafeRawBufferPointer(rebasing: buffer[start..<end]))
      let descriptor = buffer.loadUnaligned(fromByteOffset: offset, as: Int32.self)
      let mask = buffer.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self)
      let cookie = buffer.loadUnaligned(fromByteOffset: offset + 8, as: UInt32.self)
      if descriptor == batch.lastDescriptor, mask & FileWatcher.upkeepMask == 0 {
        // The common case: another event of the plain watch just looked up, neither a rename's
        // half nor a watch's end, so nothing to pair or keep up: reported if asked for.
        if mask & batch.lastKinds != 0 {
          batch.events.append(
            Event(
              kinds: Kinds(rawValue: mask), directory: batch.lastPath, storedName: consume name,
              cookie: cookie))
        }
      } else {
        decode(descriptor: descriptor, mask: mask, cookie: cookie, name: name, into: &batch, state: &state)
      }
      batch.endsWithMoveOut = mask & Sys.inMovedFrom != 0
      offset += 16 + length
    }
    return true
  }

  /// Turns one raw event into what is reported: its label, its rename partner, the tree's
  /// upkeep, the filter.
  private func decode(
    descriptor: Int32, mask: UInt32, cookie: UInt32, name: EntryName, into batch: inout Batch,
    state: inout State
  ) {
    let kinds = Kinds(rawValue: mask)
    if kinds.contains(.overflow) {
      batch.overflowed = true
      var event = Event(kinds: .overflow, directory: FilePath(), name: nil, cookie: 0, isFromScan: false)
      event.queueLimit = queueLimit
      batch.events.append(event)
      return
    }
    let entry: Entry
    if descriptor == batch.lastDescriptor, let known = batch.lastEntry {
      entry = known
    } else {
      guard let found = state.entries[descriptor] else { return }
      entry = found
      // A tree's event may add watches (a new folder), so it also forgets the plain one kept.
      batch.lastDescriptor = found.tree == nil ? descriptor : -1
      batch.lastEntry = found.tree == nil ? found : nil
      batch.lastPath = found.path
      batch.lastKinds = found.kinds.rawValue
    }
    let directory = entry.path
    if kinds.contains(.ignored) {
      batch.lastDescriptor = -1
      batch.lastEntry = nil
      state.entries[descriptor] = nil
      state.setPlainObject(nil, of: descriptor)
      takeUp(descriptor, in: &state)
      if entry.explicit && !entry.removed && entry.tree == nil {
        batch.events.append(
          Event(kinds: kinds, directory: directory, name: nil, cookie: 0, isFromScan: false))
      }
      return
    }
    var event = Event(kinds: kinds, directory: directory, storedName: name, cookie: cookie)
    // The name's component and the entry's path, each made at most once, and only for the
    // events that need them (trees and renames): a plain watch's event makes neither.
    var knownComponent: FilePath.Component??
    func component() -> FilePath.Component? {
      if case .some(let known) = knownComponent { return known }
      let made = name.isEmpty ? nil : name.asComponent
      knownComponent = .some(made)
      return made
    }
    var knownPath: FilePath?
    func path() -> FilePath {
      if let knownPath { return knownPath }
      let made = component().map { directory.appending($0) } ?? directory
      knownPath = made
      return made
    }
    let tree = entry.tree
    // The path is built only for a tree with exclusions, not for every event of every tree.
    let excluded = !name.isEmpty && tree.map { !$0.excluded.isEmpty && isExcluded(path(), in: $0) } == true
    // Pair the halves of a rename, whether or not each half is reported.
    var renamedInTree = false
    if kinds.contains(.movedTo), let move = batch.moves.removeValue(forKey: cookie) {
      event.movedFrom = move.path
      if let index = move.index { batch.events[index].movedTo = path() }
      if move.isDirectory, !move.watches.isEmpty {
        if let tree, move.tree?.root == tree.root, !excluded, !entry.removed {
          // Inside one tree: the watches follow the inodes and take the new paths.
          rename(move.watches, from: move.path, to: path(), in: &state)
          renamedInTree = true
        } else {
          // Out of its tree (into another, a plain watch or an excluded name): its watches go;
          // a tree it lands in watches it anew below.
          drop(move.watches, in: &state)
        }
      }
    }
    // An unmount is always reported.
    var reported = !kinds.intersection(entry.kinds.union(.unmounted)).isEmpty
    if let tree {
      if excluded { return }
      // A folder opened, read or closed: the tree's own scans do that, so not reported.
      if kinds.contains(.isDirectory), kinds.subtracting(.isDirectory).isSubset(of: FileWatcher.folderReads) {
        return
      }
      if !name.isEmpty {
        // An entry a scan of this directory reported already.
        if kinds.contains(.created) && entry.children[name] != nil { reported = false }
        if kinds.contains(.created) || kinds.contains(.movedTo) {
          entry.children[name] = Child(isDirectory: kinds.contains(.isDirectory), inode: 0)
        }
        if kinds.contains(.deleted) || kinds.contains(.movedFrom) { entry.children[name] = nil }
      }
      if kinds.contains(.deletedSelf) || kinds.contains(.movedSelf), directory != tree.root {
        // A directory inside the tree: its parent's event reports it.
        if kinds.contains(.deletedSelf) { entry.removed = true }
        return
      }
      // No upkeep for a watch that was removed (the tree unwatched while the event was
      // queued): a folder watched now would outlive the tree, and report after the unwatch.
      if kinds.contains(.isDirectory) && !renamedInTree && !entry.removed
        && (kinds.contains(.created) || kinds.contains(.movedTo))
      {
        // A new directory in the tree: watched, then scanned; what the scan finds is created.
        var found: [Event] = []
        var failures: [(FilePath, HinixError)] = []
        add(
          path(), tree: tree, synthesize: true, explicit: false, in: &state, reporting: &found,
          failures: &failures)
        if reported { batch.events.append(consume event) }
        batch.events += found.filter { !$0.kinds.intersection(tree.kinds).isEmpty }
        batch.events += FileWatcher.failed(failures)
        return
      }
    }
    if kinds.contains(.movedFrom) {
      let watches =
        kinds.contains(.isDirectory) && tree != nil ? self.watches(under: path(), in: tree!, state) : []
      batch.moves[cookie] = Move(
        path: path(), isDirectory: kinds.contains(.isDirectory),
        index: reported ? batch.events.count : nil,
        tree: tree, watches: watches)
    }
    if reported { batch.events.append(consume event) }
  }

  /// Ends a batch: folders moved out of a tree lose their watches; after an overflow, each
  /// tree is scanned again and what changed is reported.
  private func finish(_ batch: Batch, in state: inout State) -> [Event] {
    var events = batch.events
    for move in batch.moves.values where move.isDirectory {
      drop(move.watches, in: &state)
    }
    if batch.overflowed {
      let trees = Dictionary(
        state.entries.all.values.filter { !$0.removed }.compactMap { $0.tree }.map { ($0.root, $0) },
        uniquingKeysWith: { first, _ in first })
      // A folder that moved from one tree to another while events were lost is still the old
      // tree's when the new one is scanned first: tried again once every tree is scanned.
      var again: [(FilePath, Tree)] = []
      for tree in trees.values.sorted(by: { $0.root.string < $1.root.string }) {
        var found: [Event] = []
        var failures: [(FilePath, HinixError)] = []
        add(
          tree.root, tree: tree, synthesize: true, explicit: true, in: &state, reporting: &found,
          failures: &failures)
        events += found.filter { !$0.kinds.intersection(tree.kinds).isEmpty }
        again += failures.filter { $0.1.code == .alreadyExists }.map { ($0.0, tree) }
        events += FileWatcher.failed(failures.filter { $0.1.code != .alreadyExists })
      }
      for (path, tree) in again {
        var found: [Event] = []
        var failures: [(FilePath, HinixError)] = []
        add(
          path, tree: tree, synthesize: true, explicit: false, in: &state, reporting: &found,
          failures: &failures)
        events += found.filter { !$0.kinds.intersection(tree.kinds).isEmpty }
        events += FileWatcher.failed(failures)
      }
    }
    return events
  }

  /// Folders of a tree renamed inside it: their watches (which follow the inodes) take the
  /// new paths.
  private func rename(_ descriptors: [Int32], from old: FilePath, to new: FilePath, in state: inout State) {
    for descriptor in descriptors {
      guard let entry = state.entries[descriptor] else { continue }
      var path = entry.path
      _ = path.removePrefix(old)
      state.entries.setPath(new.pushing(path), of: descriptor)
    }
  }
}

// MARK: Reading without decoding

extension FileWatcher {
  /// One event as the kernel queued it, lent to the closure of a raw read for that call only
  /// (it cannot be copied out of it): no rename pairing, no filter, nothing copied or allocated.
  public struct RawEvent: ~Copyable {
    /// What happened: the kernel's mask, with ``Kinds/isDirectory`` for a directory entry.
    public let kinds: Kinds
    /// The number shared by the two halves of a rename; 0 for other events.
    public let cookie: UInt32
    /// The entry's name as the kernel gave it (no NUL), empty for an event about the watched
    /// object itself. The bytes belong to the read's buffer: copy them to keep them.
    public let nameBytes: UnsafeRawBufferPointer
    /// The watch the event came from, kept alive by the read for the call (not retained per
    /// event); nil for an overflow.
    fileprivate unowned(unsafe) let entry: Entry?

    /// The path of the watch the event came from: the folder when ``nameBytes`` is not empty,
    /// else the watched file or folder itself. Empty for ``Kinds/overflow``.
    public var directory: FilePath { entry?.path ?? FilePath() }

    /// The entry's name as a path component (an allocation); nil when the event has none.
    public var name: FilePath.Component? { EntryName(raw: nameBytes).asComponent }
  }

  /// Reads the events queued and calls `body` with each, in the kernel's order, without
  /// decoding them into ``Event``s: for a program that reads storms of events and looks at a
  /// few fields of each, nothing is allocated per event. ``Outcome/wouldBlock`` when none were
  /// queued; else how many were passed (at least one).
  ///
  /// A watcher reads either raw or decoded events, as its first read (or recursive watch)
  /// decides: raw reads skip the upkeep that decoding needs (rename pairing, trees). `body`
  /// may call this watcher's other methods, but not read from it again.
  /// - Throws: `.invalidArgument` for a watcher that reads decoded events or made a recursive
  ///   watch, or a raw read from inside a raw read's closure.
  public func tryReadRaw(_ body: (borrowing RawEvent) -> Void) throws(HinixError) -> Outcome<Int> {
    Waiting.never.outcome(try readRaw(waiting: .never, body))
  }

  /// Reads the events queued, blocking the thread until there is at least one, and calls
  /// `body` with each (see ``tryReadRaw(_:)``); how many were passed (at least one).
  @available(*, noasync, message: "blocks its thread; use `await readRaw(_:)` in async code")
  public func blockingReadRaw(_ body: (borrowing RawEvent) -> Void) throws(HinixError) -> Int {
    try readRaw(waiting: .forever, body)!
  }

  /// Reads the events queued, suspending the task (not its thread) until there is one, and
  /// calls `body` with each (see ``tryReadRaw(_:)``); how many were passed (at least one).
  public nonisolated(nonsending) func readRaw(
    reactor: Reactor = .shared, _ body: (borrowing RawEvent) -> Void
  ) async throws -> Int {
    try await reactor.perform(.readable, on: descriptor, strategy: .sleep, history: .none) {
      () throws(HinixError) in
      try readRaw(waiting: .never, body)
    }
  }

  /// One raw read, waiting as `waiting` says; nil when the form gave up.
  private func readRaw(waiting: Waiting, _ body: (borrowing RawEvent) -> Void) throws(HinixError) -> Int? {
    let subject = "inotify \(descriptor.rawValue)"
    try state.withLock { (state) throws(HinixError) in
      if state.style == .decoded {
        throw HinixError(
          .invalidArgument, operation: "read", subject: subject,
          detail:
            "this watcher reads decoded events (read(), or a recursive watch); decoded and raw reads do not mix"
        )
      }
      state.style = .raw
    }
    let thread = Sys.currentThread
    if rawReaderThread.load(ordering: .relaxed) == thread {
      throw HinixError(
        .invalidArgument, operation: "read", subject: subject,
        detail: "a raw read from inside a raw read's closure; read again after it returns")
    }
    while true {
      let passed = try rawReader.withLock { (address) throws(HinixError) -> Int? in
        rawReaderThread.store(thread, ordering: .relaxed)
        defer { rawReaderThread.store(0, ordering: .relaxed) }
        let start =
          UnsafeMutableRawPointer(bitPattern: address)
          ?? UnsafeMutableRawPointer.allocate(byteCount: FileWatcher.readCapacity, alignment: 8)
        address = UInt(bitPattern: start)
        return try readRawOnce(
          into: UnsafeMutableRawBufferPointer(start: start, count: FileWatcher.readCapacity),
          subject: subject,
          body)
      }
      if let passed { return passed }
      // Nothing queued: wait (outside the lock, so other raw readers are not held up).
      guard try waiting.poll(descriptor.rawValue, for: Int16(POLLIN), operation: "read", subject: subject)
      else {
        return nil
      }
    }
  }

  /// The size of the buffer each read fills, decoded or raw.
  static let readCapacity = 65536

  /// Reads into `buffer` without waiting until a read passes at least one event to `body`;
  /// nil when nothing is queued. The caller holds ``rawReader``, which guards `buffer`.
  private func readRawOnce(
    into buffer: UnsafeMutableRawBufferPointer, subject: String, _ body: (borrowing RawEvent) -> Void
  ) throws(HinixError) -> Int? {
    while true {
      switch Sys.read(descriptor.rawValue, buffer) {
      case .success(let count):
        let passed = passRaw(UnsafeRawBufferPointer(rebasing: buffer[..<count]), body)
        // Every event was for a watch this watcher no longer knows: read again.
        if passed > 0 { return passed }
      case .failure(.resourceTemporarilyUnavailable):
        return nil
      case .failure(.interrupted):
        continue
      case .failure(let error):
        throw HinixError.system(error, "read", subject: subject)
      }
    }
  }

  /// Calls `body` with each event in `buffer`, the bytes of one read; how many there were.
  private func passRaw(_ buffer: UnsafeRawBufferPointer, _ body: (borrowing RawEvent) -> Void) -> Int {
    // The last watch looked up, held (so events can lend it unretained) until it changes: a
    // storm in one folder takes the lock once per read.
    var lastDescriptor: Int32?
    var lastEntry: Entry?
    var passed = 0
    var offset = 0
    // Read once: each static is a lazy global, checked on every use inside the loop.
    let overflow = Kinds.overflow.rawValue
    let ignored = Kinds.ignored.rawValue
    while offset + 16 <= buffer.count {
      let length = Int(buffer.loadUnaligned(fromByteOffset: offset + 12, as: UInt32.self))
      guard offset + 16 + length <= buffer.count else { break }
      let watch = buffer.loadUnaligned(fromByteOffset: offset, as: Int32.self)
      let mask = buffer.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self)
      let cookie = buffer.loadUnaligned(fromByteOffset: offset + 8, as: UInt32.self)
      // The name is NUL-padded to its record's length.
      let nameStart = buffer.baseAddress! + offset + 16
      let name = UnsafeRawBufferPointer(
        start: nameStart,
        count: length == 0 ? 0 : strnlen(nameStart.assumingMemoryBound(to: CChar.self), length))
      offset += 16 + length
      if mask & overflow != 0 {
        body(RawEvent(kinds: Kinds(rawValue: mask), cookie: 0, nameBytes: name, entry: nil))
        passed += 1
        continue
      }
      if watch != lastDescriptor || mask & ignored != 0 {
        let entry = state.withLock { state -> Entry? in
          guard let entry = state.entries[watch] else { return nil }
          // The kernel confirmed the watch's removal: its number may be reused from now on.
          if mask & ignored != 0 { state.entries[watch] = nil }
          return entry
        }
        // A watch this watcher no longer knows (its IN_IGNORED came already).
        guard let entry else { continue }
        lastDescriptor = mask & ignored != 0 ? nil : watch
        lastEntry = entry
      }
      // `lastEntry` keeps the watch alive while `body` looks at it.
      withExtendedLifetime(lastEntry) {
        body(RawEvent(kinds: Kinds(rawValue: mask), cookie: cookie, nameBytes: name, entry: lastEntry))
      }
      passed += 1
    }
    return passed
  }
}
