import Glibc
import Synchronization
import SystemPackage

/// Moving bytes between descriptors inside the kernel: splice, tee, vmsplice and sendfile, and a
/// ``blockingCopy(from:to:count:)`` that uses them where the kernel allows and falls back where it does not.
///
/// Each call has the four forms. The blocking forms wait as the descriptors do, so they are
/// unavailable in async code; the try forms (`trySplice`, `tryTee`, `tryVmsplice`,
/// `trySendfile`) never wait on the pipe (`SPLICE_F_NONBLOCK`; for `sendfile`, a destination
/// with no room) and return an ``Outcome``: ``Outcome/wouldBlock`` when the pipe is empty or
/// full, ``Outcome/ended`` at the end of the input. The timed forms (`timeout:`) retry the try
/// form and wait in `poll` in between, the async forms in the reactor, on whichever side is not
/// ready. ``copy(from:to:count:)`` runs on a thread of its own, since a file's reads and writes
/// have no readiness to wait for. A destination pipe or socket whose reader is gone throws
/// `.brokenPipe`.
///
/// `SPLICE_F_NONBLOCK` makes only the pipe side non-blocking: a socket or file on the other side
/// keeps its own mode. Give the try and async forms a non-blocking socket, or they may wait on it.
public enum ZeroCopy {
  /// Moves up to `count` bytes from `source` to `destination`, one of which must be a pipe,
  /// blocking the thread while the pipe is empty or full.
  ///
  /// - Parameters:
  ///   - source: the descriptor to read from.
  ///   - sourceOffset: a position to read at (advanced by the call), or `nil` to use and
  ///     advance the file position; must be `nil` for a pipe.
  ///   - destination: the descriptor to write to.
  ///   - destinationOffset: a position to write at (advanced by the call), or `nil` to use and
  ///     advance the file position; must be `nil` for a pipe.
  ///   - count: the most bytes to move.
  ///   - more: more data will follow (`SPLICE_F_MORE`, a hint for sockets).
  /// - Returns: the bytes moved; 0 at end of input.
  /// The corresponding C function is `splice`.
  @available(
    *, noasync,
    message: "blocks its thread; use `await splice(from:offset:to:offset:count:more:reactor:)` in async code"
  )
  public static func blockingSplice(
    from source: FileDescriptor, offset sourceOffset: UnsafeMutablePointer<Int64>? = nil,
    to destination: FileDescriptor, offset destinationOffset: UnsafeMutablePointer<Int64>? = nil,
    count: Int, more: Bool = false
  ) throws(HinixError) -> Int {
    try splice(source, sourceOffset, destination, destinationOffset, count, more: more, nonBlocking: false)
      ?? 0
  }

  /// ``splice(from:offset:to:offset:count:more:reactor:)`` without waiting on the pipe:
  /// ``Outcome/wouldBlock`` if it is empty or full, ``Outcome/ended`` at the end of the input.
  public static func trySplice(
    from source: FileDescriptor, offset sourceOffset: UnsafeMutablePointer<Int64>? = nil,
    to destination: FileDescriptor, offset destinationOffset: UnsafeMutablePointer<Int64>? = nil,
    count: Int, more: Bool = false
  ) throws(HinixError) -> Outcome<Int> {
    transferred(
      try splice(source, sourceOffset, destination, destinationOffset, count, more: more, nonBlocking: true))
  }

  /// ``blockingSplice(from:offset:to:offset:count:more:)`` blocking the thread at most
  /// `timeout`: ``Outcome/timedOut`` if the pipe stayed empty or full, ``Outcome/ended`` at the
  /// end of the input.
  @available(
    *, noasync,
    message: "blocks its thread; use `await splice(from:offset:to:offset:count:more:reactor:)` in async code"
  )
  public static func blockingSplice(
    from source: FileDescriptor, offset sourceOffset: UnsafeMutablePointer<Int64>? = nil,
    to destination: FileDescriptor, offset destinationOffset: UnsafeMutablePointer<Int64>? = nil,
    count: Int, more: Bool = false, timeout: Duration
  ) throws(HinixError) -> Outcome<Int> {
    try retrying(source, destination, timeout, "splice") { () throws(HinixError) in
      try trySplice(
        from: source, offset: sourceOffset, to: destination, offset: destinationOffset, count: count,
        more: more)
    }
  }

