import Glibc
import Synchronization
import SystemPackage

/// A fanotify group: file access events for whole mounts or filesystems as well as single files
/// and folders, with the pid of the process that caused each, and permission events that let
/// this process allow or deny an open, read or exec before it happens.
///
/// ```swift
/// let monitor = try Fanotify(class: .content, defaultAnswer: .allow)
/// try monitor.mark("/srv/secrets", for: [.openPermission], options: .eventsOnChildren)
/// for try await event in monitor.events {
///   try event.permission?.respond(event.pid == trusted ? .allow : .deny)
/// }
/// ```
///
/// **Privileges.** Everything but one case needs `CAP_SYS_ADMIN`: since Linux 5.13 a process
/// without it may still create a `.notification` group that reports file ids
/// (`reportFileIDs: true`) and mark single files and folders (`.inode` scope); mount and
/// filesystem marks and permission events stay privileged. The errors say which.
///
/// **Events.** Without `reportFileIDs`, each event carries an open descriptor of the file
/// (``Event/file``, read-only, close-on-exec, closed when the event is released) and its path
/// read back from `/proc/self/fd`. With it, events carry file identifiers and, for events in a
/// folder, the folder's identifier and the entry's name, and no descriptor.
///
/// **Permission events** block the process that caused them until they are answered. The
/// answer is ``PermissionRequest/respond(_:)``; if the request is released unanswered, or
/// `permissionTimeout` passes first, the group sends `defaultAnswer` itself, so no watched
/// process can hang on a handler that is gone or stuck. The kernel allows every pending event
/// when the group is closed.
public final class Fanotify: Sendable {
  /// The kind of group: which events it may receive and in which order the kernel asks.
  public enum GroupClass: Sendable, Hashable {
    /// Notification events only (`FAN_CLASS_NOTIF`).
    case notification
    /// Permission events too, asked after the file's content is final (`FAN_CLASS_CONTENT`).
    case content
    /// Permission events too, asked before the content is final, for hierarchical storage
    /// managers (`FAN_CLASS_PRE_CONTENT`).
    case preContent

    var flags: UInt32 {
      switch self {
      case .notification: Sys.fanClassNotification
      case .content: Sys.fanClassContent
      case .preContent: Sys.fanClassPreContent
      }
    }
  }

  /// Kinds of event (fanotify's mask).
  public struct Kinds: OptionSet, Sendable, Hashable, CustomStringConvertible {
    /// The fanotify mask.
    public let rawValue: UInt64

    /// Creates a set from a fanotify mask.
    public init(rawValue: UInt64) { self.rawValue = rawValue }

    /// A file was read (`FAN_ACCESS`).
    public static let accessed = Kinds(rawValue: Sys.fanAccess)
    /// A file was written (`FAN_MODIFY`).
    public static let modified = Kinds(rawValue: Sys.fanModify)
    /// Metadata changed (`FAN_ATTRIB`; file-id groups only).
    public static let attributesChanged = Kinds(rawValue: Sys.fanAttrib)
    /// A file opened for writing was closed (`FAN_CLOSE_WRITE`).
    public static let closedAfterWriting = Kinds(rawValue: Sys.fanCloseWrite)
    /// A file not opened for writing was closed (`FAN_CLOSE_NOWRITE`).
    public static let closedWithoutWriting = Kinds(rawValue: Sys.fanCloseNoWrite)
    /// A file was opened (`FAN_OPEN`).
    public static let opened = Kinds(rawValue: Sys.fanOpen)
    /// A file was opened to be executed (`FAN_OPEN_EXEC`).
    public static let openedForExec = Kinds(rawValue: Sys.fanOpenExec)
    /// An entry was moved away from a marked folder (`FAN_MOVED_FROM`; file-id groups only).
    public static let movedFrom = Kinds(rawValue: Sys.fanMovedFrom)
    /// An entry was moved into a marked folder (`FAN_MOVED_TO`; file-id groups only).
    public static let movedTo = Kinds(rawValue: Sys.fanMovedTo)
    /// An entry was created in a marked folder (`FAN_CREATE`; file-id groups only).
    public static let created = Kinds(rawValue: Sys.fanCreate)
    /// An entry was deleted from a marked folder (`FAN_DELETE`; file-id groups only).
    public static let deleted = Kinds(rawValue: Sys.fanDelete)
    /// A marked object was deleted (`FAN_DELETE_SELF`; file-id groups only).
    public static let deletedSelf = Kinds(rawValue: Sys.fanDeleteSelf)
    /// A marked object was moved (`FAN_MOVE_SELF`; file-id groups only).
    public static let movedSelf = Kinds(rawValue: Sys.fanMoveSelf)
    /// The queue overflowed and events were lost (`FAN_Q_OVERFLOW`; always reported).
    public static let overflow = Kinds(rawValue: Sys.fanOverflow)
    /// Asks whether a file may be opened (`FAN_OPEN_PERM`; content groups).
    public static let openPermission = Kinds(rawValue: Sys.fanOpenPermission)
    /// Asks whether a file may be read (`FAN_ACCESS_PERM`; content groups).
    public static let accessPermission = Kinds(rawValue: Sys.fanAccessPermission)
    /// Asks whether a file may be opened for exec (`FAN_OPEN_EXEC_PERM`; content groups).
    public static let openExecPermission = Kinds(rawValue: Sys.fanOpenExecPermission)
    /// The subject is a directory (`FAN_ONDIR`).
    public static let isDirectory = Kinds(rawValue: Sys.fanOnDirectory)

