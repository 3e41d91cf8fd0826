import { describe, expect, it } from "vitest";
import { createTestnetGenesis, KEY_ROLES } from "../genesis.js";
import { deriveKeypair } from "../keys.js";
import { OptimisticConfirmationTracker } from "./optimistic.js";
import { exceedsOneThird, reachesTwoThirds, StakeTable } from "./stake.js";

const clusterSeed = new Uint8Array(32).fill(21);
const keys = [0, 1, 2, 3].map((i) => deriveKeypair(clusterSeed, KEY_ROLES.validator, i).publicKey);
const tableWith = (stake: bigint[]) =>
  new StakeTable(
    createTestnetGenesis({
      clusterName: "optimistic",
      clusterSeed,
      startTimeMs: 0n,
      validators: stake.length,
      stake,
      proposerPool: 1,
    }),
  );

// 0 → 1 → 2 → 3 and 1 → 4.
function tracker(stake: bigint[]): OptimisticConfirmationTracker {
  const t = new OptimisticConfirmationTracker(tableWith(stake), 0);
  for (const [slot, parent] of [
    [1, 0],
    [2, 1],
    [3, 2],
    [4, 1],
  ] as const)
    expect(t.addSlot(slot, parent)).toEqual({ ok: true, confirmed: [] });
  return t;
}

const confirmedBy = (update: ReturnType<OptimisticConfirmationTracker["recordVote"]>) => {
  if (!update.ok) throw update.error;
  return update.confirmed;
};

describe("stake thresholds", () => {
  it("are exact integer comparisons", () => {
    expect(exceedsOneThird(1n, 3n)).toBe(false);
    expect(exceedsOneThird(2n, 6n)).toBe(false);
    expect(exceedsOneThird(10n ** 18n + 1n, 3n * 10n ** 18n)).toBe(true);
    expect(reachesTwoThirds(2n, 3n)).toBe(true);
    expect(reachesTwoThirds(2n * 10n ** 18n - 1n, 3n * 10n ** 18n)).toBe(false);
  });
});

describe("OptimisticConfirmationTracker", () => {
  it("confirms a slot at exactly 2/3 of stake and not just below", () => {
    const t = tracker([2n, 2n, 1n, 1n]);
    expect(confirmedBy(t.recordVote(keys[0]!, 3))).toEqual([]);
    // 2 + 1 = 3 of 6: below 2/3.
    expect(confirmedBy(t.recordVote(keys[2]!, 2))).toEqual([]);
    expect(t.isConfirmed(2)).toBe(false);
    // 2 + 1 + 1 = 4 of 6: exactly 2/3 on 2 (a vote on 3 is on a descendant), with its ancestor 1.
    expect(confirmedBy(t.recordVote(keys[3]!, 2))).toEqual([1, 2]);
    expect(t.isConfirmed(3)).toBe(false);
    expect(t.highestConfirmed).toBe(2);
  });

  it("is exact where floating point would round: 2·10^18 − 1 of 3·10^18 is below 2/3", () => {
    const e = 10n ** 18n;
    const t = tracker([e, e - 1n, e + 1n]);
    t.recordVote(keys[0]!, 3);
    expect(confirmedBy(t.recordVote(keys[1]!, 3))).toEqual([]);
    expect(confirmedBy(t.recordVote(keys[2]!, 4))).toEqual([1]);
  });

  it("counts one vote per validator, the newest, and reports each slot once", () => {
    const t = tracker([1n, 1n, 1n]);
    expect(confirmedBy(t.recordVote(keys[0]!, 3))).toEqual([]);
    expect(confirmedBy(t.recordVote(keys[0]!, 4))).toEqual([]);
    // Validator 0 now stands on 4: 4 has 2 of 3.
    expect(confirmedBy(t.recordVote(keys[1]!, 4))).toEqual([1, 4]);
    expect(confirmedBy(t.recordVote(keys[2]!, 4))).toEqual([]);
    expect(t.isConfirmed(3)).toBe(false);
  });

  it("confirms a slot whose votes came before the slot itself", () => {
    const t = tracker([1n, 1n, 1n]);
    t.recordVote(keys[0]!, 5);
    t.recordVote(keys[1]!, 5);
    expect(t.addSlot(5, 3)).toEqual({ ok: true, confirmed: [1, 2, 3, 5] });
  });

  it("refuses a vote from a non-validator and a slot with no parent, changing nothing", () => {
    const t = tracker([1n, 1n, 1n]);
    const outsider = deriveKeypair(new Uint8Array(32), KEY_ROLES.validator, 9).publicKey;
    const vote = t.recordVote(outsider, 3);
    expect(vote.ok || vote.error.code).toBe("unknown-validator");
    const slot = t.addSlot(9, 8);
    expect(slot.ok || slot.error.code).toBe("unknown-parent");
    expect(t.forkChoice.subtreeStake(0)).toBe(0n);
  });

  it("keeps confirmations on the surviving fork when the root moves", () => {
    const t = tracker([1n, 1n, 1n]);
    t.recordVote(keys[0]!, 3);
    t.recordVote(keys[1]!, 3);
    expect(t.setRoot(2)).toEqual({ ok: true, pruned: [0, 1, 4] });
    expect(t.isConfirmed(3)).toBe(true);
    expect(t.isConfirmed(1)).toBe(false);
    expect(t.addSlot(6, 3)).toEqual({ ok: true, confirmed: [] });
    t.recordVote(keys[0]!, 6);
    expect(confirmedBy(t.recordVote(keys[2]!, 6))).toEqual([6]);
  });
});
