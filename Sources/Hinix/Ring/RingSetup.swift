import Glibc
import SystemPackage

/// Who may be at the other end of a ring set up over a socket, checked with the peer's
/// credentials (`SO_PEERCRED`) before any memory is shared or mapped.
public enum RingPeerPolicy: Sendable {
  /// Any process that can connect.
  case anyone
  /// Only processes of this process's user.
  case sameUser
  /// Only processes of the given user.
  case user(uid_t)
  /// Whatever the closure accepts.
  case custom(@Sendable (Credentials) -> Bool)

  func check(_ socket: Socket, operation: String) throws(HinixError) {
    let credentials = try socket.peerCredentials()
    let allowed: Bool
    switch self {
    case .anyone: allowed = true
    case .sameUser: allowed = credentials.uid == Sys.effectiveUserID
    case .user(let uid): allowed = credentials.uid == uid
    case .custom(let accepts): allowed = accepts(credentials)
    }
    guard allowed else {
      throw HinixError(
        .permissionDenied, operation: operation, subject: socket.subject,
        detail: "the peer (\(credentials)) is not allowed by the ring's peer policy")
    }
  }
}

/// Creation options of a ring's shared memory.
public typealias RingOptions = SharedMemory.Options

/// Making rings: in one process, or between two processes over a Unix socket.
///
/// Over a socket, one side creates the ring (``RingSender/create(over:capacity:policy:options:)``
/// or ``RingReceiver/create(over:capacity:policy:options:)``) and sends its sealed memfd and the
/// other side's end of the ring's doorbell with `SCM_RIGHTS`; the other side accepts it
/// (``RingReceiver/accept(over:policy:)`` or ``RingSender/accept(over:policy:)``), checks the
/// doorbell, the seals, the size and the header, and maps it. Both check the peer's credentials
/// first. The socket is then free for the application: the doorbell, a socket pair of the
/// ring's own, carries the wake-ups and, by its hang-up, tells a waiting side within one wake-up
/// that the other process died. A child process inherits the same two descriptors instead
/// (``RingInheritance``).
enum RingSetup {
  static let greetingMagic: UInt32 = 0x5258_4E48  // "HNXR"
  static let roleSender: UInt8 = 1
  static let roleReceiver: UInt8 = 2

  /// The parts of a ring, before they become a side.
  struct Parts {
    let memory: SharedMemory
    let header: RingLayout.Header
    /// The producer's and the consumer's ends of the doorbell (see ``RingSide/bell``).
    let producerBell: Socket
    let consumerBell: Socket

    /// The end of the doorbell that `role` holds.
    func bell(_ role: RingSide.Role) -> Socket { role == .producer ? producerBell : consumerBell }
  }

  /// Creates a ring's memory and doorbell in this process.
  static func make(
    capacity: Int, elementSize: Int, elementAlignment: Int, flags: UInt32, options: RingOptions
  ) throws(HinixError) -> Parts {
    try RingLayout.checkCapacity(capacity, elementSize: elementSize, operation: "create ring")
    let header = RingLayout.Header(
      capacity: capacity, elementSize: elementSize, elementAlignment: elementAlignment, flags: flags)
    let memory = try SharedMemory(creatingAnonymous: "hinix-ring", size: header.fileSize, options: options)
    RingLayout.initialize(memory.baseAddress, header)
    // Blocking ends: a side that sleeps with no deadline blocks in `recv` on its end, as the C
    // ring does (one system call that waits and takes the byte); every other use of the doorbell
    // passes MSG_DONTWAIT.
    let (producerBell, consumerBell) = try Socket.pair(.stream, nonBlocking: false)
    return Parts(memory: memory, header: header, producerBell: producerBell, consumerBell: consumerBell)
  }

  static func side(_ parts: Parts, _ role: RingSide.Role) throws(HinixError) -> RingSide {
    try RingSide(role: role, memory: parts.memory, header: parts.header, bell: parts.bell(role))
  }