    /// The permission kinds.
    public static let permissions: Kinds = [.openPermission, .accessPermission, .openExecPermission]

    static let names: [(Kinds, String)] = [
      (.accessed, "ACCESS"), (.modified, "MODIFY"), (.attributesChanged, "ATTRIB"),
      (.closedAfterWriting, "CLOSE_WRITE"), (.closedWithoutWriting, "CLOSE_NOWRITE"), (.opened, "OPEN"),
      (.openedForExec, "OPEN_EXEC"), (.movedFrom, "MOVED_FROM"), (.movedTo, "MOVED_TO"), (.created, "CREATE"),
      (.deleted, "DELETE"), (.deletedSelf, "DELETE_SELF"), (.movedSelf, "MOVE_SELF"),
      (.overflow, "Q_OVERFLOW"),
      (.openPermission, "OPEN_PERM"), (.accessPermission, "ACCESS_PERM"),
      (.openExecPermission, "OPEN_EXEC_PERM"),
      (.isDirectory, "ISDIR"),
    ]

    /// The names of the kinds in the set, comma-joined, as `hinix watch` prints them.
    public var description: String {
      Kinds.names.filter { contains($0.0) }.map(\.1).joined(separator: ",")
    }
  }

  /// What a mark covers.
  public enum Scope: Sendable, Hashable {
    /// The file or folder itself (and with ``MarkOptions/eventsOnChildren`` its entries).
    case inode
    /// Every file on the mount holding the path (`FAN_MARK_MOUNT`; needs `CAP_SYS_ADMIN`).
    case mount
    /// Every file on the filesystem holding the path (`FAN_MARK_FILESYSTEM`; needs `CAP_SYS_ADMIN`).
    case filesystem

    var flags: UInt32 {
      switch self {
      case .inode: Sys.fanMarkInode
      case .mount: Sys.fanMarkMount
      case .filesystem: Sys.fanMarkFilesystem
      }
    }
  }

  /// How a mark treats its path and what it reports.
  public struct MarkOptions: OptionSet, Sendable, Hashable {
    /// The option bits.
    public let rawValue: UInt32

    /// Creates a set from its bits.
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// Report events on a marked folder's entries too (`FAN_EVENT_ON_CHILD`).
    public static let eventsOnChildren = MarkOptions(rawValue: 1 << 0)
    /// Report events on directories too (`FAN_ONDIR`).
    public static let onDirectories = MarkOptions(rawValue: 1 << 1)
    /// Mark a symbolic link itself (`FAN_MARK_DONT_FOLLOW`).
    public static let doNotFollowLinks = MarkOptions(rawValue: 1 << 2)
    /// Fail unless the path is a directory (`FAN_MARK_ONLYDIR`).
    public static let onlyDirectory = MarkOptions(rawValue: 1 << 3)

    var markFlags: UInt32 {
      (contains(.doNotFollowLinks) ? Sys.fanMarkDontFollow : 0)
        | (contains(.onlyDirectory) ? Sys.fanMarkOnlyDirectory : 0)
    }

