import Glibc
import SystemPackage

// MARK: Gathering writes

extension Socket {
  /// The most buffers one gathering system call takes (`IOV_MAX`); longer lists of buffers
  /// go to a stream socket in several calls.
  public static var maximumBuffersPerCall: Int { Int(Sys.maximumBuffersPerCall) }

  /// Writes `buffers` one after another with as few system calls as the kernel allows (a
  /// gathering write: `sendmsg` with several buffers, and `MSG_NOSIGNAL`), waiting while the
  /// socket's buffer is full.
  ///
  /// On a stream socket every byte goes, in order. On a seqpacket or datagram socket the
  /// buffers form one message, which goes whole or throws (`.messageTooLarge`, `.shortWrite`,
  /// or `.limitExceeded` for more than ``maximumBuffersPerCall`` parts). Passing an array the
  /// caller keeps and refills makes the call allocation-free.
  @available(*, noasync, message: "blocks its thread; use `await write(gathering:)` in async code")
  public func blockingWrite(gathering buffers: [UnsafeRawBufferPointer]) throws(HinixError) {
    try checkGather(buffers)
    var cursor = GatherCursor()
    // At least one call, so an empty list still sends an empty message on a message socket.
    repeat {
      let count = try transfer("sendmsg", events: Int16(POLLOUT), waiting: .forever) { flags in
        sendGathered(buffers, from: cursor, flags: flags)
      }!
      try advance(&cursor, by: count, in: buffers)
    } while !cursor.isDone(buffers)
  }

  /// The async form of ``blockingWrite(gathering:)``: suspends the task, not its thread, while the
  /// socket's buffer is full. The buffers must stay valid until the call returns.
  public nonisolated(nonsending) func write(
    gathering buffers: [UnsafeRawBufferPointer], reactor: Reactor = .shared
  ) async throws {
    try checkGather(buffers)
    var cursor = GatherCursor()
    repeat {
      let count = try await transfer("sendmsg", events: .writable, reactor: reactor) { flags in
        sendGathered(buffers, from: cursor, flags: flags)
      }
      try advance(&cursor, by: count, in: buffers)
    } while !cursor.isDone(buffers)
  }

  /// Where a gathering write has got to: the buffer it is in, and how much of it has gone.
  struct GatherCursor {
    var index = 0
    var offset = 0

    func isDone(_ buffers: [UnsafeRawBufferPointer]) -> Bool { index >= buffers.count }
  }

  private func checkGather(_ buffers: [UnsafeRawBufferPointer]) throws(HinixError) {
    if kind != .stream, buffers.count > Socket.maximumBuffersPerCall {
      throw HinixError(
        .limitExceeded, operation: "sendmsg", subject: subject,
        detail:
          "a message of \(buffers.count) parts is more than one call takes (IOV_MAX, \(Socket.maximumBuffersPerCall))"
      )
    }
  }

  /// One `sendmsg` of the buffers from `cursor` on, at most `IOV_MAX` of them, described in
  /// stack memory.
  private func sendGathered(
    _ buffers: [UnsafeRawBufferPointer], from cursor: GatherCursor, flags: Int32
  ) -> Result<Int, Errno> {
    let count = min(buffers.count - cursor.index, Socket.maximumBuffersPerCall)
    return withUnsafeTemporaryAllocation(of: iovec.self, capacity: count) { vector in
      for slot in 0..<count {
        let buffer = buffers[cursor.index + slot]
        let skip = slot == 0 ? cursor.offset : 0
        vector.initializeElement(
          at: slot,
          to: iovec(
            iov_base: UnsafeMutableRawPointer(mutating: buffer.baseAddress.map { $0 + skip }),
            iov_len: buffer.count - skip))
      }
      return Sys.sendVector(fd, vector, flags: flags)
    }
  }

  /// Moves `cursor` past `count` sent bytes; on a message socket anything short of the whole
  /// message is `.shortWrite`.
  private func advance(
    _ cursor: inout GatherCursor, by count: Int, in buffers: [UnsafeRawBufferPointer]
  ) throws(HinixError) {
    var left = count
    while cursor.index < buffers.count {
      let rest = buffers[cursor.index].count - cursor.offset
      if left < rest {
        cursor.offset += left
        break
      }
      left -= rest
      cursor.index += 1
      cursor.offset = 0
    }
    if kind != .stream, !cursor.isDone(buffers) {
      let total = buffers.reduce(0) { $0 + $1.count }
      throw HinixError(
        .shortWrite, operation: "sendmsg", subject: subject,
        detail: "the kernel took \(count) of the message's \(total) bytes")
    }
  }
}
