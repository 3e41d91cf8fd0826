import { describe, expect, it } from "vitest";
import type { ClusterStatus } from "../cluster.js";
import type { SignatureUpdate } from "../status.js";
import { ConfirmationStats, renderWatch, type WatchSnapshot } from "./watch-view.js";

const cluster: ClusterStatus = {
  slot: 100,
  optimisticSlot: 98,
  executedSlot: 90,
  finalizedSlot: 60,
  halted: false,
  halt: null,
  totalStake: 4n,
};

const base: WatchSnapshot = {
  takenAtMs: Date.UTC(2025, 0, 1),
  cluster: { address: "agg:1", ok: true, value: cluster },
  proposers: [
    {
      address: "p0:1",
      ok: true,
      value: {
        identity: "PropAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        userBlockSlot: 200,
        scheduled: true,
        activeProposers: ["PropAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"],
        queueDepth: 3,
        halted: false,
      },
    },
    { address: "p1:1", ok: false, error: new Error("cannot reach p1:1: connection refused") },
  ],
  executors: [
    {
      address: "e0:1",
      ok: true,
      value: {
        validator: "ValAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        votedSlot: 99,
        executedSlot: 90,
        root: 67,
        executionLagSlots: 9,
        halted: false,
        deadSlots: [71, 72],
        missingUserBlocks: 1,
      },
    },
  ],
  leaders: [],
  verifier: {
    address: "v:1",
    ok: true,
    value: { executedSlot: 90, verifiedSlot: 89, halted: false, halt: null },
  },
};

const update = (
  signature: string,
  level: SignatureUpdate["level"],
  timeMs: number,
  proposer = "",
): SignatureUpdate => ({
  signature,
  level,
  timeMs,
  result:
    level === "executed" ? { ok: true, status: "ok", fee: 1n, slot: 1, userBlockSlot: 7, proposer } : null,
  droppedReason: null,
});

describe("the watch screen", () => {
  it("shows slots, proposers, executors with lag and dead slots, the verifier, and unreachable endpoints", () => {
    const lines = renderWatch(base, null, "devnet x").join("\n");
    expect(lines).toMatch(
      /slots +current 100 +optimistic 98 +executed 90 +finalized 60 +\(execution 8 behind optimistic\)/,
    );
    expect(lines).toMatch(/p0:1 +Prop…AAAA +200 yes +3 +- +-/);
    expect(lines).toContain("p1:1  unreachable: cannot reach p1:1: connection refused");
    expect(lines).toMatch(/e0:1 +ValA…AAAA +99 +90 +67 +9 +1 +71,72/);
    expect(lines).toMatch(/verifier +executed 90 +verified 89 +ok/);
    expect(lines).not.toContain("HALTED");
    expect(lines).not.toContain("confirmations");
  });

  it("puts a halt with its evidence on the second line", () => {
    const halted: WatchSnapshot = {
      ...base,
      cluster: {
        address: "agg:1",
        ok: true,
        value: {
          ...cluster,
          halted: true,
          halt: {
            slot: 91,
            reason: "BankHash mismatch",
            haltedAtMs: 0,
            stake: { matched: 1n, mismatched: 3n, missing: 0n, total: 4n },
            mismatchedValidators: ["BadVAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"],
          },
        },
      },
    };
    expect(renderWatch(halted, null, "t")[1]).toBe(
      "HALTED at slot 91: BankHash mismatch; 3 of 4 stake mismatched (BadV…AAAA)",
    );
  });

  it("counts confirmations, rates over ten seconds, latency and UserBlocks per proposer", () => {
    const stats = new ConfirmationStats();
    const now = 100_000;
    stats.streaming = true;
    stats.record(update("a", "received", 1_000), now - 20_000);
    stats.record(update("a", "executed", 1_400, "PropAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"), now - 1_000);
    stats.record(update("b", "received", 2_000), now - 1_000);
    stats.record(update("b", "executed", 2_100, "PropAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"), now);
    expect(stats.totals.received).toBe(2);
    expect(stats.ratePerSecond("received", now)).toBe(0.1);
    expect(stats.ratePerSecond("executed", now)).toBe(0.2);
    expect(stats.latency()).toEqual({ count: 2, p50Ms: 100, p99Ms: 400, maxMs: 400 });
    expect(stats.blocksByProposer.get("PropAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")).toEqual(new Set([7]));
    const lines = renderWatch(base, stats, "t", now).join("\n");
    expect(lines).toMatch(/p0:1 +Prop…AAAA +200 yes +3 +1 +2/);
    expect(lines).toContain("received 2/0.1   proposed 0/0.0");
    expect(lines).toContain("received→executed p50 100 ms  p99 400 ms  (last 2)");
  });
});