    var maskBits: UInt64 {
      (contains(.eventsOnChildren) ? Sys.fanEventOnChild : 0)
        | (contains(.onDirectories) ? Sys.fanOnDirectory : 0)
    }
  }

  /// An answer to a permission event.
  public enum Answer: Sendable, Hashable {
    /// Let the access happen (`FAN_ALLOW`).
    case allow
    /// Refuse it: the process's call fails with `EPERM` (`FAN_DENY`).
    case deny
  }

  /// A file identifier (file-id groups): the filesystem's id and the file handle.
  public struct FileID: Sendable, Hashable {
    /// The filesystem id (`fsid`).
    public var filesystem: UInt64
    /// The handle's type.
    public var handleType: Int32
    /// The handle's bytes.
    public var handle: [UInt8]
  }

  /// One event.
  public struct Event: Sendable {
    /// What happened; ``Kinds/isDirectory`` when the subject is a directory.
    public var kinds: Kinds
    /// The process (or with `FAN_REPORT_TID`, thread) that caused it.
    public var pid: pid_t
    /// An open descriptor of the file (descriptor groups), closed when the last copy of the
    /// event is released.
    public var file: AdoptedDescriptor?
    /// The file's path, read back from the descriptor (descriptor groups); nil when it could
    /// not be (the file was deleted, or no descriptor came).
    public var path: FilePath?
    /// The file's identifier (file-id groups).
    public var fileID: FileID?
    /// The folder's identifier (file-id groups, events about an entry of a folder).
    public var directoryID: FileID?
    /// The entry's name in that folder (file-id groups).
    public var name: FilePath.Component?
    /// For a permission event, the request to answer.
    public var permission: PermissionRequest?
  }

  /// The question a permission event asks; answer it once with ``respond(_:)``. If it is
  /// released unanswered, or its group's `permissionTimeout` passes, the group's default
  /// answer is sent.
  public final class PermissionRequest: Sendable {
    private let group: Fanotify
    private let file: AdoptedDescriptor
    private let answered = Atomic<Bool>(false)
    /// The task that sends the default answer when the time runs out; cancelled by an answer.
    private let timeout = Mutex<Task<Void, Never>?>(nil)

    init(group: Fanotify, file: AdoptedDescriptor) {
      self.group = group
      self.file = file
    }

    deinit {
      _ = answer(group.defaultAnswer)
    }

    /// Whether an answer has been sent.
    public var isAnswered: Bool { answered.load(ordering: .acquiring) }

    /// Sends `answer`: the waiting process goes on (allowed) or its call fails with `EPERM`.
    ///
    /// - Throws: `.invalidArgument` when the request was answered already (by this call, by
    ///   the timeout or because the group closed).
    /// The corresponding C function is `write` of a `struct fanotify_response`.
    public func respond(_ answer: Answer) throws(HinixError) {
      switch self.answer(answer) {
      case .success(true): return
      case .success(false):
        throw HinixError(
          .invalidArgument, operation: "write", subject: "fanotify \(group.descriptor.rawValue)",
          detail: "this permission request was answered already")
      case .failure(let error):
        throw HinixError.system(error, "write", subject: "fanotify \(group.descriptor.rawValue)")
      }
    }

    /// Sends the group's default answer unless an answer went already.
    func answerIfPending() { _ = answer(group.defaultAnswer) }

    /// Keeps the task that answers when the time runs out, to cancel it on an earlier answer.
    func watchdog(_ task: Task<Void, Never>) {
      timeout.withLock { $0 = task }
      if isAnswered { task.cancel() }
    }

    /// Sends `answer` if none went yet: true if this call sent it.
    private func answer(_ answer: Answer) -> Result<Bool, Errno> {
      guard !answered.exchange(true, ordering: .acquiringAndReleasing) else { return .success(false) }
      let result = Sys.fanotifyRespond(
        group.descriptor.rawValue, eventFile: file.descriptor.rawValue, allow: answer == .allow)
      switch result {
      case .success, .failure(.noSuchFileOrDirectory):
        // ENOENT: the kernel no longer waits for this answer (the group was closed).
        timeout.withLock { $0?.cancel() }
      case .failure:
        // Not sent: a later answer (the timeout's, the release's) may still get through.
        answered.store(false, ordering: .releasing)
      }
      return result.map { true }
    }
  }

