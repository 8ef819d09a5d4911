/// The layout of a ring in its shared memory file, and the checks an opener makes.
///
/// ```
/// offset    0  header (written once by the creator, validated and copied by the opener)
///              magic u64, version u32, flags u32, capacity u64 (elements, a power of two),
///              element size u32 (the stride), element alignment u32, data offset u64
/// offset  128  producer line: the producer's position (elements written, free-running u64)
/// offset  256  consumer line: the consumer's position (elements read)
/// offset  384  consumer-sleeping flag   (set by the consumer before it sleeps)
/// offset  512  producer-sleeping flag   (set by the producer before it sleeps)
/// offset  640  producer-closed flag
/// offset  768  consumer-closed flag
/// offset 4096  data: capacity × element size bytes
/// ```
///
/// Each mutable word has a 128-byte line to itself (two 64-byte lines: the adjacent-line
/// prefetcher fetches pairs), so the producer's and consumer's steady-state stores never share
/// a line. Neither side ever reads back its own position from shared memory: it keeps it
/// privately, so a peer that scribbles on the positions can make the ring look corrupt, never
/// move this side's view.
enum RingLayout {
  static let magic: UInt64 = 0x4752_4E49_5849_4E48  // "HNIXRNG" plus G, little-endian
  /// 2: a message ring's frames publish themselves (``MessageFrame``).
  static let version: UInt32 = 2
  static let headerSize = 128
  static let producerPosition = 128
  static let consumerPosition = 256
  static let consumerSleeping = 384
  static let producerSleeping = 512
  static let producerClosed = 640
  static let consumerClosed = 768
  static let dataOffset = 4096

  /// Flag bit: the ring carries framed variable-length messages (``MessageSender``).
  static let messageFlag: UInt32 = 1

  /// The most elements a ring may hold: positions are free-running 64-bit counters, and the
  /// data size must fit in an `Int`.
  static let maximumCapacity = 1 << 40

  /// What the opener found in a header, after validation.
  struct Header: Equatable {
    var capacity: Int
    var elementSize: Int
    var elementAlignment: Int
    var flags: UInt32

    var dataSize: Int { capacity * elementSize }
    var fileSize: Int { RingLayout.dataOffset + dataSize }
  }

  /// Checks a capacity asked of a creator.
  static func checkCapacity(_ capacity: Int, elementSize: Int, operation: String) throws(HinixError) {
    guard capacity >= 2, capacity <= maximumCapacity, capacity & (capacity - 1) == 0 else {
      throw HinixError(
        .invalidArgument, operation: operation,
        detail: "the capacity must be a power of two from 2 to 2^40 elements, not \(capacity)")
    }
    let (size, overflow) = capacity.multipliedReportingOverflow(by: max(elementSize, 1))
    guard !overflow, size <= Int.max - dataOffset else {
      throw HinixError(
        .invalidArgument, operation: operation,
        detail: "\(capacity) elements of \(elementSize) bytes do not fit in memory")
    }
  }

  /// Writes a new header at `base`, with every position and flag zero.
  static func initialize(_ base: UnsafeMutableRawPointer, _ header: Header) {
    base.initializeMemory(as: UInt8.self, repeating: 0, count: dataOffset)
    base.storeBytes(of: magic, toByteOffset: 0, as: UInt64.self)
    base.storeBytes(of: version, toByteOffset: 8, as: UInt32.self)
    base.storeBytes(of: header.flags, toByteOffset: 12, as: UInt32.self)
    base.storeBytes(of: UInt64(header.capacity), toByteOffset: 16, as: UInt64.self)
    base.storeBytes(of: UInt32(header.elementSize), toByteOffset: 24, as: UInt32.self)
    base.storeBytes(of: UInt32(header.elementAlignment), toByteOffset: 28, as: UInt32.self)
    base.storeBytes(of: UInt64(dataOffset), toByteOffset: 32, as: UInt64.self)
  }

  /// Reads and validates the header of a mapping of `mappedSize` bytes against what this side
  /// expects; every mismatch is `.incompatible` naming the field, both values and the limit.
  static func validate(
    _ base: UnsafeRawPointer, mappedSize: Int, elementSize: Int, elementAlignment: Int, flags: UInt32
  ) throws(HinixError) -> Header {
    func mismatch(_ detail: String) -> HinixError {
      HinixError(.incompatible, operation: "open ring", subject: "ring header", detail: detail)
    }
    guard mappedSize >= dataOffset else {
      throw mismatch("the memory file holds \(mappedSize) bytes, less than a ring header's \(dataOffset)")
    }
    let foundMagic = base.loadUnaligned(fromByteOffset: 0, as: UInt64.self)
    guard foundMagic == magic else {
      throw mismatch("the magic number is 0x\(String(foundMagic, radix: 16)), not a Hinix ring's")
    }
    let foundVersion = base.loadUnaligned(fromByteOffset: 8, as: UInt32.self)
    guard foundVersion == version else {
      throw mismatch("the ring's layout version is \(foundVersion); this Hinix reads version \(version)")
    }
    let foundFlags = base.loadUnaligned(fromByteOffset: 12, as: UInt32.self)
    guard foundFlags == flags else {
      let kind = { (flags: UInt32) in flags & messageFlag != 0 ? "a message ring" : "a typed ring" }
      throw mismatch("the ring is \(kind(foundFlags)) (flags \(foundFlags)), but \(kind(flags)) was expected")
    }
    let capacity = base.loadUnaligned(fromByteOffset: 16, as: UInt64.self)
    guard capacity >= 2, capacity <= UInt64(maximumCapacity), capacity & (capacity - 1) == 0 else {
      throw mismatch("the capacity \(capacity) is not a power of two from 2 to 2^40")
    }
    let foundSize = base.loadUnaligned(fromByteOffset: 24, as: UInt32.self)
    guard foundSize == elementSize else {
      throw mismatch(
        "the element size is \(foundSize) bytes, but this side's element is \(elementSize) bytes")
    }
    let foundAlignment = base.loadUnaligned(fromByteOffset: 28, as: UInt32.self)
    guard foundAlignment == elementAlignment else {
      throw mismatch(
        "the element alignment is \(foundAlignment), but this side's element aligns to \(elementAlignment)")
    }
    let foundOffset = base.loadUnaligned(fromByteOffset: 32, as: UInt64.self)
    guard foundOffset == UInt64(dataOffset) else {
      throw mismatch("the data offset is \(foundOffset), not \(dataOffset)")
    }
    let header = Header(
      capacity: Int(capacity), elementSize: elementSize, elementAlignment: elementAlignment, flags: flags)
    let (size, overflow) = header.capacity.multipliedReportingOverflow(by: max(elementSize, 1))
    guard !overflow, size <= mappedSize - dataOffset else {
      throw mismatch(
        "\(capacity) elements of \(elementSize) bytes need \(dataOffset)+\(capacity)×\(elementSize) bytes; the file holds \(mappedSize)"
      )
    }
    return header
  }
}
