import Glibc
import Testing

@testable import Hinix

@Suite("Sockets: gathering writes", .timeLimit(.minutes(1)))
struct GatherTests {
  /// Three parts, one empty and one far larger than a socket buffer, so the kernel takes them
  /// in pieces that end inside a buffer.
  private static func parts() -> [[UInt8]] {
    [Array(repeating: 1, count: 10), [], (0..<(3 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 7) }, [4, 5]]
  }

  @Test("a gathering write on a stream socket sends every byte in order, blocking and async")
  func streamOrder() async throws {
    let parts = GatherTests.parts()
    let expected = parts.flatMap { $0 }
    for useAsync in [false, true] {
      let (left, right) = try Socket.pair(nonBlocking: useAsync)
      let reader = Task { try await readAll(right, expected.count) }
      try await withBuffers(parts) { buffers in
        if useAsync {
          try await left.write(gathering: buffers)
        } else {
          // On a thread of its own: blocked on a pool thread, the write could wait forever for
          // a reader task that no free pool thread is left to run.
          nonisolated(unsafe) let buffers = buffers
          let writer = Thread { try writeBlocking(left, buffers) }
          _ = try await reader.value
          try writer.join()
        }
      }
      #expect(try await reader.value == expected)
    }
  }

  private func readAll(_ socket: Socket, _ total: Int) async throws -> [UInt8] {
    var bytes: [UInt8] = []
    while bytes.count < total {
      let chunk = try await socket.read(upTo: 65536)
      if chunk.isEmpty { break }
      bytes += chunk
    }
    return bytes
  }

  @Test("on a seqpacket socket the parts form one message; too many parts is a clear error")
  func messageParts() async throws {
    let (left, right) = try Socket.pair(.seqpacket)
    try await withBuffers([[1, 2], [], [3]]) { buffers in try writeBlocking(left, buffers) }
    var message: [UInt8] = []
    _ = try await right.receive(into: &message)
    #expect(message == [1, 2, 3])

    let many = [[UInt8]](repeating: [7], count: Socket.maximumBuffersPerCall + 1)
    try await withBuffers(many) { buffers in
      let error = #expect(throws: HinixError.self) { try writeBlocking(left, buffers) }
      #expect(error?.code == .limitExceeded)
      #expect(error?.description.contains("IOV_MAX") == true)
    }
  }

  /// The blocking form, which an async context would not pick by itself.
  private func writeBlocking(_ socket: Socket, _ buffers: [UnsafeRawBufferPointer]) throws {
    try socket.blockingWrite(gathering: buffers)
  }

  /// Runs `body` with the arrays' storage as raw buffers.
  private func withBuffers(
    _ parts: [[UInt8]], _ body: ([UnsafeRawBufferPointer]) async throws -> Void
  ) async throws {
    let copies = parts.map { part -> UnsafeMutableRawBufferPointer in
      let copy = UnsafeMutableRawBufferPointer.allocate(byteCount: part.count, alignment: 1)
      copy.copyBytes(from: part)
      return copy
    }
    defer { for copy in copies { copy.deallocate() } }
    try await body(copies.map { UnsafeRawBufferPointer($0) })
  }
}