  private let handle: OwnedDescriptor
  /// Whether events carry file ids instead of descriptors.
  public let reportsFileIDs: Bool
  /// The answer sent for a permission request released unanswered or not answered in time.
  public let defaultAnswer: Answer
  /// How long a permission request may wait for its answer.
  public let permissionTimeout: Duration
  /// The read buffer, allocated once the group exists (a failed init must not leak it).
  private let buffer: Mutex<UnsafeMutableRawBufferPointer>

  /// The group's descriptor, still owned by this value.
  public var descriptor: FileDescriptor { handle.descriptor }

  /// Creates a fanotify group (close-on-exec, non-blocking).
  ///
  /// - Parameters:
  ///   - groupClass: `.notification`, or `.content`/`.preContent` for permission events.
  ///   - reportFileIDs: events carry file ids and names instead of open descriptors
  ///     (`FAN_REPORT_FID | FAN_REPORT_DFID_NAME`, Linux 5.9); needed for create, delete and
  ///     move events, and for a process without `CAP_SYS_ADMIN`.
  ///   - defaultAnswer: what an unanswered permission request gets.
  ///   - permissionTimeout: how long a permission request may stay unanswered (above zero).
  /// - Throws: `.permissionDenied` without `CAP_SYS_ADMIN` for what needs it (the message
  ///   says what is allowed without); `.invalidArgument` for a combination the kernel does
  ///   not support; `.limitExceeded` at `/proc/sys/fs/fanotify/max_user_groups`.
  /// The corresponding C function is `fanotify_init`.
  public init(
    class groupClass: GroupClass = .notification, reportFileIDs: Bool = false, defaultAnswer: Answer = .allow,
    permissionTimeout: Duration = .seconds(5)
  ) throws(HinixError) {
    if permissionTimeout <= .zero {
      throw HinixError(
        .invalidArgument, operation: "fanotify_init",
        detail: "a permission timeout of \(permissionTimeout) is not above zero")
    }
    var flags = groupClass.flags
    if reportFileIDs { flags |= Sys.fanReportFileID | Sys.fanReportDirectoryIDAndName }
    switch Sys.fanotify(flags: flags) {
    case .success(let fd):
      handle = OwnedDescriptor(adopting: FileDescriptor(rawValue: fd))
    case .failure(let error):
      throw HinixError.system(error, "fanotify_init", subject: nil) { error in
        switch error {
        case .notPermitted, .permissionDenied:
          (
            .permissionDenied,
            "fanotify needs CAP_SYS_ADMIN here; without it (Linux 5.13 and later) only a .notification "
              + "group with reportFileIDs and .inode marks is allowed"
          )
        case .invalidArgument:
          (
            .invalidArgument,
            "this kernel does not support this group (\(groupClass), file ids \(reportFileIDs))"
          )
        case .tooManyOpenFiles:
          (
            .limitExceeded,
            "the per-user limit of fanotify groups (\(Fanotify.limit("max_user_groups"))) or of open descriptors is reached"
          )
        case .noFunction:
          (.invalidArgument, "this kernel has no fanotify")
        default: nil
        }
      }
    }
    reportsFileIDs = reportFileIDs
    self.defaultAnswer = defaultAnswer
    self.permissionTimeout = permissionTimeout
    buffer = Mutex(.allocate(byteCount: 65536, alignment: 8))
  }

  deinit {
    buffer.withLock { $0.deallocate() }
  }

  static func limit(_ name: String) -> String {
    let path = "/proc/sys/fs/fanotify/\(name)"
    return "\(path) = \(procValue(path))"
  }

  // MARK: Marks

  /// Marks `path` for `kinds`, on the file or folder itself, its mount or its filesystem.
  ///
  /// - Throws: `.notFound` for a missing path; `.permissionDenied` for a mount or filesystem
  ///   mark without `CAP_SYS_ADMIN`; `.invalidArgument` for kinds this group cannot receive
  ///   (permission kinds in a notification group, directory-entry kinds without file ids);
  ///   `.limitExceeded` at `/proc/sys/fs/fanotify/max_user_marks`.
  /// The corresponding C function is `fanotify_mark` with `FAN_MARK_ADD`.
  public func mark(_ path: FilePath, for kinds: Kinds, scope: Scope = .inode, options: MarkOptions = [])
    throws(HinixError)
  {
    try mark(path, kinds: kinds, scope: scope, options: options, add: true)
  }

