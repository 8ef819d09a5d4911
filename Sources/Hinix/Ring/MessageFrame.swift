/// How a message ring frames variable-length messages in its bytes.
///
/// Each frame starts at an 8-aligned offset with one 64-bit word: the length in the low 32
/// bits, the kind in the high 32 bits. A message frame (kind 1) is the word and the message,
/// padded to a multiple of 8, and always lies in one piece, so a receiver reads it in place as
/// one buffer. When a frame does not fit before the end of the ring, the sender writes a
/// padding frame (kind 2) whose length is the rest of the ring, then the message frame at
/// offset 0. A frame is at most half the ring less 8 bytes, so a message always fits once the
/// ring drains (of the two parts around any offset, one is at least half), and two of the
/// largest fit together with the 8 bytes kept free after the last frame (below).
///
/// The header word publishes its frame. The sender writes the message, zeroes the header word
/// of the frame after it, then stores this frame's word (release), and with a padding frame
/// stores the padding's word last; the receiver polls the word at its position (acquire),
/// which is 0 until a frame is there. So a small message and the word that announces it share
/// a cache line, and the receiver learns of a message and reads it in one line transfer. The
/// ring keeps the 8 bytes after the last frame free for that zeroed word. Positions are still
/// published, each in its own line: the sender learns of free space from the receiver's, read
/// only when its cached count runs short.
///
/// The receiver trusts nothing: the kind must be 1 or 2, a padding frame must reach exactly the
/// end, a message frame must fit before the end and within what the sender published, and its
/// length must be at most ``maximumMessageSize(capacity:)``. Anything else is `.corrupt`.
enum MessageFrame {
  static let headerSize = 8
  static let messageKind: UInt64 = 1
  static let paddingKind: UInt64 = 2
  /// The smallest message ring: room for 16-byte messages.
  static let minimumCapacity = 64
  /// The largest: lengths are 32-bit.
  static let maximumCapacity = 1 << 32

  /// The largest message a ring of `capacity` bytes carries: half the ring less its frame's
  /// header and the next frame's header word, so that two of the largest fit at once.
  @inline(__always)
  static func maximumMessageSize(capacity: Int) -> Int {
    capacity / 2 - 2 * headerSize
  }

  /// The bytes a message of `length` takes in the ring, header and alignment included.
  @inline(__always)
  static func frameSize(_ length: Int) -> Int {
    headerSize + ((length + 7) & ~7)
  }

  @inline(__always)
  static func word(length: Int, kind: UInt64) -> UInt64 {
    UInt64(truncatingIfNeeded: length) | kind << 32
  }

  static func checkCapacity(_ capacity: Int, operation: String) throws(HinixError) {
    guard capacity >= minimumCapacity, capacity <= maximumCapacity, capacity & (capacity - 1) == 0 else {
      throw HinixError(
        .invalidArgument, operation: operation,
        detail:
          "a message ring's capacity must be a power of two from \(minimumCapacity) to 2^32 bytes, not \(capacity)"
      )
    }
  }

  /// The header check an opener adds to ``RingLayout/validate``: a message ring's capacity.
  static func checkOpened(_ side: RingSide) throws(HinixError) {
    guard side.capacity >= minimumCapacity, side.capacity <= maximumCapacity else {
      throw HinixError(
        .incompatible, operation: "accept ring", subject: "ring header",
        detail:
          "the message ring's capacity \(side.capacity) is outside \(minimumCapacity) to 2^32 bytes")
    }
  }

  /// The error for a message that can never fit, naming both sizes.
  @inline(never)
  static func tooLarge(_ length: Int, capacity: Int, operation: String) -> HinixError {
    HinixError(
      .messageTooLarge, operation: operation, subject: "shared ring",
      detail:
        "a message of \(length) bytes is larger than the \(maximumMessageSize(capacity: capacity)) bytes a ring of \(capacity) carries (half its capacity, less 16 bytes of headers)"
    )
  }

