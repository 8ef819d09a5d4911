import ArgumentParser
import Hinix
import HinixBenchKit
import SystemPackage

extension Implementation: ExpressibleByArgument {}

/// `hinix bench`: every transport between two processes, each beside raw C in the same run.
struct Bench: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Measure each Hinix transport between two processes beside raw C doing the same syscalls.",
    discussion: """
      Spawns itself as the peer process. By default the two processes are pinned to two different \
      CPUs; --same-core pins both to one. Reports round-trip latency (median, p99) and one-way \
      throughput, each beside the C baseline measured in the same run, with the ratio "times \
      worse than the baseline". While standard error is a terminal, a line there shows which \
      figure and round run and about how long is left; nothing is written to it otherwise.
      """)

  @Flag(
    help:
      "Under 10 seconds instead of under two minutes: one round of short measurements, to check that every figure runs."
  )
  var quick = false

  @Flag(help: "Five rounds of longer measurements instead of three, for figures to quote: several minutes.")
  var full = false

  @Flag(help: "Pin both processes to the same CPU.")
  var sameCore = false

  @Flag(help: "Print one JSON array of figures instead of the table.")
  var json = false

  @Option(
    name: .customLong("only"),
    help:
      "Measure only these groups (repeatable): mq, eventfd, stream, fdpass, terminal, signal, events, ring.")
  var groups: [String] = []

  @Option(
    help: ArgumentHelp(
      "Also write a self-contained HTML page of the figures: bar charts on log scales beside the C baseline, the machine and the date.",
      valueName: "file"))
  var html: String?

  @Option(
    help: ArgumentHelp("Also write the latency and throughput charts alone, as SVG.", valueName: "file"))
  var svg: String?

  func validate() throws {
    if quick && full {
      throw ValidationError("--quick and --full ask for different runs; give one")
    }
    if let html, html == svg {
      throw ValidationError("--html and --svg name the same file '\(html)'")
    }
    let known = BenchGroup.allCases.map(\.rawValue)
    for group in groups where !known.contains(group) {
      throw ValidationError("unknown group '\(group)'; the groups are \(known.joined(separator: ", "))")
    }
  }

  func run() throws {
    try reportingBenchErrors {
      // The chart files are opened now: a path that cannot be written fails before the run.
      let htmlFile = try html.map { try OutputFile(FilePath($0)) }
      let svgFile = try svg.map { try OutputFile(FilePath($0)) }
      let placement = try Placement.pinned(sameCore: sameCore)
      let plan = quick ? Plan.quick : full ? Plan.full : Plan.standard
      if json {
        Tool.report("placement: \(placement)")
      } else {
        try writeOut("hinix bench: \(placement); \(plan.rounds) alternating rounds per figure\n\n")
      }
      // Progress on standard error while it is a terminal, one line rewritten in place and
      // cleared before anything else is written there; nothing when it is a file or a pipe.
      let watched = Terminal.isTerminal(FileDescriptor.standardError)
      let clear: @Sendable () -> Void = {
        if watched { Tool.report("\r\u{1B}[K", prefix: false, newline: false) }
      }
      defer { clear() }
      // Within the terminal's width, so that the carriage return goes back over all of it.
      let columns = (try? Terminal.standardOutput(2).windowSize().columns).map(Int.init) ?? 0
      let width = max(20, (columns > 0 ? columns : 80) - 1)
      let show: @Sendable (BenchProgress) -> Void = { progress in
        Tool.report(
          "\r\u{1B}[K" + String("hinix bench: \(progress.line)".prefix(width)), prefix: false, newline: false)
      }
      let runner = Runner(
        executable: try ownExecutable(), peerCPU: placement.peerCPU, plan: plan,
        report: { message in
          clear()
          Tool.report(message)
        })
      let figures = try runner.measure(
        groups.isEmpty ? BenchGroup.allCases : BenchGroup.allCases.filter { groups.contains($0.rawValue) },
        progress: watched ? show : nil)
      clear()
      try writeOut(json ? Report.json(figures) : Report.table(figures) + Report.ringSummary(figures))
      try htmlFile?.write(
        Charts.html(figures, machine: .current(), date: EventFormat.now("%Y-%m-%d %H:%M UTC", utc: true)))
      try svgFile?.write(Charts.svg(figures))
    }
  }
}

/// `hinix bench-peer`: the other process of `hinix bench` (not for direct use).
struct BenchPeer: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "bench-peer", abstract: "The peer process of hinix bench.", shouldDisplay: false)

  @Argument var kind: String
  @Argument var implementation: Implementation
  @Argument var parameters: [String] = []

  func run() throws {
    try reportingBenchErrors {
      try Peer(kind: kind, implementation: implementation, parameters: parameters).run()
    }
  }
}

/// Runs `body`, turning the bench kit's errors into the tool's: a failure exits with status 1,
/// a usage error with status 2.
private func reportingBenchErrors(_ body: () throws -> Void) throws {
  do {
    try body()
  } catch let error as BenchError {
    switch error.kind {
    case .failure: throw ToolError(status: .failure, description: error.description)
    case .usage: throw ValidationError(error.description)
    }
  }
}