  /// Removes `kinds` from the mark on `path`.
  ///
  /// The corresponding C function is `fanotify_mark` with `FAN_MARK_REMOVE`.
  public func unmark(_ path: FilePath, for kinds: Kinds, scope: Scope = .inode, options: MarkOptions = [])
    throws(HinixError)
  {
    try mark(path, kinds: kinds, scope: scope, options: options, add: false)
  }

  private func mark(_ path: FilePath, kinds: Kinds, scope: Scope, options: MarkOptions, add: Bool)
    throws(HinixError)
  {
    if kinds.subtracting(.isDirectory).isEmpty {
      throw HinixError(
        .invalidArgument, operation: "fanotify_mark", subject: path.printable,
        detail: "the set of kinds is empty")
    }
    let result = Sys.fanotifyMark(
      descriptor.rawValue, add: add, flags: scope.flags | options.markFlags,
      mask: kinds.rawValue | options.maskBits,
      path: path)
    guard case .failure(let error) = result else { return }
    let reportsFileIDs = reportsFileIDs
    throw HinixError.system(error, "fanotify_mark", subject: path.printable) { error in
      switch error {
      case .noSuchFileOrDirectory:
        (.notFound, add ? "no such file or directory" : "no such mark")
      case .notPermitted, .permissionDenied:
        (.permissionDenied, "a \(scope) mark needs CAP_SYS_ADMIN (or read permission on the path)")
      case .invalidArgument:
        (
          .invalidArgument,
          "the kernel refused \(kinds) for this group: permission kinds need a .content group, and "
            + "create, delete, move and attribute kinds need reportFileIDs"
            + (reportsFileIDs ? "" : " (this group reports descriptors)")
        )
      case .noSpace:
        (
          .limitExceeded,
          "the per-user limit of fanotify marks (\(Fanotify.limit("max_user_marks"))) is reached"
        )
      case .notDirectory:
        (.invalidArgument, "not a directory")
      case .notSupported, .operationNotSupportedByDevice, .improperLink:
        (.invalidArgument, "this filesystem cannot report file ids for fanotify (\(error))")
      default: nil
      }
    }
  }

  // MARK: Reading

  /// Reads the queued events, blocking the thread until there is at least one.
  ///
  /// The corresponding C function is `read`.
  @available(*, noasync, message: "blocks its thread; use `await read()` in async code")
  public func blockingRead() throws(HinixError) -> [Event] {
    try read(waiting: .forever)!
  }

  /// Reads the queued events: ``Outcome/wouldBlock`` when there are none.
  public func tryRead() throws(HinixError) -> Outcome<[Event]> {
    Waiting.never.outcome(try read(waiting: .never))
  }

  /// Reads the queued events, blocking the thread at most `timeout`: ``Outcome/timedOut``
  /// when none came.
  @available(*, noasync, message: "blocks its thread; use `await read()` in async code")
  public func blockingRead(timeout: Duration) throws(HinixError) -> Outcome<[Event]> {
    try Waiting.timed(timeout) { (waiting) throws(HinixError) in try read(waiting: waiting) }
  }

  /// Reads the queued events, suspending the task (not its thread) until there is one.
  public func read(reactor: Reactor = .shared) async throws -> [Event] {
    try await reactor.perform(.readable, on: descriptor, strategy: .sleep, history: .none) {
      () throws(HinixError) in
      try read(waiting: .never)
    }
  }

  /// Every event, one at a time, through the shared reactor; it keeps the group alive.
  public var events: EventSequence { BatchSequence { [self] in try await read() } }

  /// The events, one at a time (see ``events``).
  public typealias EventSequence = BatchSequence<Event>

