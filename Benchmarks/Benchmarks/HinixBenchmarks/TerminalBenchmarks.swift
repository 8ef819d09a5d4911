// A pseudo-terminal in raw mode between this process (the master) and a forked raw-C echo peer
// on the slave: 64-byte round trips through Hinix (blocking and async, on the non-blocking
// master Hinix opens) and through raw C on a blocking master, as a C program opens it, with the
// malloc counter. (`hinix bench --only terminal` compares with C on the same non-blocking
// master, doing the same system calls.)
//
// Goal (issue 15): Hinix's round trip at most 1.10x the C baseline's; the blocking path
// allocates nothing per message.
import Benchmark
import CHinixBaseline
import Glibc
import Hinix
import SystemPackage

/// The pty pairs and forked echo peers of the terminal benchmarks: Hinix's master as Hinix
/// opens it (non-blocking), and the C baseline's made blocking, as `posix_openpt` opens it.
final class TerminalFixture: @unchecked Sendable {
  static let messageSize = 64
  let master: Terminal
  let cMaster: Terminal
  let buffer: UnsafeMutableRawBufferPointer
  private var peers: [pid_t] = []

  init() throws {
    let peerCPU = try pinForPeer()
    let pair = try PseudoTerminal.open(attributes: .raw)
    let cPair = try PseudoTerminal.open(attributes: .raw)
    master = pair.master
    // Blocking as the C side does, whatever the default strategy is.
    master.waitStrategy = .sleep
    cMaster = cPair.master
    let flags = fcntl(cMaster.descriptor.rawValue, F_GETFL)
    guard fcntl(cMaster.descriptor.rawValue, F_SETFL, flags & ~O_NONBLOCK) == 0 else {
      throw HinixError(.system, operation: "fcntl", detail: "could not make the C side's master blocking")
    }
    buffer = .allocate(byteCount: TerminalFixture.messageSize, alignment: 64)
    buffer.initializeMemory(as: UInt8.self, repeating: 1)
    for slave in [try PseudoTerminal.openSlave(of: pair), try PseudoTerminal.openSlave(of: cPair)] {
      let peer = hinix_c_fork_stream_peer(
        0, slave.descriptor.rawValue, TerminalFixture.messageSize, 0, peerCPU)
      guard peer > 0 else { throw HinixError(.system, operation: "fork", detail: "\(peer)") }
      peers.append(peer)
    }
  }

  func end() {
    endPeers(peers)
    buffer.deallocate()
  }

  /// Reads until the whole reply is back (a pty may deliver it in pieces).
  func readReply() throws {
    var done = 0
    while done < buffer.count {
      done += try master.blockingRead(into: UnsafeMutableRawBufferPointer(rebasing: buffer[done...]))
    }
  }

  /// ``readReply()`` through the reactor.
  func readReplyAsync() async throws {
    var done = 0
    while done < buffer.count {
      done += try await master.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[done...]))
    }
  }
}

nonisolated(unsafe) var terminals: TerminalFixture!

func terminalBenchmarks() {
  let configuration = perMessage(
    setup: { terminals = try TerminalFixture() }, teardown: { terminals.end() })

  Benchmark("pty round trip 64 B: Hinix", configuration: configuration) { benchmark in
    let message = UnsafeRawBufferPointer(terminals.buffer)
    for _ in benchmark.scaledIterations {
      try terminals.master.blockingWrite(message)
      try terminals.readReply()
    }
  }

  Benchmark("pty round trip 64 B: Hinix async", configuration: configuration) { benchmark in
    let message = UnsafeRawBufferPointer(terminals.buffer)
    for _ in benchmark.scaledIterations {
      try await terminals.master.write(message)
      try await terminals.readReplyAsync()
    }
  }

  Benchmark("pty round trip 64 B: C", configuration: configuration) { benchmark in
    let fd = terminals.cMaster.descriptor.rawValue
    for _ in benchmark.scaledIterations {
      let result = hinix_c_stream_rtt(
        fd, fd, terminals.buffer.baseAddress, TerminalFixture.messageSize, 1, nil)
      precondition(result == 0, "pty round trip failed: \(result)")
    }
  }
}
