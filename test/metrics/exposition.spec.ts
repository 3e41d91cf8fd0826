import { describe, expect, it } from "vitest";
import { metricLabelNames, parseExposition } from "./exposition.js";

const PAGE = `# HELP simd23_leader_entries_total Ledger entries published, by payload.
# TYPE simd23_leader_entries_total counter
simd23_leader_entries_total{type="tick"} 1654
simd23_leader_entries_total{type="votes"} 216

# HELP simd23_proposer_transactions_refused_total Submissions refused at intake, by RejectReason.
# TYPE simd23_proposer_transactions_refused_total counter
# HELP simd23_leader_tick_drift_seconds How late each tick was.
# TYPE simd23_leader_tick_drift_seconds histogram
simd23_leader_tick_drift_seconds_bucket{le="0.001",pod="a"} 3
simd23_leader_tick_drift_seconds_bucket{le="+Inf",pod="a"} 5
simd23_leader_tick_drift_seconds_sum{pod="a"} 0.25
simd23_leader_tick_drift_seconds_count{pod="a"} 5
# TYPE nodejs_eventloop_lag_mean_seconds gauge
nodejs_eventloop_lag_mean_seconds Nan
# TYPE simd23_proposer_build_info gauge
simd23_proposer_build_info{version="0.1.0",mode="async",note="a \\"quoted\\", comma\\\\"} 1 1767225600000
orphan_total 7
`;

describe("parseExposition", () => {
  const families = parseExposition(PAGE);

  it("reads each family's declared type and samples, with their labels", () => {
    expect(families.get("simd23_leader_entries_total")).toEqual({
      name: "simd23_leader_entries_total",
      type: "counter",
      samples: [
        { name: "simd23_leader_entries_total", labels: { type: "tick" }, value: 1654 },
        { name: "simd23_leader_entries_total", labels: { type: "votes" }, value: 216 },
      ],
    });
  });

  it("keeps a declared family with no samples (a labelled metric before its first event)", () => {
    expect(families.get("simd23_proposer_transactions_refused_total")).toEqual({
      name: "simd23_proposer_transactions_refused_total",
      type: "counter",
      samples: [],
    });
  });

  it("puts a histogram's _bucket, _sum and _count series under the histogram", () => {
    const histogram = families.get("simd23_leader_tick_drift_seconds")!;
    expect(histogram.samples.map((s) => s.name)).toEqual([
      "simd23_leader_tick_drift_seconds_bucket",
      "simd23_leader_tick_drift_seconds_bucket",
      "simd23_leader_tick_drift_seconds_sum",
      "simd23_leader_tick_drift_seconds_count",
    ]);
    expect(histogram.samples[1]).toMatchObject({ labels: { le: "+Inf", pod: "a" }, value: 5 });
    expect(families.has("simd23_leader_tick_drift_seconds_bucket")).toBe(false);
    expect(histogram.samples.map((sample) => metricLabelNames(histogram, sample))).toEqual([
      ["pod"],
      ["pod"],
      ["pod"],
      ["pod"],
    ]);
  });

  it("reads NaN in prom-client's spelling, escaped label values and a timestamp", () => {
    expect(families.get("nodejs_eventloop_lag_mean_seconds")!.samples[0]!.value).toBeNaN();
    expect(families.get("simd23_proposer_build_info")!.samples[0]).toEqual({
      name: "simd23_proposer_build_info",
      labels: { version: "0.1.0", mode: "async", note: 'a "quoted", comma\\' },
      value: 1,
    });
  });

  it("keeps an undeclared series as an untyped family of its own", () => {
    expect(families.get("orphan_total")).toEqual({
      name: "orphan_total",
      type: "untyped",
      samples: [{ name: "orphan_total", labels: {}, value: 7 }],
    });
  });

  it("refuses a line it cannot read, quoting it", () => {
    expect(() => parseExposition("simd23_x{broken 1\n")).toThrow(
      "unreadable exposition line: simd23_x{broken 1",
    );
    expect(() => parseExposition("simd23_x seven\n")).toThrow("unreadable value in exposition line");
  });
});