  private func read(waiting: Waiting) throws(HinixError) -> [Event]? {
    let subject = "fanotify \(descriptor.rawValue)"
    while true {
      let batch = try buffer.withLock { (buffer) throws(HinixError) -> [Event]? in
        switch Sys.read(descriptor.rawValue, buffer) {
        case .success(let count): return decode(UnsafeRawBufferPointer(rebasing: buffer[..<count]))
        case .failure(.resourceTemporarilyUnavailable): return nil
        case .failure(let error): throw HinixError.system(error, "read", subject: subject)
        }
      }
      if let batch { return batch }
      guard try waiting.poll(descriptor.rawValue, for: Int16(POLLIN), operation: "read", subject: subject)
      else {
        return nil
      }
    }
  }

  /// Decodes `fanotify_event_metadata` records (24 bytes: event_len, vers, reserved,
  /// metadata_len, mask, fd, pid) and their info records.
  private func decode(_ bytes: UnsafeRawBufferPointer) -> [Event] {
    var events: [Event] = []
    var offset = 0
    while offset + 24 <= bytes.count {
      let length = Int(bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
      let version = bytes.load(fromByteOffset: offset + 4, as: UInt8.self)
      let metadataLength = Int(bytes.loadUnaligned(fromByteOffset: offset + 6, as: UInt16.self))
      // FANOTIFY_METADATA_VERSION 3; a record the kernel could not have written ends the batch.
      guard version == 3, length >= 24, offset + length <= bytes.count, metadataLength >= 24,
        metadataLength <= length
      else { break }
      let kinds = Kinds(rawValue: bytes.loadUnaligned(fromByteOffset: offset + 8, as: UInt64.self))
      let fd = bytes.loadUnaligned(fromByteOffset: offset + 16, as: Int32.self)
      var event = Event(kinds: kinds, pid: bytes.loadUnaligned(fromByteOffset: offset + 20, as: Int32.self))
      if fd >= 0 {
        let file = AdoptedDescriptor(adopting: FileDescriptor(rawValue: fd))
        event.file = file
        if case .success(let path) = Sys.descriptorTarget(fd) { event.path = path }
        if !kinds.intersection(.permissions).isEmpty {
          let request = PermissionRequest(group: self, file: file)
          event.permission = request
          let timeout = permissionTimeout
          request.watchdog(
            Task.detached { [weak request] in
              try? await Task.sleep(for: timeout)
              request?.answerIfPending()
            })
        }
      }
      decodeInfo(
        UnsafeRawBufferPointer(rebasing: bytes[(offset + metadataLength)..<(offset + length)]), into: &event)
      events.append(event)
      offset += length
    }
    return events
  }

  /// Decodes the info records of a file-id event: header (type, pad, len), fsid (8 bytes),
  /// `struct file_handle` (handle_bytes, handle_type, f_handle) and, for a folder with a name,
  /// the name.
  private func decodeInfo(_ bytes: UnsafeRawBufferPointer, into event: inout Event) {
    var offset = 0
    while offset + 4 <= bytes.count {
      let type = bytes.load(fromByteOffset: offset, as: UInt8.self)
      let length = Int(bytes.loadUnaligned(fromByteOffset: offset + 2, as: UInt16.self))
      guard length >= 4, offset + length <= bytes.count else { return }
      // FID (1), DFID_NAME (2), DFID (3): an fsid and a file handle.
      if (1...3).contains(type), length >= 20 {
        let handleBytes = Int(bytes.loadUnaligned(fromByteOffset: offset + 12, as: UInt32.self))
        let handleEnd = offset + 20 + handleBytes
        if handleEnd <= offset + length {
          let id = FileID(
            filesystem: bytes.loadUnaligned(fromByteOffset: offset + 4, as: UInt64.self),
            handleType: bytes.loadUnaligned(fromByteOffset: offset + 16, as: Int32.self),
            handle: Array(bytes[(offset + 20)..<handleEnd]))
          if type == 1 {
            event.fileID = id
          } else {
            event.directoryID = id
            if type == 2, handleEnd < offset + length {
              let nameBytes = bytes[handleEnd..<(offset + length)].prefix { $0 != 0 }
              if !nameBytes.isEmpty, nameBytes.count < 256 {
                event.name = FilePath(bytes: nameBytes).lastComponent
              }
            }
          }
        }
      }
      offset += length
    }
  }
}

extension Fanotify.Event {
  init(kinds: Fanotify.Kinds, pid: pid_t) {
    self.kinds = kinds
    self.pid = pid
  }
}
