import CHinixBaseline
import Hinix

/// The kernel transports: message queues, eventfds, byte streams and descriptor passing.
extension Runner {
  func messageQueueRoundTrips(size: Int) throws -> [Figure] {
    let samples = try alternating([Int64](), +) { implementation in
      return try withQueues { out, back in
        let count = plan.warmUp + plan.roundTrips
        let peer = try spawnPeer(
          ["mq-echo", implementation.rawValue, out.name!.string!, back.name!.string!, "\(count)"],
          queues: [out.name!.string!, back.name!.string!])
        defer { peer.end() }
        let message = MessageBuffer(size: back.capacity.maxMessageSize)
        defer { message.free() }
        let recorded = try timedSamples(count) { buffer in
          switch implementation {
          case .c:
            try check(
              hinix_c_mq_rtt(
                out.descriptor.rawValue, back.descriptor.rawValue, message.bytes.baseAddress,
                message.bytes.count,
                size, count, buffer.baseAddress))
          case .hinix:
            try BenchLoops.messageQueueRoundTrips(
              out: out, back: back, buffer: message.bytes, size: size, samples: buffer)
          }
        }
        try finish(peer)
        return recorded
      }
    }
    return Report.latency(transport: "mq", size: size, samples)
  }

  func messageQueueThroughput(size: Int) throws -> Figure {
    let seconds = try alternating(0.0, +) { implementation in
      return try withQueues { out, back in
        let peer = try spawnPeer(
          [
            "mq-sink", implementation.rawValue, out.name!.string!, back.name!.string!,
            "\(plan.streamed)",
          ],
          queues: [out.name!.string!, back.name!.string!])
        defer { peer.end() }
        var elapsed: Int64 = 0
        let message = MessageBuffer(size: back.capacity.maxMessageSize)
        defer { message.free() }
        switch implementation {
        case .c:
          try check(
            hinix_c_mq_stream_send(
              out.descriptor.rawValue, back.descriptor.rawValue, message.bytes.baseAddress,
              message.bytes.count,
              size, plan.streamed, &elapsed))
        case .hinix:
          elapsed = try BenchLoops.messageQueueStream(
            out: out, ack: back, buffer: message.bytes, size: size, count: plan.streamed)
        }
        try finish(peer)
        return Double(elapsed) / 1e9
      }
    }
    let bytes = Double(size * plan.streamed * plan.rounds)
    return Figure(
      transport: "mq", size: size, metric: "throughput_bytes_per_s", hinix: bytes / seconds[.hinix]!,
      baseline: bytes / seconds[.c]!)
  }

  /// Signal round trips: this process sends a real-time signal to the peer, which answers with
  /// the same signal; each side receives through a handler that writes into a pipe (C) or a
  /// `SignalWatcher` (Hinix), the Hinix loop on the default pool or on the reactor's executor.
  ///
  /// Without `loop`, the C baseline is the least a program can do: the thread that reads the
  /// pipe is the one the handler runs in. With `loop`, it does the work Hinix does, shaped as
  /// libuv's and libevent's signal watchers are: the handler runs on another thread (as in any
  /// multi-threaded program) and the reading thread is an event loop, which learns of the
  /// handler's write from `epoll_wait` before it reads.
  func signalRoundTrips(onReactor: Bool, loop: Bool = false) throws -> [Figure] {
    guard let signal = Signal.realtime(1) else { throw BenchError.failure("no real-time signals") }
    let count = plan.warmUp + plan.roundTrips
    let samples = try alternating([Int64](), +) { implementation in
      let recorded: [Int64]
      let arguments = [
        "signal-echo", implementation.rawValue, "\(count)", onReactor ? "reactor" : "pool",
        loop ? "loop" : "direct",
      ]
      switch implementation {
      case .c:
        try check(hinix_c_signal_listen(signal.rawValue))
        defer { _ = hinix_c_signal_unlisten(signal.rawValue) }
        let mask = loop ? try ThreadSignalMask.current : nil
        if loop { try check(hinix_c_signal_loop(signal.rawValue)) }
        defer { if let mask { _ = try? ThreadSignalMask.set(mask) } }
        let peer = try spawnPeer(arguments)
        defer { peer.end() }
        recorded = try timedSamples(count) { buffer in
          try check(hinix_c_signal_rtt(peer.pid, signal.rawValue, loop ? 1 : 0, count, buffer.baseAddress))
        }
        try finish(peer)
      case .hinix:
        let watcher = try SignalWatcher([signal])
        defer { watcher.cancel() }
        let peer = try spawnPeer(arguments)
        defer { peer.end() }
        recorded = try timedSamples(count) { buffer in
          try BenchLoops.signalRoundTrips(
            peer: peer.pid, signal: signal, watcher: watcher, onReactor: onReactor, samples: buffer)
        }
        try finish(peer)
      }
      return recorded
    }
    let name = loop ? "signal/C-loop" : onReactor ? "signal-reactor" : "signal"
    return Report.latency(transport: name, size: 0, samples)
  }