  /// Where a message to be sent goes: `padding` bytes skipped to the end of the ring, then the
  /// frame at `offset`; `needed` free bytes in all, with the next frame's header word, which
  /// the sender zeroes. At most the capacity: a padding frame is shorter than the frame after
  /// it, which is at most half the ring.
  struct Placement {
    var padding: Int
    var offset: Int
    var frame: Int
    var needed: Int { padding + frame + MessageFrame.headerSize }
  }

  @inline(__always)
  static func place(_ length: Int, position: UInt64, capacity: Int) -> Placement {
    let frame = frameSize(length)
    let offset = Int(position & UInt64(capacity - 1))
    let tail = capacity - offset
    return frame <= tail
      ? Placement(padding: 0, offset: offset, frame: frame)
      : Placement(padding: tail, offset: 0, frame: frame)
  }

  /// A received message: `skip` bytes of padding before it, the frame at `offset`.
  struct Found {
    var skip: Int
    var offset: Int
    var length: Int
    var consumed: Int { skip + frameSize(length) }
  }

  /// Reads and validates the next frame of the consumer side `side`; nil when the ring holds no
  /// complete frame. Each word is loaded once, so a sender changing it meanwhile cannot make
  /// this side use a value it did not check.
  @inline(__always)
  static func next(_ side: RingSide) throws(HinixError) -> Found? {
    guard try side.available(atLeast: headerSize) >= headerSize else { return nil }
    let capacity = side.capacity
    var offset = Int(side.position & UInt64(capacity - 1))
    var word = Sys.loadRelaxed((side.data + offset).assumingMemoryBound(to: UInt64.self))
    var skip = 0
    if word >> 32 == paddingKind {
      skip = capacity - offset
      guard Int(word & 0xFFFF_FFFF) == skip else {
        try fail(side, .paddingLength(offset: offset, claimed: word & 0xFFFF_FFFF, left: skip))
      }
      guard try side.available(atLeast: skip + headerSize) >= skip + headerSize else {
        try fail(side, .paddingAlone)
      }
      offset = 0
      word = Sys.loadRelaxed(side.data.assumingMemoryBound(to: UInt64.self))
    }
    guard word >> 32 == messageKind else {
      try fail(side, .kind(offset: offset, kind: word >> 32))
    }
    let length = Int(word & 0xFFFF_FFFF)
    let maximum = maximumMessageSize(capacity: capacity)
    guard length <= maximum, frameSize(length) <= capacity - offset else {
      try fail(
        side, .length(offset: offset, length: length, fits: min(maximum, capacity - offset - headerSize)))
    }
    let found = Found(skip: skip, offset: offset, length: length)
    guard try side.available(atLeast: found.consumed) >= found.consumed else {
      try fail(side, .partial(length: length))
    }
    return found
  }

  /// What a frame the receiver rejected was wrong with.
  enum Corruption {
    case paddingLength(offset: Int, claimed: UInt64, left: Int)
    case paddingAlone
    case kind(offset: Int, kind: UInt64)
    case length(offset: Int, length: Int, fits: Int)
    case partial(length: Int)
  }

  /// Marks `side` failed with a `.corrupt` error describing `corruption`. Out of line, so the
  /// message formatting stays out of every receive path it guards.
  @inline(never)
  static func fail(_ side: RingSide, _ corruption: Corruption) throws(HinixError) -> Never {
    let detail: String
    switch corruption {
    case .paddingLength(let offset, let claimed, let left):
      detail = "a padding frame at offset \(offset) claims \(claimed) bytes, not the \(left) left"
    case .paddingAlone:
      detail = "the sender published a padding frame without the message after it"
    case .kind(let offset, let kind):
      detail = "the frame at offset \(offset) has kind \(kind), neither message (1) nor padding (2)"
    case .length(let offset, let length, let fits):
      detail = "the frame at offset \(offset) claims \(length) bytes; at most \(fits) fit there"
    case .partial(let length):
      detail = "the sender published \(length)-byte message's header without all of its bytes"
    }
    try side.fail(HinixError(.corrupt, operation: "ring receive", subject: "shared ring", detail: detail))
  }

}
