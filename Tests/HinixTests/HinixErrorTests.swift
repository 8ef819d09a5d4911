import Testing

@testable import Hinix

@Suite("Error codes")
struct HinixErrorTests {
  @Test("codes compare and hash as values and print as their Swift names")
  func codesCompareAndPrint() {
    let codes: [HinixError.Code] = [
      .invalidName, .invalidArgument, .closed, .messageTooLarge, .limitExceeded, .permissionDenied, .notFound,
      .alreadyExists, .wouldBlock, .brokenPipe, .timedOut, .messageTruncated, .shortWrite, .connectionRefused,
      .connectionReset, .notConnected, .reactorShutDown, .corrupt, .peerGone, .incompatible, .unsupported,
      .system,
    ]
    #expect(Set(codes).count == codes.count)
    #expect(HinixError.Code.peerGone == .peerGone && HinixError.Code.peerGone != .closed)
    #expect(codes.map(\.name).contains("messageTruncated"))
    #expect("\(HinixError.Code.timedOut)" == "timedOut")
    #expect(Set(codes.map(\.name)).count == codes.count)
  }
}