  /// The async form of ``blockingSplice(from:offset:to:offset:count:more:)``: suspends the task (not
  /// its thread) while the pipe is empty or full. Returns the bytes moved; 0 at end of input.
  public static nonisolated(nonsending) func splice(
    from source: FileDescriptor, offset sourceOffset: UnsafeMutablePointer<Int64>? = nil,
    to destination: FileDescriptor, offset destinationOffset: UnsafeMutablePointer<Int64>? = nil,
    count: Int, more: Bool = false, reactor: Reactor = .shared
  ) async throws -> Int {
    try await retrying(source, destination, reactor) { () throws(HinixError) in
      try trySplice(
        from: source, offset: sourceOffset, to: destination, offset: destinationOffset, count: count,
        more: more)
    }
  }

  private static func splice(
    _ source: FileDescriptor, _ sourceOffset: UnsafeMutablePointer<Int64>?, _ destination: FileDescriptor,
    _ destinationOffset: UnsafeMutablePointer<Int64>?, _ count: Int, more: Bool, nonBlocking: Bool
  ) throws(HinixError) -> Int? {
    var flags = Sys.spliceMove
    if more { flags |= Sys.spliceMore }
    if nonBlocking { flags |= Sys.spliceNonBlocking }
    let result = Sys.splice(
      source.rawValue, sourceOffset, destination.rawValue, destinationOffset, count, flags)
    return try outcome(result, "splice", source, destination, nonBlocking: nonBlocking)
  }

  /// Copies up to `count` bytes from one pipe to another without consuming them from `source`,
  /// blocking the thread while `source` is empty or `destination` full; 0 at end of input.
  ///
  /// The corresponding C function is `tee`.
  @available(
    *, noasync, message: "blocks its thread; use `await tee(from:to:count:reactor:)` in async code"
  )
  public static func blockingTee(from source: PipeReader, to destination: PipeWriter, count: Int)
    throws(HinixError)
    -> Int
  {
    try tee(source, destination, count, nonBlocking: false) ?? 0
  }

  /// ``tee(from:to:count:reactor:)`` without waiting: ``Outcome/wouldBlock`` if a pipe is empty or full,
  /// ``Outcome/ended`` at the end of the input.
  public static func tryTee(from source: PipeReader, to destination: PipeWriter, count: Int)
    throws(HinixError)
    -> Outcome<Int>
  {
    transferred(try tee(source, destination, count, nonBlocking: true))
  }

  /// ``blockingTee(from:to:count:)`` blocking the thread at most `timeout`: ``Outcome/timedOut``
  /// if `source` stayed empty or `destination` full, ``Outcome/ended`` at the end of the input.
  @available(
    *, noasync, message: "blocks its thread; use `await tee(from:to:count:reactor:)` in async code"
  )
  public static func blockingTee(
    from source: PipeReader, to destination: PipeWriter, count: Int, timeout: Duration
  )
    throws(HinixError) -> Outcome<Int>
  {
    try retrying(source.descriptor, destination.descriptor, timeout, "tee") { () throws(HinixError) in
      try tryTee(from: source, to: destination, count: count)
    }
  }

  /// The async form of ``blockingTee(from:to:count:)``: suspends the task while `source` is empty or
  /// `destination` full; 0 at end of input.
  public static func tee(
    from source: PipeReader, to destination: PipeWriter, count: Int, reactor: Reactor = .shared
  ) async throws -> Int {
    try await retrying(source.descriptor, destination.descriptor, reactor) { () throws(HinixError) in
      try tryTee(from: source, to: destination, count: count)
    }
  }