  /// A ring made in this process, and the offer that hands its other side to a peer: the
  /// greeting and the two descriptors (the memory file and the peer's doorbell end).
  struct Offer {
    let parts: Parts
    let greeting: [UInt8]
    let descriptors: [FileDescriptor]
  }

  /// Checks the peer of `socket` and makes a ring whose other side it will take; this side
  /// takes `role`. The caller sends the offer, then opens its side with ``side(_:_:)``.
  static func offer(
    over socket: Socket, role: RingSide.Role, capacity: Int, elementSize: Int, elementAlignment: Int,
    flags: UInt32, policy: RingPeerPolicy, options: RingOptions
  ) throws(HinixError) -> Offer {
    try policy.check(socket, operation: "create ring")
    let parts = try make(
      capacity: capacity, elementSize: elementSize, elementAlignment: elementAlignment, flags: flags,
      options: options)
    var greeting = [UInt8](repeating: 0, count: 8)
    withUnsafeBytes(of: greetingMagic.littleEndian) { greeting.replaceSubrange(0..<4, with: $0) }
    greeting[4] = UInt8(RingLayout.version)
    greeting[5] = role == .producer ? roleSender : roleReceiver
    let peerBell = parts.bell(role == .producer ? .consumer : .producer)
    return Offer(
      parts: parts, greeting: greeting, descriptors: [parts.memory.descriptor, peerBell.descriptor])
  }

  /// The room an offer needs: 8 bytes, aligned for the magic number.
  static func offerBuffer() -> UnsafeMutableRawBufferPointer {
    UnsafeMutableRawBufferPointer.allocate(byteCount: 8, alignment: 8)
  }

  /// Validates the offer the peer of `socket` sent (`message`, read into `buffer`) and opens
  /// this side of its ring.
  static func accept(
    _ message: ReceivedMessage, in buffer: UnsafeMutableRawBufferPointer, over socket: Socket,
    role: RingSide.Role, elementSize: Int, elementAlignment: Int, flags: UInt32
  ) throws(HinixError) -> RingSide {
    let operation = "accept ring"
    func refuse(_ detail: String) -> HinixError {
      HinixError(.incompatible, operation: operation, subject: socket.subject, detail: detail)
    }
    if message.count == 0 {
      throw HinixError(.peerGone, operation: operation, detail: "the peer closed the socket")
    }
    guard message.count == 8, buffer.loadUnaligned(as: UInt32.self) == greetingMagic.littleEndian else {
      throw refuse("the peer's first message (\(message.count) bytes) is not a Hinix ring offer")
    }
    guard buffer[4] == UInt8(RingLayout.version) else {
      throw refuse("the peer offers ring version \(buffer[4]); this Hinix speaks \(RingLayout.version)")
    }
    let expected = role == .producer ? roleReceiver : roleSender
    guard buffer[5] == expected else {
      throw refuse(
        "the peer offers to be the \(buffer[5] == roleSender ? "sender" : "receiver") too; one side must send and one receive"
      )
    }
    guard message.descriptors.count == 2, !message.lostDescriptors else {
      let count = message.descriptors.count + message.discardedDescriptors
      throw refuse(
        "the offer carried \(message.controlTruncated ? "more than \(count)" : "\(count)") descriptors, not the 2 a ring needs"
      )
    }
    guard let memoryFile = message.descriptors.takeNext(), let bell = message.descriptors.takeNext() else {
      throw refuse("the offer's descriptors went missing")
    }
    return try open(
      memory: memoryFile, bell: bell, role: role, elementSize: elementSize,
      elementAlignment: elementAlignment,
      flags: flags, operation: operation)
  }

