import Glibc
import Hinix
import SystemPackage

/// The machine a run measured, as the page of charts describes it.
public struct MachineDescription: Sendable, Equatable {
  /// The processor's model name (`/proc/cpuinfo`).
  public var processor: String
  /// How many CPUs are online.
  public var cores: Int
  /// The kernel's release (`/proc/sys/kernel/osrelease`).
  public var kernel: String

  /// A description of a machine.
  public init(processor: String, cores: Int, kernel: String) {
    self.processor = processor
    self.cores = cores
    self.kernel = kernel
  }

  /// A description of this machine; "unknown" for what it cannot read.
  public static func current() -> MachineDescription {
    let cpuinfo = (try? readProcFile("/proc/cpuinfo")) ?? ""
    let model = cpuinfo.split(separator: "\n").first { $0.hasPrefix("model name") }
      .flatMap { $0.split(separator: ":", maxSplits: 1).last }
      .map { $0.trimmingWhitespace() }
    let kernel = (try? readProcFile("/proc/sys/kernel/osrelease"))?.trimmingWhitespace()
    return MachineDescription(
      processor: model.map(String.init) ?? "unknown processor",
      cores: max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN))),
      kernel: kernel.map { "Linux \($0)" } ?? "unknown kernel")
  }

  /// "Intel(R) Xeon(R) Processor, 2 cores, Linux 6.1.0".
  public var summary: String { "\(processor), \(cores) \(cores == 1 ? "core" : "cores"), \(kernel)" }
}

/// The figures of a run drawn as bar charts, Hinix beside its C baseline on a logarithmic
/// scale: an SVG document, or a self-contained HTML page (no script, no network) with the
/// charts, the machine, the date and the table.
///
/// Each bar is a `rect` that carries what it draws (`data-transport`, `data-size`,
/// `data-metric`, `data-implementation`, `data-value`), and each chart its scale
/// (`data-low`, `data-high`: the decades at the ends of the axis; `data-left`, `data-width`:
/// the plot's place), so a program can check every bar against its figure.
public enum Charts {
  /// Which figures a chart draws.
  public enum Kind: String, Sendable, CaseIterable {
    /// Median round trips and per-operation times: shorter is better.
    case latency
    /// Bytes per second: longer is better.
    case throughput

    /// Whether the chart draws `figure`.
    public func draws(_ figure: Figure) -> Bool {
      switch self {
      case .latency: figure.metric == "rtt_median_ns" || figure.metric == "op_ns"
      case .throughput: figure.metric.hasPrefix("throughput")
      }
    }

    var title: String {
      switch self {
      case .latency: "Latency: round-trip median, or time per operation (shorter is better)"
      case .throughput: "Throughput, one way (longer is better)"
      }
    }
  }

  static let labelWidth = 190.0
  static let plotWidth = 560.0
  static let valueWidth = 130.0
  static let rowHeight = 24.0
  static let barHeight = 9.0
  static let top = 46.0
  static let bottom = 28.0
  static let width = labelWidth + plotWidth + valueWidth
  static let hinixColor = "#1f6feb"
  static let baselineColor = "#9a9a9a"

  /// The height of `kind`'s chart for `figures`.
  static func height(_ kind: Kind, _ figures: [Figure]) -> Double {
    top + Double(figures.filter(kind.draws).count) * rowHeight + bottom
  }

  /// Both charts, latency above throughput, as one SVG document.
  public static func svg(_ figures: [Figure]) -> String {
    var offset = 0.0
    var groups: [String] = []
    for kind in Kind.allCases where figures.contains(where: kind.draws) {
      groups.append(chart(kind, figures, y: offset))
      offset += height(kind, figures) + 12
    }
    return """
      <svg xmlns="http://www.w3.org/2000/svg" width="\(number(width))" height="\(number(max(offset, 1)))" \
      viewBox="0 0 \(number(width)) \(number(max(offset, 1)))" font-family="sans-serif" font-size="11">
      \(groups.joined(separator: "\n"))
      </svg>

      """
  }

  /// A self-contained page: a heading with `machine` and `date`, both charts, and the table.
  public static func html(_ figures: [Figure], machine: MachineDescription, date: String) -> String {
    """
    <!DOCTYPE html>
    <html lang="en">
    <head>
    <meta charset="utf-8">
    <title>hinix bench, \(escaped(date))</title>
    <style>
    body { font-family: sans-serif; margin: 2em auto; max-width: \(Int(width) + 40)px; color: #222; }
    p.machine { color: #555; }
    pre { font-size: 12px; background: #f6f6f6; padding: 1em; overflow-x: auto; }
    </style>
    </head>
    <body>
    <h1>hinix bench</h1>
    <p class="machine">\(escaped(machine.summary)); measured \(escaped(date)). Each transport between two \
    processes, Hinix (blue) beside raw C doing the same system calls (grey), in one run.</p>
    \(svg(figures))
    <h2>The figures</h2>
    <pre>\(escaped(Report.table(figures)))</pre>
    </body>
    </html>

    """
  }

