import Foundation
import FoundationXML
import HinixBenchKit
import Testing

/// The charts of `hinix bench --svg/--html`, read back with a real XML parser.
@Suite("Benchmark charts")
struct ChartTests {
  /// The elements of an SVG document that the checks need.
  final class Reader: NSObject, XMLParserDelegate {
    var root: String?
    var charts: [[String: String]] = []
    /// Each bar's attributes, with the chart it is in.
    var bars: [(chart: [String: String], attributes: [String: String])] = []

    func parser(
      _ parser: XMLParser, didStartElement element: String, namespaceURI: String?, qualifiedName: String?,
      attributes: [String: String] = [:]
    ) {
      if root == nil { root = element }
      if element == "g", attributes["class"] == "chart" { charts.append(attributes) }
      if element == "rect", attributes["data-implementation"] != nil, let chart = charts.last {
        bars.append((chart, attributes))
      }
    }
  }

  /// Parses `text`; nil (and an issue recorded) when it is not well-formed XML.
  func read(_ text: String) -> Reader? {
    let reader = Reader()
    let parser = XMLParser(data: Data(text.utf8))
    parser.delegate = reader
    guard parser.parse() else {
      Issue.record("not well-formed: \(parser.parserError.map { "\($0)" } ?? "?")")
      return nil
    }
    return reader
  }

  let figures = [
    Figure(transport: "pipe", size: 64, metric: "rtt_median_ns", hinix: 12_500, baseline: 11_000),
    Figure(transport: "pipe", size: 64, metric: "rtt_p99_ns", hinix: 30_000, baseline: 29_000),
    Figure(transport: "pipe", size: 65536, metric: "throughput_bytes_per_s", hinix: 2.1e9, baseline: 2.3e9),
    Figure(transport: "a<b & \"c\"", size: 0, metric: "op_ns", hinix: 35, baseline: 23),
    Figure(
      transport: "shm-ring", size: 1 << 20, metric: "throughput_bytes_per_s", hinix: 9.5e9, baseline: 9.1e9),
  ]

  @Test(
    "the SVG is well-formed, draws each latency and throughput figure twice, each bar as long as its value")
  func svgBarsMatchTheFigures() throws {
    let reader = try #require(read(Charts.svg(figures)))
    #expect(reader.root == "svg")
    #expect(reader.charts.map { $0["data-kind"] } == ["latency", "throughput"])
    // The p99 figure is in neither chart; the others are, Hinix and C each.
    #expect(reader.bars.count == 8)
    for figure in figures where figure.metric != "rtt_p99_ns" {
      for (implementation, value) in [("hinix", figure.hinix), ("c", figure.baseline)] {
        let bar = try #require(
          reader.bars.first {
            $0.attributes["data-transport"] == figure.transport
              && $0.attributes["data-size"] == "\(figure.size)"
              && $0.attributes["data-metric"] == figure.metric
              && $0.attributes["data-implementation"] == implementation
          }, "\(figure.transport) \(implementation)")
        #expect(Double(bar.attributes["data-value"] ?? "") == value)
        // The axis runs over whole decades; the bar ends where its value's logarithm is.
        let low = try #require(Double(bar.chart["data-low"] ?? ""))
        let high = try #require(Double(bar.chart["data-high"] ?? ""))
        let width = try #require(Double(bar.chart["data-width"] ?? ""))
        #expect(low <= log10(value) && log10(value) <= high)
        let expected = (log10(value) - low) / (high - low) * width
        #expect(abs((Double(bar.attributes["width"] ?? "") ?? -1) - expected) < 0.01, "\(bar.attributes)")
        #expect(bar.attributes["x"] == bar.chart["data-left"])
      }
    }
    // The latency chart spans 10 ns to 100 µs (23 ns .. 12.5 µs); throughput 1 GB/s to 10 GB/s.
    #expect(reader.charts.map { $0["data-low"] } == ["1", "9"])
    #expect(reader.charts.map { $0["data-high"] } == ["5", "10"])
  }

  @Test("figures a log scale cannot place (zero, infinite, not a number) draw empty bars, not a crash")
  func unplaceableFigures() {
    let odd = [
      Figure(transport: "zero", size: 1, metric: "throughput_bytes_per_s", hinix: 0, baseline: 1e6),
      Figure(transport: "inf", size: 1, metric: "throughput_bytes_per_s", hinix: .infinity, baseline: 1e7),
      Figure(transport: "nan", size: 1, metric: "rtt_median_ns", hinix: .nan, baseline: 100),
    ]
    let reader = read(Charts.svg(odd))
    #expect(reader?.bars.count == 6)
    let widths = reader?.bars.filter { $0.attributes["data-implementation"] == "hinix" }.map {
      $0.attributes["width"]
    }
    #expect(widths == ["0", "0", "0"])
    #expect(read(Charts.svg([]))?.root == "svg")
  }

  @Test("the page is self-contained: the machine, the date, both charts and the table; nothing fetched")
  func htmlPage() {
    let machine = MachineDescription(processor: "Test CPU <x>", cores: 2, kernel: "Linux 6.1.0")
    let page = Charts.html(figures, machine: machine, date: "2026-11-28 18:00 UTC")
    #expect(page.hasPrefix("<!DOCTYPE html>"))
    #expect(page.contains("Test CPU &lt;x&gt;, 2 cores, Linux 6.1.0; measured 2026-11-28 18:00 UTC"))
    let start = page.range(of: "<svg")
    let end = page.range(of: "</svg>")
    #expect(start != nil && end != nil)
    if let start, let end {
      #expect(read(String(page[start.lowerBound..<end.upperBound]))?.bars.count == 8)
    }
    #expect(page.contains("rtt median"))
    // No script, no link, no image: the only URL is the SVG namespace.
    for fetching in ["<script", "src=", "href=", "<link", "url("] { #expect(!page.contains(fetching)) }
    #expect(page.components(separatedBy: "http").count == 2)
    #expect(MachineDescription.current().cores >= 1)
  }

  @Test("hinix bench --svg and --html write their files; a file it cannot write is named, status 1")
  func benchWritesCharts() throws {
    try withTemporaryFolder { folder in
      let svg = folder.appending("bench.svg").string
      let html = folder.appending("bench.html").string
      let result = try run("hinix", ["bench", "--quick", "--only", "eventfd", "--svg", svg, "--html", html])
      #expect(result.termination == .exited(0), "\(result.standardError)")
      let reader = try #require(read(try String(contentsOfFile: svg, encoding: .utf8)))
      #expect(reader.bars.count == 2)
      #expect(reader.bars.allSatisfy { $0.attributes["data-transport"] == "eventfd" })
      #expect(try String(contentsOfFile: html, encoding: .utf8).contains("<h1>hinix bench</h1>"))
      // A path it cannot write fails the run before it starts, and leaves the other file as it was.
      let refused = try run(
        "hinix", ["bench", "--quick", "--only", "eventfd", "--html", html, "--svg", "/proc/hinix.svg"])
      #expect(refused.termination == .exited(1))
      #expect(refused.standardError.contains("/proc/hinix.svg"), "\(refused.standardError)")
      #expect(!refused.standardOutput.contains("eventfd"))
      #expect(try String(contentsOfFile: html, encoding: .utf8).contains("<h1>hinix bench</h1>"))
      let same = try run("hinix", ["bench", "--quick", "--html", svg, "--svg", svg])
      #expect(same.termination == .exited(2) && same.standardError.contains("name the same file"))
    }
  }
}
