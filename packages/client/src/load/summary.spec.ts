import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { latencySummary, nearestRank } from "./summary.js";

describe("latency summary", () => {
  it("reports the nearest-rank median and 99th percentile", () => {
    const hundred = Array.from({ length: 100 }, (_, i) => 100 - i);
    expect(latencySummary(hundred)).toEqual({ count: 100, p50Ms: 50, p99Ms: 99, maxMs: 100 });
    expect(latencySummary([7])).toEqual({ count: 1, p50Ms: 7, p99Ms: 7, maxMs: 7 });
    expect(latencySummary([1, 2])).toEqual({ count: 2, p50Ms: 1, p99Ms: 2, maxMs: 2 });
    expect(latencySummary([])).toEqual({ count: 0, p50Ms: null, p99Ms: null, maxMs: null });
    // A slow tail shows in p99 and not in the median.
    expect(latencySummary([...new Array(98).fill(10), 900, 1_000])).toMatchObject({ p50Ms: 10, p99Ms: 900 });
  });

  it("sorts numerically, not as text", () => {
    expect(latencySummary([9, 10, 100, 1_000]).p50Ms).toBe(10);
  });

  it("rejects a quantile outside (0, 1]", () => {
    expect(() => nearestRank([1], 0)).toThrow(RangeError);
    expect(() => nearestRank([1], 1.5)).toThrow(RangeError);
  });

  it("always reports samples, with at least q·n samples at or below", () => {
    fc.assert(
      fc.property(
        fc.array(fc.nat(100_000), { minLength: 1, maxLength: 300 }),
        fc.double({ min: 0.01, max: 1, noNaN: true }),
        (xs, q) => {
          const sorted = [...xs].sort((a, b) => a - b);
          const value = nearestRank(sorted, q)!;
          expect(xs).toContain(value);
          expect(sorted.filter((x) => x <= value).length).toBeGreaterThanOrEqual(Math.ceil(q * xs.length));
          expect(sorted.filter((x) => x < value).length).toBeLessThan(Math.ceil(q * xs.length));
        },
      ),
    );
  });
});