  private static func tee(
    _ source: PipeReader, _ destination: PipeWriter, _ count: Int, nonBlocking: Bool
  ) throws(HinixError) -> Int? {
    let result = Sys.tee(
      source.descriptor.rawValue, destination.descriptor.rawValue, count,
      nonBlocking ? Sys.spliceNonBlocking : 0)
    return try outcome(result, "tee", source.descriptor, destination.descriptor, nonBlocking: nonBlocking)
  }

  /// Maps or copies `bytes` into a pipe, blocking the thread while it is full. With
  /// `gift: true` the pages are given to the kernel (`SPLICE_F_GIFT`) and the caller must not
  /// touch the memory again.
  ///
  /// The corresponding C function is `vmsplice`.
  @available(
    *, noasync, message: "blocks its thread; use `await vmsplice(_:to:gift:reactor:)` in async code"
  )
  public static func blockingVmsplice(
    _ bytes: UnsafeRawBufferPointer, to destination: PipeWriter, gift: Bool = false
  ) throws(HinixError) -> Int {
    try vmsplice(bytes, destination, gift: gift, nonBlocking: false) ?? 0
  }

  /// ``vmsplice(_:to:gift:reactor:)`` without waiting: ``Outcome/wouldBlock`` if the pipe is full.
  public static func tryVmsplice(
    _ bytes: UnsafeRawBufferPointer, to destination: PipeWriter, gift: Bool = false
  ) throws(HinixError) -> Outcome<Int> {
    Waiting.never.outcome(try vmsplice(bytes, destination, gift: gift, nonBlocking: true))
  }

  /// ``blockingVmsplice(_:to:gift:)`` blocking the thread at most `timeout`:
  /// ``Outcome/timedOut`` if the pipe stayed full.
  @available(
    *, noasync, message: "blocks its thread; use `await vmsplice(_:to:gift:reactor:)` in async code"
  )
  public static func blockingVmsplice(
    _ bytes: UnsafeRawBufferPointer, to destination: PipeWriter, gift: Bool = false, timeout: Duration
  ) throws(HinixError) -> Outcome<Int> {
    try retrying(nil, destination.descriptor, timeout, "vmsplice") { () throws(HinixError) in
      try tryVmsplice(bytes, to: destination, gift: gift)
    }
  }

  /// The async form of ``blockingVmsplice(_:to:gift:)``: suspends the task while the pipe is full.
  public static nonisolated(nonsending) func vmsplice(
    _ bytes: UnsafeRawBufferPointer, to destination: PipeWriter, gift: Bool = false,
    reactor: Reactor = .shared
  ) async throws -> Int {
    try await retrying(nil, destination.descriptor, reactor) { () throws(HinixError) in
      try tryVmsplice(bytes, to: destination, gift: gift)
    }
  }

  private static func vmsplice(
    _ bytes: UnsafeRawBufferPointer, _ destination: PipeWriter, gift: Bool, nonBlocking: Bool
  ) throws(HinixError) -> Int? {
    var flags: UInt32 = gift ? Sys.spliceGift : 0
    if nonBlocking { flags |= Sys.spliceNonBlocking }
    let result = Sys.vmsplice(destination.descriptor.rawValue, bytes, flags)
    return try outcome(result, "vmsplice", nil, destination.descriptor, nonBlocking: nonBlocking)
  }

  /// Runs a try form until it completes (its count) or the input ends (0), suspending the task
  /// in `reactor` in between: on `source` while it has nothing to read, else on `destination`
  /// until it has room (which side made the try form wait, the kernel does not say).
  private static nonisolated(nonsending) func retrying(
    _ source: FileDescriptor?, _ destination: FileDescriptor, _ reactor: Reactor,
    _ attempt: () throws(HinixError) -> Outcome<Int>
  ) async throws -> Int {
    while true {
      switch try attempt() {
      case .completed(let count): return count
      case .ended: return 0
      case .wouldBlock, .timedOut:
        if let source,
          case .success(0) = Sys.poll(source.rawValue, events: Int16(POLLIN), timeoutMilliseconds: 0)
        {
          _ = try await reactor.wait(for: .readable, on: source)
        } else {
          _ = try await reactor.wait(for: .writable, on: destination)
        }
      }
    }
  }

