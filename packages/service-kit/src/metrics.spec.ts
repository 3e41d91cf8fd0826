import { describe, expect, it } from "vitest";
import {
  checkLabelNames,
  checkMetricName,
  createServiceMetrics,
  MetricNameError,
  metricRole,
} from "./metrics.js";

describe("metric naming rule", () => {
  it("accepts the names of docs/metrics.md", () => {
    const accepted: [string, "counter" | "gauge" | "histogram", string][] = [
      ["proposer", "counter", "simd23_proposer_transactions_accepted_total"],
      ["proposer", "gauge", "simd23_proposer_queue_depth_transactions"],
      ["proposer", "histogram", "simd23_proposer_intake_seconds"],
      ["proposer", "histogram", "simd23_proposer_user_block_bytes"],
      ["leader", "gauge", "simd23_leader_leading"],
      ["executor", "gauge", "simd23_executor_execution_lag_slots"],
      ["vote-aggregator", "gauge", "simd23_vote_aggregator_finalized_slot"],
      ["bank-hash-verifier", "gauge", "simd23_bank_hash_verifier_bank_hash_agreement_ratio"],
      ["bank-hash-verifier", "gauge", "simd23_bank_hash_verifier_build_info"],
    ];
    for (const [role, type, name] of accepted) expect(() => checkMetricName(role, type, name)).not.toThrow();
  });

  it("refuses names that break the rule, saying why", () => {
    const refused: [string, "counter" | "gauge" | "histogram", string, string][] = [
      ["proposer", "counter", "simd23_proposer_transactions", "ends in _total"],
      ["proposer", "gauge", "simd23_proposer_transactions_total", "only counters end in _total"],
      ["proposer", "histogram", "simd23_proposer_intake_ms", "use seconds"],
      ["proposer", "counter", "simd23_proposer_sent_kilobytes_total", "use bytes"],
      ["proposer", "gauge", "simd23_proposer_full_percent", "ratio"],
      ["proposer", "gauge", "simd23_leader_leading", "must be simd23_proposer_"],
      ["proposer", "gauge", "proposer_queue_depth", "must be simd23_proposer_"],
      ["proposer", "gauge", "simd23_proposer_QueueDepth", "lower snake case"],
      ["proposer", "gauge", "simd23_proposer__depth", "lower snake case"],
      ["proposer", "counter", "simd23_proposer_total", "<thing>_total"],
      ["proposer", "gauge", "simd23_proposer_queue_count", "reserved"],
      ["proposer", "counter", "simd23_proposer_build_info_total", "only a gauge"],
      ["vote-aggregator", "gauge", "simd23_vote-aggregator_slot", "lower snake case"],
    ];
    for (const [role, type, name, why] of refused) {
      expect(() => checkMetricName(role, type, name), name).toThrow(MetricNameError);
      expect(() => checkMetricName(role, type, name), name).toThrow(why);
    }
  });

  it("refuses labels that would carry slots, hashes or signatures", () => {
    expect(() => checkLabelNames("m", ["reason", "validator", "level"])).not.toThrow();
    for (const label of ["slot", "user_block_slot", "bank_hash", "blockhash", "signature", "tick_height"]) {
      expect(() => checkLabelNames("m", [label]), label).toThrow("unbounded");
    }
    expect(() => checkLabelNames("m", ["le"])).toThrow("reserved");
    expect(() => checkLabelNames("m", ["Reason"])).toThrow("lower snake case");
  });

  it("turns a role into its metric segment", () => {
    expect(metricRole("bank-hash-verifier")).toBe("bank_hash_verifier");
  });
});

describe("createServiceMetrics", () => {
  it("creates metrics only under valid names and exports them with the default process metrics", async () => {
    const metrics = createServiceMetrics("vote-aggregator");
    expect(metrics.prefix).toBe("simd23_vote_aggregator");
    const votes = metrics.counter({ name: "simd23_vote_aggregator_votes_total", help: "votes" });
    const latency = metrics.histogram({
      name: "simd23_vote_aggregator_confirmation_latency_seconds",
      help: "latency",
      labelNames: ["level"],
      buckets: [0.1, 1],
    });
    votes.inc(3);
    latency.observe({ level: "optimistic" }, 0.5);
    metrics.slot.set(42);
    expect(() => metrics.gauge({ name: "simd23_vote_aggregator_votes_total", help: "x" })).toThrow(
      MetricNameError,
    );
    expect(() =>
      metrics.counter({ name: "simd23_vote_aggregator_seen_total", help: "x", labelNames: ["slot"] }),
    ).toThrow(MetricNameError);

    const text = await metrics.registry.metrics();
    expect(text).toContain("simd23_vote_aggregator_votes_total 3");
    expect(text).toContain(
      'simd23_vote_aggregator_confirmation_latency_seconds_bucket{le="1",level="optimistic"} 1',
    );
    expect(text).toContain("simd23_vote_aggregator_slot 42");
    expect(text).toContain("process_cpu_user_seconds_total");
    expect(text).toContain("nodejs_eventloop_lag_seconds");
  });
});