  /// One chart at height `y` of the document.
  static func chart(_ kind: Kind, _ figures: [Figure], y: Double) -> String {
    let drawn = figures.filter(kind.draws)
    // Only what a log scale can place: positive and finite (a throughput over no time is not).
    let values = drawn.flatMap { [$0.hinix, $0.baseline] }.filter { $0 > 0 && $0.isFinite }
    let low = (log10(values.min() ?? 1)).rounded(.down)
    var high = (log10(values.max() ?? 10)).rounded(.up)
    if high <= low { high = low + 1 }
    /// Where `value` ends on the axis: its bar's width.
    func length(_ value: Double) -> Double {
      guard value > 0, value.isFinite else { return 0 }
      return max(0, (log10(value) - low) / (high - low) * plotWidth)
    }
    var parts: [String] = []
    parts.append(
      "<g class=\"chart\" data-kind=\"\(kind.rawValue)\" data-low=\"\(number(low))\" data-high=\"\(number(high))\" "
        + "data-left=\"\(number(labelWidth))\" data-width=\"\(number(plotWidth))\" transform=\"translate(0 \(number(y)))\">"
    )
    parts.append(
      "<text x=\"0\" y=\"14\" font-size=\"13\" font-weight=\"bold\">\(escaped(kind.title))</text>")
    parts.append(
      "<rect x=\"\(number(labelWidth))\" y=\"24\" width=\"10\" height=\"8\" fill=\"\(hinixColor)\"/>"
        + "<text x=\"\(number(labelWidth + 14))\" y=\"32\">Hinix</text>"
        + "<rect x=\"\(number(labelWidth + 60))\" y=\"24\" width=\"10\" height=\"8\" fill=\"\(baselineColor)\"/>"
        + "<text x=\"\(number(labelWidth + 74))\" y=\"32\">C baseline</text>")
    let bottomY = top + Double(drawn.count) * rowHeight
    // A grid line and a label at each decade.
    for decade in stride(from: low, through: high, by: 1) {
      let x = labelWidth + (decade - low) / (high - low) * plotWidth
      parts.append(
        "<line x1=\"\(number(x))\" y1=\"\(number(top - 4))\" x2=\"\(number(x))\" y2=\"\(number(bottomY))\" "
          + "stroke=\"#ddd\"/>"
          + "<text x=\"\(number(x))\" y=\"\(number(bottomY + 16))\" text-anchor=\"middle\" fill=\"#555\">"
          + "\(escaped(unit(pow(10, decade), kind)))</text>")
    }
    for (row, figure) in drawn.enumerated() {
      let rowY = top + Double(row) * rowHeight
      let metric = figure.metric == "op_ns" ? "per op" : kind == .latency ? "rtt" : ""
      let label = "\(figure.transport) \(size(figure.size)) \(metric)".trimmingWhitespace()
      parts.append(
        "<text x=\"\(number(labelWidth - 6))\" y=\"\(number(rowY + barHeight + 4))\" text-anchor=\"end\">"
          + "\(escaped(String(label)))</text>")
      for (index, (implementation, value)) in [("hinix", figure.hinix), ("c", figure.baseline)].enumerated() {
        let barY = rowY + 2 + Double(index) * (barHeight + 1)
        let barLength = length(value)
        parts.append(
          "<rect x=\"\(number(labelWidth))\" y=\"\(number(barY))\" width=\"\(number(barLength))\" "
            + "height=\"\(number(barHeight))\" fill=\"\(implementation == "hinix" ? hinixColor : baselineColor)\" "
            + "data-transport=\"\(escaped(figure.transport))\" data-size=\"\(figure.size)\" "
            + "data-metric=\"\(escaped(figure.metric))\" data-implementation=\"\(implementation)\" "
            + "data-value=\"\(value)\"><title>\(escaped("\(label), \(implementation == "hinix" ? "Hinix" : "C"): \(unit(value, kind))"))</title></rect>"
        )
      }
      parts.append(
        "<text x=\"\(number(labelWidth + plotWidth + 6))\" y=\"\(number(rowY + barHeight + 4))\" fill=\"#555\">"
          + "\(escaped(unit(figure.hinix, kind))) (\(Report.twoDecimals(figure.ratio))x)</text>")
    }
    parts.append("</g>")
    return parts.joined(separator: "\n")
  }

  /// `value` (nanoseconds or bytes per second) with a unit: `12.5 µs`, `3.2 GB/s`.
  static func unit(_ value: Double, _ kind: Kind) -> String {
    guard value.isFinite else { return "\(value)" }
    func short(_ number: Double) -> String {
      let tenths = Report.rounded(number, 1)
      return number >= 100 || tenths == tenths.rounded() ? "\(Int(number.rounded()))" : "\(tenths)"
    }
    switch kind {
    case .latency:
      if value >= 1e9 { return "\(short(value / 1e9)) s" }
      if value >= 1e6 { return "\(short(value / 1e6)) ms" }
      if value >= 1e3 { return "\(short(value / 1e3)) µs" }
      return "\(short(value)) ns"
    case .throughput:
      if value >= 1e9 { return "\(short(value / 1e9)) GB/s" }
      if value >= 1e6 { return "\(short(value / 1e6)) MB/s" }
      if value >= 1e3 { return "\(short(value / 1e3)) kB/s" }
      return "\(short(value)) B/s"
    }
  }

  /// `64 B`, `4 KiB`, `1 MiB`; empty for 0.
  static func size(_ bytes: Int) -> String {
    if bytes == 0 { return "" }
    if bytes >= 1 << 20, bytes % (1 << 20) == 0 { return "\(bytes >> 20) MiB" }
    if bytes >= 1024, bytes % 1024 == 0 { return "\(bytes >> 10) KiB" }
    return "\(bytes) B"
  }

  /// A coordinate with at most two decimals.
  static func number(_ value: Double) -> String {
    guard value.isFinite else { return "0" }
    let rounded = (value * 100).rounded() / 100
    return rounded == rounded.rounded() ? "\(Int(rounded))" : "\(rounded)"
  }

  /// `text` safe inside XML text and attribute values.
  static func escaped(_ text: String) -> String {
    var result = ""
    for character in text {
      switch character {
      case "&": result += "&amp;"
      case "<": result += "&lt;"
      case ">": result += "&gt;"
      case "\"": result += "&quot;"
      default: result.append(character)
      }
    }
    return result
  }
}
