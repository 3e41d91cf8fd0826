import { createServer, type Server } from "node:http";
import { afterAll, describe, expect, it } from "vitest";
import { freePort } from "./ports.js";
import {
  type DevnetStatus,
  DevnetStatusSampler,
  formatStatusLine,
  parsePrometheusText,
  sampleValue,
  statusJson,
} from "./status-line.js";

describe("reading Prometheus text", () => {
  it("parses samples with labels, escapes and timestamps, and skips comments and junk", () => {
    const samples = parsePrometheusText(
      [
        "# HELP simd23_proposer_user_blocks_recorded_total UserBlocks recorded.",
        "# TYPE simd23_proposer_user_blocks_recorded_total counter",
        'simd23_proposer_user_blocks_recorded_total{proposer="proposer-0"} 12',
        'simd23_proposer_user_blocks_recorded_total{proposer="proposer-1",note="a\\"b,c"} 3 1700000000000',
        "simd23_leader_tick_drift_seconds_sum 0.5",
        "simd23_leader_slot NaN",
        "not a sample line {",
        "",
      ].join("\n"),
    );
    expect(samples).toHaveLength(4);
    expect(sampleValue(samples, "simd23_proposer_user_blocks_recorded_total")).toBe(12);
    expect(
      sampleValue(samples, "simd23_proposer_user_blocks_recorded_total", { proposer: "proposer-1" }),
    ).toBe(3);
    expect(samples[1]!.labels.note).toBe('a"b,c');
    expect(sampleValue(samples, "simd23_leader_tick_drift_seconds_sum")).toBe(0.5);
    expect(Number.isNaN(sampleValue(samples, "simd23_leader_slot"))).toBe(true);
    expect(sampleValue(samples, "absent")).toBeUndefined();
  });
});

const status: DevnetStatus = {
  takenAtMs: Date.UTC(2026, 0, 1),
  slot: 120,
  optimisticSlot: 119,
  executedSlot: 117,
  finalizedSlot: 88,
  userBlocks: [
    { name: "proposer-0", recorded: 230 },
    { name: "proposer-1", recorded: null },
  ],
  tps: 498.26,
  executionLagSlots: 2,
  tickDriftMs: 1.234,
  halted: [],
  unreachable: ["proposer-1"],
};

describe("the status line", () => {
  it("shows the slots, UserBlocks per proposer, tps, execution lag, drift and the halt", () => {
    expect(formatStatusLine(status)).toBe(
      "slot 120 | optimistic 119 | executed 117 | finalized 88 | UserBlocks p0:230 p1:? | 498.3 tps | lag 2 slots | drift 1.2 ms | not halted | no answer: proposer-1",
    );
    expect(formatStatusLine({ ...status, halted: ["leader-0"], unreachable: [], tickDriftMs: null })).toMatch(
      /lag 2 slots \| HALTED \(leader-0\)$/,
    );
    expect(formatStatusLine({ ...status, halted: ["a", "b", "c", "d"], unreachable: [] })).toMatch(
      /HALTED \(4 roles saw the halt\)$/,
    );
    expect(statusJson(status)).toEqual({
      time: "2026-01-01T00:00:00.000Z",
      slot: 120,
      optimisticSlot: 119,
      executedSlot: 117,
      finalizedSlot: 88,
      userBlocks: { "proposer-0": 230, "proposer-1": null },
      tps: 498.3,
      executionLagSlots: 2,
      tickDriftMs: 1.23,
      halted: [],
      unreachable: ["proposer-1"],
    });
  });
});

describe("sampling the roles' metrics", () => {
  const servers: Server[] = [];
  afterAll(() => {
    for (const server of servers) server.close();
  });

  /** A /metrics endpoint whose text the test changes between samples. */
  async function endpoint(text: { value: string }): Promise<string> {
    const port = await freePort();
    const server = createServer((_req, res) => res.end(text.value));
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
    return `http://127.0.0.1:${port}/metrics`;
  }

  it("reads slots from the aggregator, tps from its executed counter, the worst lag and the halts", async () => {
    const aggregator = {
      value: [
        "simd23_vote_aggregator_slot 10",
        "simd23_vote_aggregator_optimistic_slot 9",
        "simd23_vote_aggregator_executed_slot 8",
        "simd23_vote_aggregator_finalized_slot 2",
        'simd23_vote_aggregator_transactions_total{level="executed"} 100',
        "simd23_vote_aggregator_halted 0",
      ].join("\n"),
    };
    const proposer = { value: 'simd23_proposer_user_blocks_recorded_total{proposer="proposer-0"} 7' };
    const executors = [
      { value: "simd23_executor_execution_lag_slots 1" },
      { value: "simd23_executor_execution_lag_slots 4\nsimd23_executor_halted 1" },
    ];
    const leader = {
      value: "simd23_leader_tick_drift_seconds_sum 1\nsimd23_leader_tick_drift_seconds_count 100",
    };
    const targets = {
      proposers: [{ name: "proposer-0", metricsUrl: await endpoint(proposer) }],
      executors: [
        { name: "executor-0", metricsUrl: await endpoint(executors[0]!) },
        { name: "executor-1", metricsUrl: await endpoint(executors[1]!) },
      ],
      leaders: [{ name: "leader-0", metricsUrl: await endpoint(leader) }],
      voteAggregator: { name: "vote-aggregator-0", metricsUrl: await endpoint(aggregator) },
      bankHashVerifier: {
        name: "bank-hash-verifier-0",
        metricsUrl: `http://127.0.0.1:${await freePort()}/metrics`,
      },
    };
    const sampler = new DevnetStatusSampler(() => targets, 500);
    let now = 1_000_000;
    const first = await sampler.sample(() => now);
    expect(first).toMatchObject({
      slot: 10,
      optimisticSlot: 9,
      executedSlot: 8,
      finalizedSlot: 2,
      userBlocks: [{ name: "proposer-0", recorded: 7 }],
      tps: 0,
      executionLagSlots: 4,
      tickDriftMs: null,
      halted: ["executor-1"],
      unreachable: ["bank-hash-verifier-0"],
    });
    aggregator.value = aggregator.value.replace('level="executed"} 100', 'level="executed"} 600');
    leader.value = "simd23_leader_tick_drift_seconds_sum 1.3\nsimd23_leader_tick_drift_seconds_count 200";
    now += 2_000;
    const second = await sampler.sample(() => now);
    expect(second.tps).toBe(250);
    expect(second.tickDriftMs).toBeCloseTo(3, 6);
  });
});