  /// Opens this side of a ring from descriptors another process made: checks that the doorbell
  /// is a connected Unix stream socket, the memory file's seals and size, and the header, then
  /// maps it.
  static func open(
    memory memoryFile: consuming OwnedDescriptor, bell: consuming OwnedDescriptor, role: RingSide.Role,
    elementSize: Int, elementAlignment: Int, flags: UInt32, operation: String
  ) throws(HinixError) -> RingSide {
    let doorbell = try checkBell(bell.release(), operation: operation)
    // Only what the header's layout needs is accepted and mapped: a peer's sparse file of
    // terabytes with a valid header would otherwise be mapped whole. The header is read first
    // without mapping; it is validated again once mapped, where the peer may have changed it.
    let fd = memoryFile.descriptor.rawValue
    try SharedMemory.checkSealed(fd, subject: "memory file \(fd)")
    let needed = try layoutSize(
      of: fd, elementSize: elementSize, elementAlignment: elementAlignment, flags: flags)
    // The header is the peer's: a capacity of 2^40 would still have a sparse file of terabytes
    // mapped. A ring made by another process is held to a size no honest ring needs to pass.
    guard needed <= maximumAcceptedSize else {
      throw HinixError(
        .incompatible, operation: operation, subject: "memory file \(fd)",
        detail:
          "the ring's header asks for \(needed) bytes, more than the \(maximumAcceptedSize) (4 GiB) a ring "
          + "made by another process may map")
    }
    // A ring made with huge pages rounds its file up to a 2 MiB page.
    let hugePage = 2 << 20
    let memory = try SharedMemory(
      adoptingSealed: memoryFile, minimumSize: needed, maximumSize: (needed + hugePage - 1) & ~(hugePage - 1))
    let header = try RingLayout.validate(
      memory.baseAddress, mappedSize: memory.count, elementSize: elementSize,
      elementAlignment: elementAlignment, flags: flags)
    return try RingSide(role: role, memory: memory, header: header, bell: doorbell)
  }

  /// The most memory a ring made by another process may have this process map: 4 GiB, far above
  /// what a ring needs to run at full speed (a few MiB), far below what exhausts an address space.
  static let maximumAcceptedSize = 4 << 30

  /// The size of the ring whose header the memory file `fd` holds, read (not mapped) and validated.
  static func layoutSize(of fd: Int32, elementSize: Int, elementAlignment: Int, flags: UInt32)
    throws(HinixError) -> Int
  {
    let header = try withUnsafeTemporaryAllocation(byteCount: RingLayout.dataOffset, alignment: 8) {
      (buffer) throws(HinixError) -> RingLayout.Header in
      let count: Int
      switch Sys.read(fd, buffer, at: 0) {
      case .success(let value): count = value
      case .failure(let error): throw HinixError.system(error, "pread", subject: "memory file \(fd)")
      }
      return try RingLayout.validate(
        UnsafeRawPointer(buffer.baseAddress!), mappedSize: count < buffer.count ? count : .max,
        elementSize: elementSize, elementAlignment: elementAlignment, flags: flags)
    }
    return header.fileSize
  }

  /// What `/proc/self/fd` says a descriptor is: `socket:[…]`, `anon_inode:[eventfd]`, a path,
  /// or "?" when it is not open.
  static func descriptorKind(_ descriptor: FileDescriptor) -> String {
    (try? Sys.descriptorTarget(descriptor.rawValue).get())?.printable ?? "?"
  }

  /// The doorbell end another process handed over, as a socket this side owns; refused (and
  /// closed) unless it is a connected Unix stream socket.
  static func checkBell(_ descriptor: FileDescriptor, operation: String) throws(HinixError) -> Socket {
    let socket = Socket(adopting: descriptor, domain: .unix, kind: .stream)
    let fd = descriptor.rawValue
    let kind = descriptorKind(descriptor)
    let domain = try? Sys.getOption(fd, SOL_SOCKET, SO_DOMAIN, as: Int32.self).get()
    let type = try? Sys.getOption(fd, SOL_SOCKET, SO_TYPE, as: Int32.self).get()
    guard kind.hasPrefix("socket:"), domain == AF_UNIX, type == Int32(SOCK_STREAM.rawValue),
      (try? socket.peerAddress()) != nil
    else {
      throw HinixError(
        .incompatible, operation: operation, subject: "descriptor \(fd)",
        detail: "the ring's doorbell is \(kind), not a connected Unix stream socket")
    }
    return socket
  }
}
