import { describe, expect, it } from "vitest";
import { createTestnetGenesis, KEY_ROLES } from "../genesis.js";
import { deriveKeypair } from "../keys.js";
import {
  OptimisticConfirmationTracker,
  optimisticallyConfirmedThrough,
  type SlotWithVotes,
} from "./optimistic.js";
import { exceedsOneThird, reachesTwoThirds, StakeTable } from "./stake.js";
import type { Vote } from "./vote.js";

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

describe("optimisticallyConfirmedThrough", () => {
  /** A slot recording votes [validator index, stake, voted slot]. */
  const slot = (number: number, ...cast: [number, bigint, number][]): SlotWithVotes => ({
    slot: number,
    votes: [
      {
        votes: cast.map(([validatorIndex, stake, voted]) => ({
          vote: { slot: voted } as Vote,
          validatorIndex,
          stake,
        })),
      },
    ],
  });

  it("is the newest slot that validators with 2/3 of stake voted for, or for a later slot of the chain", () => {
    // Stakes 4,000 / 3,000 / 2,000 / 1,000 of 10,000; 2/3 is 6,667.
    const chain = [
      slot(9, [0, 4_000n, 8], [2, 2_000n, 6]),
      slot(8, [1, 3_000n, 7]),
      slot(7),
      slot(6),
      slot(5),
    ];
    // Votes at 8 (4,000), 7 (3,000), 6 (2,000): 7,000 have a vote at 7 or later.
    expect(optimisticallyConfirmedThrough(chain, 10_000n)).toBe(7);
    // Exactly 2/3 confirms (3·stake ≥ 2·total): 4,000 + 2,000 of 9,000.
    expect(
      optimisticallyConfirmedThrough([slot(9, [0, 4_000n, 8], [2, 2_000n, 6]), slot(8), slot(6)], 9_000n),
    ).toBe(6);
    expect(
      optimisticallyConfirmedThrough([slot(9, [0, 4_000n, 8], [2, 2_000n, 6]), slot(8), slot(6)], 9_001n),
    ).toBe(0);
  });

  it("counts a validator once, with its newest vote on the chain, and no vote for a slot off the chain", () => {
    // Slot 6 is not on this chain (7 was built on 5): the votes for it count for nothing.
    const chain = [slot(8, [0, 1_000n, 5], [0, 1_000n, 7], [1, 1_000n, 6], [2, 1_000n, 6]), slot(7), slot(5)];
    expect(optimisticallyConfirmedThrough(chain, 3_000n)).toBe(0);
    expect(optimisticallyConfirmedThrough([...chain, slot(4, [1, 1_000n, 5])], 3_000n)).toBe(5);
  });

  it("is 0 for a chain without votes", () => {
    expect(optimisticallyConfirmedThrough([slot(2), slot(1)], 1_000n)).toBe(0);
    expect(optimisticallyConfirmedThrough([], 1_000n)).toBe(0);
  });
});
