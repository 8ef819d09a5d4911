/// Which side of a measurement runs: Hinix's API, or the raw C baseline doing the same syscalls.
public enum Implementation: String, CaseIterable, Sendable {
  /// Hinix's API.
  case hinix
  /// The raw C baseline (CHinixBaseline).
  case c
}

/// One figure of the report: a metric of one transport at one size, Hinix beside its baseline.
public struct Figure: Sendable {
  /// The transport measured, such as "mq" or "shm-ring".
  public var transport: String
  /// The message size in bytes.
  public var size: Int
  /// What was measured: "rtt_median_ns", "rtt_p99_ns", "rtt_mean_ns", "op_ns" or
  /// "throughput_bytes_per_s".
  public var metric: String
  /// Hinix's value.
  public var hinix: Double
  /// The C baseline's value.
  public var baseline: Double

  /// A figure: `hinix` beside `baseline` for `metric` of `transport` at `size` bytes.
  public init(transport: String, size: Int, metric: String, hinix: Double, baseline: Double) {
    self.transport = transport
    self.size = size
    self.metric = metric
    self.hinix = hinix
    self.baseline = baseline
  }

  /// "Times worse than the baseline": hinix/baseline for times, baseline/hinix for throughput.
  public var ratio: Double {
    metric.hasPrefix("throughput") ? baseline / hinix : hinix / baseline
  }
}