  /// The timed form over a try form: runs it until it completes or the input ends, waiting in
  /// `poll` in between (on `source` while it has nothing to read, else on `destination` until
  /// it has room) for at most `timeout` in all.
  private static func retrying(
    _ source: FileDescriptor?, _ destination: FileDescriptor, _ timeout: Duration, _ operation: String,
    _ attempt: () throws(HinixError) -> Outcome<Int>
  ) throws(HinixError) -> Outcome<Int> {
    let waiting = Waiting.until(.after(timeout))
    while true {
      let outcome = try attempt()
      guard case .wouldBlock = outcome else { return outcome }
      let (fd, events) =
        if let source,
          case .success(0) = Sys.poll(source.rawValue, events: Int16(POLLIN), timeoutMilliseconds: 0)
        {
          (source, Int16(POLLIN))
        } else {
          (destination, Int16(POLLOUT))
        }
      guard
        try waiting.poll(
          fd.rawValue, for: events, operation: operation, subject: subject(source, destination))
      else { return .timedOut }
    }
  }

  /// A try form's outcome: 0 bytes is the end of the input, `nil` "would block".
  private static func transferred(_ count: Int?) -> Outcome<Int> {
    count == 0 ? .ended : Waiting.never.outcome(count)
  }

  /// Sends up to `count` bytes of a file (or anything that supports splice reads) to any
  /// descriptor, from `offset` (advanced) or from the file position when `offset` is `nil`,
  /// blocking the thread while the destination is full.
  ///
  /// The corresponding C function is `sendfile`.
  @available(
    *, noasync,
    message: "blocks its thread; use `await sendfile(from:offset:to:count:reactor:)` in async code"
  )
  public static func blockingSendfile(
    from source: FileDescriptor, offset: UnsafeMutablePointer<Int64>? = nil, to destination: FileDescriptor,
    count: Int
  ) throws(HinixError) -> Int {
    let result = Sys.sendfile(destination.rawValue, source.rawValue, offset, count)
    return try outcome(result, "sendfile", source, destination, nonBlocking: false) ?? 0
  }

  /// ``blockingSendfile(from:offset:to:count:)`` without waiting: ``Outcome/wouldBlock`` if the
  /// destination has no room now, ``Outcome/ended`` at the end of the input. `sendfile` has no
  /// non-blocking flag of its own: give it a non-blocking destination, or a call that found
  /// room may still wait for the rest.
  public static func trySendfile(
    from source: FileDescriptor, offset: UnsafeMutablePointer<Int64>? = nil, to destination: FileDescriptor,
    count: Int
  ) throws(HinixError) -> Outcome<Int> {
    if case .success(0) = Sys.poll(destination.rawValue, events: Int16(POLLOUT), timeoutMilliseconds: 0) {
      return .wouldBlock
    }
    let result = Sys.sendfile(destination.rawValue, source.rawValue, offset, count)
    return transferred(try outcome(result, "sendfile", source, destination, nonBlocking: true))
  }

  /// ``blockingSendfile(from:offset:to:count:)`` blocking the thread at most `timeout` while the
  /// destination is full: ``Outcome/timedOut`` if it stayed full, ``Outcome/ended`` at the end
  /// of the input.
  @available(
    *, noasync,
    message: "blocks its thread; use `await sendfile(from:offset:to:count:reactor:)` in async code"
  )
  public static func blockingSendfile(
    from source: FileDescriptor, offset: UnsafeMutablePointer<Int64>? = nil, to destination: FileDescriptor,
    count: Int, timeout: Duration
  ) throws(HinixError) -> Outcome<Int> {
    try retrying(nil, destination, timeout, "sendfile") { () throws(HinixError) in
      try trySendfile(from: source, offset: offset, to: destination, count: count)
    }
  }

