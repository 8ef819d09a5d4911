import Glibc
import Synchronization
import SystemPackage

/// A ring a parent process made for a child it is about to start: this process's end, and what
/// the child inherits to open the other end.
///
/// ```swift
/// let ring = try RingSender<Float>.createForChild(capacity: 1 << 16)
/// let child = ring.child
/// _ = try ChildProcess.spawn(
///   "/usr/local/bin/worker", arguments: [child.argument()], passing: child.passing())
/// child.close()  // so that the child's exit hangs up the ring's doorbell
/// try await ring.end.send(1.5)
/// // in the worker: let receiver = try RingReceiver<Float>.inherited(from: CommandLine.arguments[1])
/// ```
///
/// Use ``end`` where it is, as above: at the top level of `main.swift` a global's
/// noncopyable property cannot be moved out (`let sender = ring.end` compiles only inside a
/// function).
@frozen
public struct RingForChild<End: ~Copyable>: ~Copyable {
  /// This process's end of the ring.
  public let end: End
  /// The descriptors the child inherits, and the argument that names them.
  public let child: RingInheritance
}

/// The descriptors of a ring that a child process inherits: the sealed memory file and the
/// child's end of the ring's doorbell, a socket pair that wakes each side and whose hang-up tells
/// each side the other died.
///
/// This object owns close-on-exec copies of them. Pass them with ``passing(from:)`` to
/// ``ChildProcess/spawn(_:arguments:environment:passing:cpu:inheriting:)`` and the text of ``argument(from:)``
/// to the child, which opens its end with `inherited(from:)`; then ``close()`` this process's
/// copies (or let the object go). Until then, the parent's end cannot notice the child's death.
public final class RingInheritance: Sendable {
  /// The memory file and the child's end of the doorbell,
  /// in the order ``argument(from:)`` names them.
  public let descriptors: [FileDescriptor]
  /// What the child's end is: "sender" or "receiver".
  let childRole: String
  private let isOpen = Mutex(true)

  init(descriptors: [FileDescriptor], childRole: String) {
    self.descriptors = descriptors
    self.childRole = childRole
  }

  deinit {
    close()
  }

  /// The descriptors keyed by this process's number, valued by the child's numbers `first`,
  /// `first + 1`, …: the `passing:` argument of ``ChildProcess/spawn(_:arguments:environment:passing:cpu:inheriting:)``.
  public func passing(from first: Int32 = 3) -> [FileDescriptor: Int32] {
    var map: [FileDescriptor: Int32] = [:]
    for (index, descriptor) in descriptors.enumerated() {
      map[descriptor] = first + Int32(index)
    }
    return map
  }

  /// The text the child passes to `inherited(from:)`, such as `receiver:3,4`: its role and
  /// the numbers it sees the descriptors under.
  public func argument(from first: Int32 = 3) -> String {
    "\(childRole):" + (0..<descriptors.count).map { String(first + Int32($0)) }.joined(separator: ",")
  }

  /// Closes this process's copies; call it once the child has started.
  public func close() {
    let wasOpen = isOpen.withLock { open in
      defer { open = false }
      return open
    }
    guard wasOpen else { return }
    for descriptor in descriptors {
      _ = Sys.close(descriptor.rawValue)
    }
  }
}

extension RingSetup {
  /// Makes a ring for a child; this process takes `role`.
  static func createForChild(
    role: RingSide.Role, capacity: Int, elementSize: Int, elementAlignment: Int, flags: UInt32,
    options: RingOptions
  ) throws(HinixError) -> (RingSide, RingInheritance) {
    let parts = try make(
      capacity: capacity, elementSize: elementSize, elementAlignment: elementAlignment, flags: flags,
      options: options)
    var copies: [FileDescriptor] = []
    do throws(HinixError) {
      for original in [
        parts.memory.descriptor, parts.bell(role == .producer ? .consumer : .producer).descriptor,
      ] {
        copies.append(try original.duplicateCloseOnExec(subject: "ring"))
      }
    } catch {
      for copy in copies { _ = Sys.close(copy.rawValue) }
      throw error
    }
    let inheritance = RingInheritance(
      descriptors: copies, childRole: role == .producer ? "receiver" : "sender")
    return (try side(parts, role), inheritance)
  }

  /// Opens the child's end of a ring from the descriptors named by `argument` (see
  /// ``RingInheritance/argument(from:)``).
  static func inherited(
    from argument: String, role: RingSide.Role, elementSize: Int, elementAlignment: Int, flags: UInt32
  ) throws(HinixError) -> RingSide {
    let operation = "inherit ring"
    let expected = role == .producer ? "sender" : "receiver"
    func refuse(_ detail: String) -> HinixError {
      HinixError(.invalidArgument, operation: operation, subject: argument, detail: detail)
    }
    let parts = argument.split(separator: ":", omittingEmptySubsequences: false)
    guard parts.count == 2 else {
      throw refuse("expected \"\(expected):M,B\" (two descriptor numbers), as RingInheritance.argument makes")
    }
    guard parts[0] == expected else {
      throw refuse("the ring was made for a \(parts[0]) in this process, but a \(expected) opens it")
    }
    let numbers = parts[1].split(separator: ",", omittingEmptySubsequences: false).map { Int32($0) }
    guard numbers.count == 2, let memory = numbers[0], let bell = numbers[1], memory >= 0, bell >= 0,
      memory != bell
    else {
      throw refuse("expected two different descriptor numbers after \"\(expected):\"")
    }
    // Inherited descriptors are open across exec; close them on exec again, so that a
    // grandchild does not keep the doorbell open (and this process's death unnoticed).
    // Owned first, so that a failure below closes both.
    let memoryFile = OwnedDescriptor(adopting: FileDescriptor(rawValue: memory))
    let doorbell = OwnedDescriptor(adopting: FileDescriptor(rawValue: bell))
    try memoryFile.descriptor.setInheritable(false)
    try doorbell.descriptor.setInheritable(false)
    return try open(
      memory: memoryFile, bell: doorbell, role: role, elementSize: elementSize,
      elementAlignment: elementAlignment, flags: flags, operation: operation)
  }
}
