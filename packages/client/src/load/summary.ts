/** How many samples, and their median, 99th percentile and maximum, in ms. */
export interface LatencySummary {
  readonly count: number;
  readonly p50Ms: number | null;
  readonly p99Ms: number | null;
  readonly maxMs: number | null;
}

/**
 * The q-quantile of ascending samples by the nearest-rank method: the smallest sample with at
 * least q·n samples at or below it. Every reported figure is a measured sample, never an
 * interpolation between two.
 */
export function nearestRank(sorted: readonly number[], q: number): number | null {
  if (sorted.length === 0) return null;
  if (!(q > 0 && q <= 1)) throw new RangeError(`a quantile is in (0, 1], got ${q}`);
  return sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)]!;
}

export function latencySummary(samples: readonly number[]): LatencySummary {
  const sorted = Float64Array.from(samples).sort();
  const values = Array.from(sorted);
  return {
    count: values.length,
    p50Ms: nearestRank(values, 0.5),
    p99Ms: nearestRank(values, 0.99),
    maxMs: values.length === 0 ? null : values[values.length - 1]!,
  };
}