  /// The async form of ``blockingSendfile(from:offset:to:count:)``: suspends the task (not its
  /// thread) while the destination is full. Returns the bytes sent; 0 at end of input.
  public static nonisolated(nonsending) func sendfile(
    from source: FileDescriptor, offset: UnsafeMutablePointer<Int64>? = nil, to destination: FileDescriptor,
    count: Int, reactor: Reactor = .shared
  ) async throws -> Int {
    try await retrying(nil, destination, reactor) { () throws(HinixError) in
      try trySendfile(from: source, offset: offset, to: destination, count: count)
    }
  }

  /// How ``blockingCopy(from:to:count:)`` moved the bytes.
  public enum Method: Sendable, Hashable {
    /// `sendfile` from the source to the destination.
    case sendfile
    /// `splice`, directly or through an intermediate pipe.
    case splice
    /// `read` and `write` through a buffer, where the kernel refused both others.
    case readWrite
  }

  /// Copies `count` bytes (or everything up to end of input, when `nil`) from `source` to
  /// `destination`, using the first method the kernel accepts for this pair: `sendfile`, then
  /// `splice` (through an intermediate pipe when neither side is one), then `read`/`write`.
  /// Returns the bytes copied, fewer than `count` only at end of input, and the method used.
  /// It blocks its thread for as long as the copy takes.
  @available(
    *, noasync,
    message: "blocks its thread for the whole copy; use `await copy(from:to:count:)` in async code"
  )
  public static func blockingCopy(
    from source: FileDescriptor, to destination: FileDescriptor, count: Int? = nil
  ) throws(HinixError) -> (bytes: Int, method: Method) {
    try copy(source, destination, count, nil)!
  }

  /// The copy, stopped between chunks (`nil`) once `stop` is set.
  private static func copy(
    _ source: FileDescriptor, _ destination: FileDescriptor, _ count: Int?, _ stop: CopyCancellation?
  ) throws(HinixError) -> (bytes: Int, method: Method)? {
    let limit = count ?? Int.max
    let stopped = { stop?.flag.load(ordering: .relaxed) ?? false }
    if let copied = try copyBySendfile(source, destination, limit, stopped) {
      return stopped() ? nil : (copied, .sendfile)
    }
    if let copied = try copyBySplice(source, destination, limit, stopped) {
      return stopped() ? nil : (copied, .splice)
    }
    let copied = try copyByReadWrite(source, destination, limit, stopped)
    return stopped() ? nil : (copied, .readWrite)
  }

  /// The async form of ``blockingCopy(from:to:count:)``: the copy runs on a thread of its own,
  /// off the cooperative pool (a file's reads and writes have no readiness to wait for), and
  /// the task suspends until it is done. Cancelling the task stops the copy between two
  /// chunks of at most 1 MiB and throws `CancellationError`.
  public static func copy(
    from source: FileDescriptor, to destination: FileDescriptor, count: Int? = nil
  ) async throws -> (bytes: Int, method: Method) {
    let stop = CopyCancellation()
    let copied = try await withTaskCancellationHandler {
      try await Reactor.offThePool { () throws(HinixError) -> (bytes: Int, method: Method)? in
        try copy(source, destination, count, stop)
      }
    } onCancel: {
      stop.flag.store(true, ordering: .relaxed)
    }
    guard let copied else { throw CancellationError() }
    return copied
  }

  /// A flag the copy's thread reads between chunks.
  private final class CopyCancellation: Sendable {
    let flag = Atomic(false)
  }

  // MARK: Implementation

  private static let chunk = 1 << 20

  /// Refusals that mean "this method does not apply to this pair of descriptors".
  private static func refuses(_ error: HinixError) -> Bool {
    error.errno == .invalidArgument || error.errno == .noFunction || error.errno == .notSupported
      || error.errno == .illegalSeek
  }

  private static func copyBySendfile(
    _ source: FileDescriptor, _ destination: FileDescriptor, _ limit: Int, _ stopped: () -> Bool
  ) throws(HinixError) -> Int? {
    try pump(limit, stopped) { (count) throws(HinixError) in
      try blockingSendfile(from: source, to: destination, count: count)
    }
  }

