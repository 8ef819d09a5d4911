extension Report {
  /// The median and p99 of each side's round trips; with `mean`, also the mean of the fastest
  /// 99%. Sub-microsecond medians need that mean: clocks may tick in steps of 10 ns (the TSC
  /// of some AMD processors does), so a median of 200 ns is only known to 5%, while the mean of
  /// thousands of samples taken at random phases of the tick is not quantized.
  static func latency(
    transport: String, size: Int, _ samples: [Implementation: [Int64]], mean: Bool = false
  ) -> [Figure] {
    let hinix = samples[.hinix, default: []].sorted()
    let baseline = samples[.c, default: []].sorted()
    func percentile(_ sorted: [Int64], _ p: Double) -> Double {
      guard !sorted.isEmpty else { return .nan }
      return Double(sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))])
    }
    func fastestMean(_ sorted: [Int64]) -> Double {
      let kept = sorted.prefix(max(1, sorted.count * 99 / 100))
      return kept.isEmpty ? .nan : Double(kept.reduce(0, +)) / Double(kept.count)
    }
    var figures = [
      Figure(
        transport: transport, size: size, metric: "rtt_median_ns", hinix: percentile(hinix, 0.5),
        baseline: percentile(baseline, 0.5)),
      Figure(
        transport: transport, size: size, metric: "rtt_p99_ns", hinix: percentile(hinix, 0.99),
        baseline: percentile(baseline, 0.99)),
    ]
    if mean {
      figures.append(
        Figure(
          transport: transport, size: size, metric: "rtt_mean_ns", hinix: fastestMean(hinix),
          baseline: fastestMean(baseline)))
    }
    return figures
  }
}
