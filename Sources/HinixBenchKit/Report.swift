/// Turns samples into figures, and figures into a table or JSON.
public enum Report {
  static func rounded(_ value: Double, _ places: Double) -> Double {
    let scale = places == 1 ? 10.0 : 100.0
    return (value * scale).rounded() / scale
  }

  /// `value` with exactly two decimals (`1.00`, `0.75`, `12.30`); `inf` or `nan` as they are.
  static func twoDecimals(_ value: Double) -> String {
    guard value.isFinite else { return "\(value)" }
    let hundredths = Int((abs(value) * 100).rounded())
    let fraction = hundredths % 100
    return (value < 0 && hundredths > 0 ? "-" : "") + "\(hundredths / 100)." + (fraction < 10 ? "0" : "")
      + "\(fraction)"
  }

  /// One JSON array of `figures`, one object a line, values rounded to 0.1 and ratios to 0.01.
  public static func json(_ figures: [Figure]) -> String {
    let objects = figures.map { figure in
      "{\"transport\": \"\(figure.transport)\", \"size\": \(figure.size), \"metric\": \"\(figure.metric)\", "
        + "\"hinix\": \(rounded(figure.hinix, 1)), \"baseline\": \(rounded(figure.baseline, 1)), "
        + "\"ratio\": \(rounded(figure.ratio, 2))}"
    }
    return "[\n  " + objects.joined(separator: ",\n  ") + "\n]\n"
  }

  /// The shared-memory ring's 64 KiB throughput beside the best kernel transport of the same
  /// run (either column), as issue 4 asks; empty when `figures` lack either.
  public static func ringSummary(_ figures: [Figure]) -> String {
    let throughput = figures.filter { $0.metric.hasPrefix("throughput") && $0.size == 65536 }
    guard let ring = throughput.first(where: { $0.transport == "shm-ring" }),
      let best = throughput.filter({ $0.transport != "shm-ring" }).max(by: {
        max($0.hinix, $0.baseline) < max($1.hinix, $1.baseline)
      })
    else { return "" }
    let kernel = max(best.hinix, best.baseline)
    return
      "shm-ring at 64 KiB: \(twoDecimals(ring.hinix / kernel))x the best kernel transport of this run (\(best.transport), \(rounded(kernel / 1e6, 1)) MB/s).\n"
  }

  /// `figures` as a table with units, one figure a line, and the legend of its columns.
  public static func table(_ figures: [Figure]) -> String {
    func pad(_ text: String, _ width: Int, left: Bool = false) -> String {
      let padding = String(repeating: " ", count: max(0, width - text.count))
      return left ? text + padding : padding + text
    }
    func value(_ figure: Figure, _ number: Double) -> String {
      if figure.metric.hasPrefix("throughput") {
        return "\(rounded(number / 1e6, 1)) MB/s"
      }
      return number < 1000 ? "\(rounded(number, 1)) ns" : "\(rounded(number / 1000, 2)) µs"
    }
    // The transport column is as wide as its longest name (`inotify-latency`), plus a space.
    let nameWidth = max(12, (figures.map(\.transport.count).max() ?? 0) + 1)
    var lines = [
      pad("transport", nameWidth, left: true) + pad("size", 6) + "  " + pad("metric", 12, left: true)
        + pad("hinix", 14) + pad("C baseline", 14) + pad("ratio", 8)
    ]
    for figure in figures {
      let metric =
        switch figure.metric {
        case "rtt_median_ns": "rtt median"
        case "rtt_p99_ns": "rtt p99"
        case "rtt_mean_ns": "rtt mean"
        case "op_ns": "per op"
        default: "throughput"
        }
      lines.append(
        pad(figure.transport, nameWidth, left: true) + pad("\(figure.size)", 6) + "  "
          + pad(metric, 12, left: true)
          + pad(value(figure, figure.hinix), 14) + pad(value(figure, figure.baseline), 14)
          + pad(twoDecimals(figure.ratio), 8))
    }
    lines.append("")
    lines.append("ratio: times worse than the C baseline (hinix/C for times, C/hinix for throughput).")
    lines.append("size: payload bytes per message; 0 where nothing but the event itself travels.")
    lines.append(
      "rtt: a round trip to the peer process and back; for pidfd-exit, inotify-latency and timer-late,")
    lines.append("  one way: a child's exit to the wait's return, a file's creation to its event, a timer's")
    lines.append("  expiry to its read.")
    lines.append("rtt mean: the mean of the fastest 99%, not quantized by the clock's tick as a median is.")
    lines.append("per op: per event decoded (inotify), per wait (poller), per folder watched (inotify-tree,")
    lines.append("  a tree of three levels), per message through the ring on one thread (ring-1thread).")
    lines.append("signal: a watcher's task on the default pool against C's handler and read on one thread;")
    lines.append("  signal-reactor: the same on the reactor; signal/C-loop: against C shaped like an event")
    lines.append("  loop (a handler thread waking epoll), as libuv does.")
    lines.append("spin/ping-pong: not Hinix against C: the spinning ring's round trip against one cache line")
    lines.append("  bounced between the same CPUs, the hardware's floor. spin200/spin: spin-then-sleep")
    lines.append("  against busy-spin, both Hinix.")
    return lines.joined(separator: "\n") + "\n"
  }
}