  private static func copyBySplice(
    _ source: FileDescriptor, _ destination: FileDescriptor, _ limit: Int, _ stopped: () -> Bool
  ) throws(HinixError) -> Int? {
    if isPipe(source) || isPipe(destination) {
      return try pump(limit, stopped) { (count) throws(HinixError) in
        try blockingSplice(from: source, to: destination, count: count)
      }
    }
    // Neither side is a pipe: splice into an intermediate pipe and from it to the destination.
    let (reader, writer) = try Pipe.create()
    return try pump(limit, stopped) { (count) throws(HinixError) in
      try blockingSplice(from: source, to: writer.descriptor, count: count)
    } settle: { (moved) throws(HinixError) in
      var drained = 0
      while drained < moved {
        drained += try blockingSplice(from: reader.descriptor, to: destination, count: moved - drained)
      }
    }
  }

  /// Moves up to `limit` bytes in chunks with `step`, until a step moves nothing (end of input)
  /// or `stopped` says so. `settle` runs after each step and its errors always propagate.
  /// Returns `nil` when the kernel refused the method before any byte moved, so that
  /// ``blockingCopy(from:to:count:)`` tries the next.
  private static func pump(
    _ limit: Int, _ stopped: () -> Bool, _ step: (Int) throws(HinixError) -> Int,
    settle: (Int) throws(HinixError) -> Void = { _ in }
  ) throws(HinixError) -> Int? {
    var copied = 0
    while copied < limit, !stopped() {
      let moved: Int
      do {
        moved = try step(min(chunk, limit - copied))
      } catch  where copied == 0 && refuses(error) {
        return nil
      }
      if moved == 0 { break }
      try settle(moved)
      copied += moved
    }
    return copied
  }

  private static func copyByReadWrite(
    _ source: FileDescriptor, _ destination: FileDescriptor, _ limit: Int, _ stopped: () -> Bool
  ) throws(HinixError) -> Int {
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536, alignment: 16)
    defer { buffer.deallocate() }
    var copied = 0
    while copied < limit, !stopped() {
      let want = UnsafeMutableRawBufferPointer(rebasing: buffer[..<min(buffer.count, limit - copied)])
      let count = try ByteStream.read(source.rawValue, into: want, waiting: .forever, strategy: .sleep)!
      if count == 0 { break }
      _ = try ByteStream.writeAll(
        destination.rawValue, UnsafeRawBufferPointer(rebasing: buffer[..<count]), waiting: .forever,
        strategy: .sleep)
      copied += count
    }
    return copied
  }

  private static func isPipe(_ descriptor: FileDescriptor) -> Bool {
    if case .success(let status) = Sys.status(descriptor.rawValue) { return status.isFIFO }
    return false
  }

  /// The subject of an error: the descriptors' numbers.
  private static func subject(_ source: FileDescriptor?, _ destination: FileDescriptor) -> String {
    source.map { "descriptor \($0.rawValue) to \(destination.rawValue)" }
      ?? "descriptor \(destination.rawValue)"
  }

  private static func outcome(
    _ result: Result<Int, Errno>, _ operation: String, _ source: FileDescriptor?,
    _ destination: FileDescriptor,
    nonBlocking: Bool
  ) throws(HinixError) -> Int? {
    let subject = subject(source, destination)
    switch result {
    case .success(let count):
      return count
    case .failure(.resourceTemporarilyUnavailable) where nonBlocking:
      return nil
    case .failure(.brokenPipe):
      throw HinixError(
        .brokenPipe, operation: operation, subject: subject, errno: .brokenPipe,
        detail: "the reading end is closed")
    case .failure(.invalidArgument):
      throw HinixError(
        .invalidArgument, operation: operation, subject: subject, errno: .invalidArgument,
        detail:
          "the kernel does not support \(operation) between these descriptors (for splice one must be a pipe)"
      )
    case .failure(.illegalSeek):
      throw HinixError(
        .invalidArgument, operation: operation, subject: subject, errno: .illegalSeek,
        detail: "an offset was given for a pipe or socket")
    case .failure(let error):
      throw HinixError.system(error, operation, subject: subject)
    }
  }
}
