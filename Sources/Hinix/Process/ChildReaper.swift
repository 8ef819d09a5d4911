import Synchronization
import SystemPackage

/// The children of this process that it started through the reaper, reaped as they exit, as an
/// async sequence of exits driven by `SIGCHLD`.
///
/// The kernel keeps one pending `SIGCHLD`: children that exit close together may produce a
/// single delivery. So each delivery is a hint, never a count: the reaper then tries to reap
/// *every* child it owns (through each one's pidfd, so it never reaps a child it did not start)
/// and reports each one that ended. No exit is lost, however the signals coalesce.
///
/// ```swift
/// let reaper = try ChildReaper()
/// for job in jobs { _ = try reaper.spawn(worker, arguments: [job]) }
/// for try await (child, termination) in reaper {
///   print("\(child.pid) ended with \(termination)")
/// }   // ends once every child is reaped
/// ```
///
/// For a single child, ``ChildProcess/wait(onCancellation:reactor:)`` is simpler: it waits on
/// the child's pidfd and needs no signal at all. Iterate a reaper from one task at a time; a
/// child reaped elsewhere (by its own `wait()`) is dropped without a report.
public final class ChildReaper: AsyncSequence, Sendable {
  /// A child and how it ended.
  public typealias Element = (child: ChildProcess, termination: ChildProcess.Termination)

  private let signals: SignalWatcher
  private let children = Mutex<[ChildProcess]>([])

  /// Starts watching `SIGCHLD` (before any child can exit unseen).
  public init() throws(HinixError) {
    signals = try SignalWatcher([.child])
  }

  /// Starts a child (see ``ChildProcess/spawn(_:arguments:environment:passing:cpu:inheriting:)``) that
  /// this reaper owns.
  public func spawn(
    _ executable: FilePath, arguments: [String] = [], environment: [String]? = nil,
    passing descriptors: [FileDescriptor: Int32] = [:]
  ) throws(HinixError) -> ChildProcess {
    let child = try ChildProcess.spawn(
      executable, arguments: arguments, environment: environment, passing: descriptors)
    add(child)
    return child
  }

  /// Makes the reaper own `child`, a child this process started otherwise.
  public func add(_ child: ChildProcess) {
    children.withLock { $0.append(child) }
  }

  /// The children not reaped yet.
  public var running: [ChildProcess] { children.withLock { $0 } }

  /// Reaps every owned child that has ended, and forgets it.
  func sweep() throws(HinixError) -> [Element] {
    let owned = children.withLock { $0 }
    var ended: [Element] = []
    var gone: [ChildProcess] = []
    var failure: HinixError?
    for child in owned {
      do {
        if case .completed(let termination) = try child.tryWait() {
          ended.append((child, termination))
          gone.append(child)
        }
      } catch  where error.errno == .noChildProcess {
        // Reaped elsewhere (its own wait() was called): nothing left to report for it.
        gone.append(child)
      } catch {
        failure = failure ?? error
      }
    }
    if !gone.isEmpty {
      children.withLock { $0.removeAll { child in gone.contains { $0.process === child.process } } }
    }
    if let failure, ended.isEmpty { throw failure }
    return ended
  }

  /// Iterates the exits; ends once no owned child is left.
  public struct AsyncIterator: AsyncIteratorProtocol {
    let reaper: ChildReaper
    var deliveries: SignalWatcher.AsyncIterator
    var pending: [Element] = []

    /// The next child that ended, reaped; nil once every owned child has been.
    public mutating func next() async throws -> Element? {
      while true {
        if !pending.isEmpty { return pending.removeFirst() }
        pending = try reaper.sweep()
        if !pending.isEmpty { continue }
        if reaper.running.isEmpty { return nil }
        guard await deliveries.next() != nil else { throw CancellationError() }
      }
    }
  }

  /// An iterator of the exits.
  public func makeAsyncIterator() -> AsyncIterator {
    AsyncIterator(reaper: self, deliveries: signals.makeAsyncIterator())
  }
}