  /// Exit-wait latency: from a child's last moment (it writes the time to a pipe, then exits)
  /// to the return of the parent's wait for it through its pidfd: C polls the pidfd and calls
  /// `waitid`, Hinix awaits `ChildProcess.wait()` in the reactor. One child per sample.
  func exitWaitLatency() throws -> [Figure] {
    let count = 3 + plan.exitSamples
    let samples = try alternating([Int64](), +) { implementation in
      var recorded = [Int64](repeating: 0, count: count)
      for index in 0..<count {
        let (reader, writer) = try Pipe.create()
        let child = try ChildProcess.spawn(
          executable, arguments: ["bench-peer", "exit-stamped", implementation.rawValue],
          passing: [writer.descriptor: 3], cpu: peerCPU)
        var ended: Int64 = 0
        switch implementation {
        case .c:
          try check(hinix_c_pidfd_wait(child.process.descriptor.rawValue, &ended))
        case .hinix:
          ended = try BenchLoops.awaitExit(child)
        }
        var stamp: Int64 = 0
        let got = try withUnsafeMutableBytes(of: &stamp) { try reader.blockingRead(into: $0) }
        guard got == 8 else { throw BenchError.failure("the exiting peer wrote no time") }
        recorded[index] = ended - stamp
        _ = writer
      }
      return Array(recorded[3...])
    }
    return Report.latency(transport: "pidfd-exit", size: 0, samples)
  }

  func eventFDRoundTrips() throws -> [Figure] {
    let samples = try alternating([Int64](), +) { implementation in
      let ping = try EventFD()
      let pong = try EventFD()
      let count = plan.warmUp + plan.roundTrips
      let peer = try spawnPeer(
        ["eventfd-echo", implementation.rawValue, "\(count)"],
        passing: [ping.descriptor: 3, pong.descriptor: 4])
      defer { peer.end() }
      let recorded = try timedSamples(count) { buffer in
        switch implementation {
        case .c:
          try check(
            hinix_c_eventfd_rtt(
              ping.descriptor.rawValue, pong.descriptor.rawValue, count, buffer.baseAddress))
        case .hinix:
          try BenchLoops.eventFDRoundTrips(ping: ping, pong: pong, samples: buffer)
        }
      }
      try finish(peer)
      return recorded
    }
    return Report.latency(transport: "eventfd", size: 8, samples)
  }

  func streamRoundTrips(_ kind: StreamKind, size: Int) throws -> [Figure] {
    let count = plan.warmUp + plan.roundTrips
    let samples = try alternating([Int64](), +) { implementation in
      return try withStreamPeer(kind, ["stream-echo", implementation.rawValue, "\(size)", "\(count)"]) {
        ends in
        let message = MessageBuffer(size: size)
        defer { message.free() }
        let recorded = try timedSamples(count) { buffer in
          switch (implementation, ends) {
          case (.c, _):
            let descriptors = ends.descriptors
            try check(
              hinix_c_stream_rtt(
                descriptors.write, descriptors.read, message.bytes.baseAddress, size, count,
                buffer.baseAddress))
          case (.hinix, .pipe(let writer, let reader)):
            try BenchLoops.streamRoundTrips(
              writer: writer, reader: reader, buffer: message.bytes, samples: buffer)
          case (.hinix, .socket(let socket)):
            try BenchLoops.streamRoundTrips(
              writer: socket, reader: socket, buffer: message.bytes, samples: buffer)
          case (.hinix, .terminal(let terminal)):
            try BenchLoops.streamRoundTrips(
              writer: terminal, reader: terminal, buffer: message.bytes, samples: buffer)
          }
        }
        return recorded
      }
    }
    return Report.latency(transport: kind.rawValue, size: size, samples)
  }

  func streamThroughput(_ kind: StreamKind, size: Int) throws -> Figure {
    let count = max(1, min(plan.streamed, plan.streamedBytes / size))
    let seconds = try alternating(0.0, +) { implementation in
      return try withStreamPeer(
        kind, ["stream-sink", implementation.rawValue, "\(size)", "\(count * size)"]
      ) { ends in
        let message = MessageBuffer(size: size)
        defer { message.free() }
        var elapsed: Int64 = 0
        switch (implementation, ends) {
        case (.c, _):
          let descriptors = ends.descriptors
          try check(
            hinix_c_stream_send(
              descriptors.write, descriptors.read, message.bytes.baseAddress, size, count, &elapsed)
          )
        case (.hinix, .pipe(let writer, let reader)):
          elapsed = try BenchLoops.streamSend(
            writer: writer, ack: reader, buffer: message.bytes, count: count)
        case (.hinix, .socket(let socket)):
          elapsed = try BenchLoops.streamSend(
            writer: socket, ack: socket, buffer: message.bytes, count: count)
        case (.hinix, .terminal(let terminal)):
          elapsed = try BenchLoops.streamSend(
            writer: terminal, ack: terminal, buffer: message.bytes, count: count)
        }
        return Double(elapsed) / 1e9
      }
    }
    let bytes = Double(size * count * plan.rounds)
    return Figure(
      transport: kind.rawValue, size: size, metric: "throughput_bytes_per_s", hinix: bytes / seconds[.hinix]!,
      baseline: bytes / seconds[.c]!)
  }

  /// Descriptor passing: one byte with a descriptor attached, sent and echoed back with it.
  func descriptorPassingRoundTrips() throws -> [Figure] {
    let count = plan.warmUp + plan.roundTrips
    let samples = try alternating([Int64](), +) { implementation in
      return try withStreamPeer(.seqpacket, ["fdpass-echo", implementation.rawValue, "1", "\(count)"]) {
        ends in
        guard case .socket(let socket) = ends else { return [] }
        let passed = try EventFD()
        let recorded = try timedSamples(count) { buffer in
          switch implementation {
          case .c:
            try check(
              hinix_c_fdpass_rtt(
                socket.descriptor.rawValue, passed.descriptor.rawValue, count, buffer.baseAddress))
          case .hinix:
            try BenchLoops.descriptorRoundTrips(socket: socket, passing: passed.descriptor, samples: buffer)
          }
        }
        return recorded
      }
    }
    return Report.latency(transport: "fd-pass", size: 1, samples)
  }
}
